// `mcckd score` and `mcckd generate`: a student's per-token log-probs and its
// greedy continuation, from a Hugging Face model folder (--student DIR) or a
// saved run (--run DIR, on its base when it fine-tuned one), with a PEFT
// adapter on the folder (--adapter DIR). One JSON object on stdout: what
// tests compare with reference implementations.

import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, positiveInt, str, UsageError } from './args';
import { GENERATE_FLAGS, SCORE_FLAGS } from './flags';
import { parseBackend, setupBackend } from './setup';
import { baseDtypeOf } from './base-dtype';
import { adapterState } from '../core/trainer';
import { StudentModel, type BaseStorage, type PretrainedStudent } from '../core/inference';
import { scoreIds } from '../core/score';
import { greedyDecode } from '../core/generate';
import { DEFAULT_TRAIN, type LoraConfig } from '../core/config';
import type { TensorMap } from '../core/state';
import { loadRunDir, runBaseFolder } from '../checkpoint/runDir';
import { HfConfigError } from '../hf/config';
import { readPeftAdapter } from '../hf/peft';
import { loadStudent } from '../hf/student';
import { nodeFolder } from '../node/folder';

/** What a path that is neither a folder nor a regular file is, for refusals. */
function specialKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Refuses, by what it is, a path that cannot be a model folder: a missing
 * path, a file (a GGUF export, a lone .safetensors), a FIFO or device, an
 * adapter folder. */
async function checkFolder(dir: string, flag: string, want: 'model' | 'adapter'): Promise<void> {
  let st: Stats;
  try {
    st = await stat(dir);
  } catch {
    throw new UsageError(`${flag} ${dir}: no such folder`);
  }
  const need =
    want === 'model'
      ? 'a Hugging Face model folder (config.json, model.safetensors, tokenizer.json), as mcckd export --format hf writes'
      : 'a PEFT adapter folder (adapter_config.json, adapter_model.safetensors)';
  // a FIFO, socket or device is never opened: opening a FIFO blocks until a writer comes
  if (!st.isDirectory() && !st.isFile()) throw new HfConfigError(`${flag} ${dir} is ${specialKind(st)}, not a folder: give ${need}`);
  if (st.isFile()) {
    const head = new Uint8Array(4);
    // non-blocking: were it swapped for a FIFO since the stat, the open still returns
    const fh = await open(dir, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      await fh.read(head, 0, 4, 0);
    } finally {
      await fh.close();
    }
    const gguf = new TextDecoder().decode(head) === 'GGUF';
    const what = gguf ? 'a GGUF file (for llama.cpp), not a model folder' : 'a file, not a folder';
    throw new HfConfigError(`${flag} ${dir} is ${what}: give ${need}`);
  }
  const src = nodeFolder(dir);
  if (want === 'model' && !src.has('config.json') && src.has('adapter_config.json')) {
    throw new HfConfigError(
      `${flag} ${dir} is a PEFT adapter, not a model folder: give its base with --student and the adapter with --adapter`,
    );
  }
}

/** A model folder on disk read as a student, with the folder as read (an
 * export needs its config and tokenizer files). `flag` names where the path
 * came from in refusals. */
export async function studentFolder(dir: string, flag = '--student'): Promise<Awaited<ReturnType<typeof loadStudent>>> {
  const resolved = path.resolve(dir);
  await checkFolder(resolved, flag, 'model');
  return loadStudent(nodeFolder(resolved), path.basename(resolved));
}

/** A pretrained student from a folder on disk. */
export async function studentFrom(dir: string, flag = '--student'): Promise<PretrainedStudent> {
  return (await studentFolder(dir, flag)).student;
}

/** A PEFT adapter folder read for `student` (refused when made for another base). */
export async function adapterFrom(dir: string, student: PretrainedStudent): Promise<{ lora: LoraConfig; weights: TensorMap }> {
  const resolved = path.resolve(dir);
  await checkFolder(resolved, '--adapter', 'adapter');
  try {
    return await readPeftAdapter(nodeFolder(resolved), student.modelConfig, student.base);
  } catch (e) {
    // name the folder: its files' names alone do not say which adapter
    if (e instanceof HfConfigError) throw new HfConfigError(`--adapter ${resolved}: ${e.message}`);
    throw e;
  }
}

/** Says on stderr what a frozen base's numbers are computed with (f16 by
 * default on webgpu). */
