// `mcckd score` and `mcckd generate`: a student's per-token log-probs and its
// greedy continuation, from a Hugging Face model folder (--student DIR) or a
// saved run (--run DIR, on its base when it fine-tuned one). One JSON object
// on stdout: what tests compare with reference implementations.

import path from 'node:path';
import { parseFlags, positiveInt, str, UsageError, type Flags } from './args';
import { parseBackend, setupBackend } from './setup';
import { Trainer, type PretrainedStudent } from '../core/trainer';
import { scoreIds } from '../core/score';
import { greedyDecode } from '../core/generate';
import { loadRunDir, runBaseFolder } from '../checkpoint/runDir';
import { loadStudent } from '../hf/student';
import { nodeFolder } from '../node/folder';

/** A pretrained student from a folder on disk. */
export async function studentFrom(dir: string): Promise<PretrainedStudent> {
  const resolved = path.resolve(dir);
  return (await loadStudent(nodeFolder(resolved), path.basename(resolved))).student;
}

/** A saved run's model; a run on a pretrained base reads the base from
 * `studentDir`, else from the folder its config.json names. */
export async function restoreRun(runDir: string, studentDir?: string): Promise<Trainer> {
  const state = await loadRunDir(runDir);
  let student: PretrainedStudent | undefined;
  if (state.base) {
    const dir = studentDir ?? (await runBaseFolder(runDir));
    if (!dir) throw new Error(`the run in ${runDir} fine-tunes "${state.base.name}": give its folder with --student DIR`);
    student = await studentFrom(dir);
  }
  // no training data: only the weights are used
  return Trainer.restore(state, [], student);
}

/** The model behind --student DIR or --run DIR, as a (non-training) Trainer. */
async function modelOf(f: Flags): Promise<Trainer> {
  const studentDir = str(f, 'student');
  const runDir = str(f, 'run');
  if (!studentDir && !runDir) throw new UsageError('give --student DIR or --run DIR (with --student DIR for a run whose base folder moved)');
  if (runDir) return restoreRun(runDir, studentDir);
  return Trainer.forInference(await studentFrom(studentDir!));
}

function parseIds(text: string): number[] {
  const ids = text.split(/[\s,]+/).filter(Boolean).map(Number);
  if (ids.some((x) => !Number.isInteger(x) || x < 0)) throw new UsageError(`--ids must be non-negative integers separated by commas, got "${text.slice(0, 60)}"`);
  return ids;
}

const SCORE = { student: 'string', run: 'string', text: 'string', ids: 'string', backend: 'string' } as const;

export async function runScore(argv: string[]): Promise<number> {
  const f = parseFlags(argv, SCORE);
  const text = str(f, 'text');
  const idsFlag = str(f, 'ids');
  if ((text === undefined) === (idsFlag === undefined)) throw new UsageError('give exactly one of --text TEXT and --ids 1,2,3');
  await setupBackend(parseBackend(str(f, 'backend'), 'cpu'));
  const t = await modelOf(f);
  try {
    const ids = idsFlag !== undefined ? parseIds(idsFlag) : t.tokenizer.encode(text!);
    const logprobs = await scoreIds(t.variables as Parameters<typeof scoreIds>[0], t.modelConfig, ids);
    process.stdout.write(`${JSON.stringify({ ids, logprobs })}\n`);
  } finally {
    t.dispose();
  }
  return 0;
}

const GENERATE = { student: 'string', run: 'string', prompt: 'string', 'max-new-tokens': 'number', backend: 'string' } as const;

export async function runGenerate(argv: string[]): Promise<number> {
  const f = parseFlags(argv, GENERATE);
  const prompt = str(f, 'prompt');
  if (prompt === undefined || prompt === '') throw new UsageError('--prompt TEXT is required');
  await setupBackend(parseBackend(str(f, 'backend'), 'cpu'));
  const t = await modelOf(f);
  try {
    const promptIds = t.tokenizer.promptIds(prompt);
    if (promptIds.length === 0) throw new UsageError('--prompt encodes to no token');
    const ids = await greedyDecode(t.variables as Parameters<typeof greedyDecode>[0], t.modelConfig, promptIds.slice(-t.modelConfig.blockSize), {
      maxNewTokens: positiveInt(f, 'max-new-tokens') ?? 32,
      eosId: t.tokenizer.eosId,
    });
    process.stdout.write(`${JSON.stringify({ promptIds, ids, text: t.tokenizer.decode(ids) })}\n`);
  } finally {
    t.dispose();
  }
  return 0;
}