function noteBaseDtype(o: BaseStorage): void {
  if (o.baseDtype && o.baseDtype !== 'f32') process.stderr.write(`frozen base: ${o.baseDtype} projections (--base-dtype)\n`);
}

/** A saved run's model; a run on a pretrained base reads the base from
 * `studentDir`, else from the folder its config.json names. */
export async function restoreRun(runDir: string, studentDir?: string, o: BaseStorage = {}): Promise<StudentModel> {
  const state = await loadRunDir(runDir);
  let student: PretrainedStudent | undefined;
  if (state.base) {
    const dir = studentDir ?? (await runBaseFolder(runDir));
    if (!dir) throw new Error(`the run in ${runDir} fine-tunes "${state.base.name}": give its folder with --student DIR`);
    student = await studentFrom(dir, studentDir ? '--student' : `the base folder that ${path.join(runDir, 'config.json')} names,`);
    if (state.modelConfig.lora) noteBaseDtype(o);
  }
  return StudentModel.fromState(state, student, o);
}

/** The model behind --student DIR [--adapter DIR] or --run DIR, its frozen
 * base held as `o` says. */
async function modelOf(f: { student?: string; run?: string; adapter?: string }, o: BaseStorage): Promise<StudentModel> {
  const { student: studentDir, run: runDir, adapter: adapterDir } = f;
  if (!studentDir && !runDir)
    throw new UsageError('give --student DIR or --run DIR (with --student DIR for a run whose base folder moved)');
  if (adapterDir && runDir) throw new UsageError('--adapter goes with --student DIR (its base), not with --run');
  if (runDir) return restoreRun(runDir, studentDir, o);
  const student = await studentFrom(studentDir!);
  noteBaseDtype(o);
  if (!adapterDir) return StudentModel.fromStudent(student, o);
  const adapter = await adapterFrom(adapterDir, student);
  return StudentModel.fromState(adapterState(student, adapter, { ...DEFAULT_TRAIN, steps: 0 }), student, o);
}

function parseIds(text: string): number[] {
  const ids = text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  if (ids.some((x) => !Number.isInteger(x) || x < 0))
    throw new UsageError(`--ids must be non-negative integers separated by commas, got "${text.slice(0, 60)}"`);
  return ids;
}

export async function runScore(argv: string[]): Promise<number> {
  const f = parseFlags(argv, SCORE_FLAGS);
  const text = str(f, 'text');
  const idsFlag = str(f, 'ids');
  if ((text === undefined) === (idsFlag === undefined)) throw new UsageError('give exactly one of --text TEXT and --ids 1,2,3');
  const backend = await setupBackend(parseBackend(str(f, 'backend'), 'cpu'));
  const t = await modelOf(f, { baseDtype: baseDtypeOf(str(f, 'base-dtype'), backend.backend) });
  try {
    const ids = idsFlag !== undefined ? parseIds(idsFlag) : t.tokenizer.encode(text!);
    const logprobs = await scoreIds(t.variables as Parameters<typeof scoreIds>[0], t.modelConfig, ids);
    process.stdout.write(`${JSON.stringify({ ids, logprobs })}\n`);
  } finally {
    t.dispose();
  }
  return 0;
}

export async function runGenerate(argv: string[]): Promise<number> {
  const f = parseFlags(argv, GENERATE_FLAGS);
  const prompt = str(f, 'prompt');
  if (prompt === undefined || prompt === '') throw new UsageError('--prompt TEXT is required');
  const backend = await setupBackend(parseBackend(str(f, 'backend'), 'cpu'));
  const t = await modelOf(f, { baseDtype: baseDtypeOf(str(f, 'base-dtype'), backend.backend) });
  try {
    const promptIds = t.tokenizer.promptIds(prompt);
    if (promptIds.length === 0) throw new UsageError('--prompt encodes to no token');
    const ids = await greedyDecode(
      t.variables as Parameters<typeof greedyDecode>[0],
      t.modelConfig,
      promptIds.slice(-t.modelConfig.blockSize),
      {
        maxNewTokens: positiveInt(f, 'max-new-tokens') ?? 32,
        eosId: t.tokenizer.eosId,
      },
    );
    process.stdout.write(`${JSON.stringify({ promptIds, ids, text: t.tokenizer.decode(ids) })}\n`);
  } finally {
    t.dispose();
  }
  return 0;
}
