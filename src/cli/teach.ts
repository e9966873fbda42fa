// `mcckd teach --questions FILE (--endpoint URL --model NAME | --gguf FILE)
// --samples K --out FILE [--resume] [--reask]`: asks the teacher K rationales
// per question (src/teach/run.ts), keeps each one in OUT.samples.jsonl the
// moment it arrives, then writes the native teacher JSONL to --out and
// prints the curation report. Ctrl-C aborts the requests in flight, keeps
// what arrived and exits 130; --resume asks only what is missing.

import { createReadStream, existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readEvalFile } from '../data/index';
import { openGgufTeacher } from '../node/gguf-teacher';
import { JsonlSampleStore, samplesPathOf } from '../node/sample-file';
import { EndpointTeacher, listModels } from '../teach/endpoint';
import { presetTemplate, renderPrompt } from '../teach/prompt';
import { nativeJsonl } from '../teach/records';
import { reportTable, teachReport } from '../teach/report';
import { teach } from '../teach/run';
import { TEACH_DEFAULTS, type TeachProgress, type TeachQuestion, type TeachSettings, type Teacher, TeachError } from '../teach/types';
import { type Flags, num, parseFlags, positiveInt, str, taskType, UsageError } from './args';
import { TEACH_FLAGS } from './flags';

export type TeachFlags = Flags<typeof TEACH_FLAGS>;

const DEMO_QUESTIONS = fileURLToPath(new URL('../../public/demo/train.jsonl', import.meta.url));

/** --gguf FILE [--threads N]: llama.cpp in this process (src/node/gguf-teacher.ts). */
export async function ggufTeacher(flags: TeachFlags): Promise<Teacher> {
  const threads = positiveInt(flags, 'threads') ?? Math.min(8, availableParallelism());
  return openGgufTeacher(str(flags, 'gguf') as string, { threads });
}

/** --endpoint URL --model NAME [--api] [--api-key-env VAR]. */
export function endpointTeacher(flags: TeachFlags): EndpointTeacher {
  const baseUrl = str(flags, 'endpoint') as string;
  const model = str(flags, 'model');
  if (!model) throw new UsageError('--endpoint needs --model NAME (the name the server serves, e.g. qwen2.5:7b)');
  const api = str(flags, 'api') ?? 'chat';
  if (api !== 'chat' && api !== 'completions') throw new UsageError(`--api must be chat or completions, got "${api}"`);
  const keyVar = str(flags, 'api-key-env');
  let apiKey: string | undefined;
  if (keyVar !== undefined) {
    apiKey = process.env[keyVar];
    if (!apiKey) throw new UsageError(`--api-key-env ${keyVar}: the environment variable ${keyVar} is not set`);
  }
  try {
    return new EndpointTeacher({ baseUrl, model, api, apiKey });
  } catch (e) {
    throw new UsageError(`--endpoint: ${(e as Error).message}`);
  }
}

function settingsOf(flags: TeachFlags): Omit<TeachSettings, 'template' | 'taskType'> {
  const d = TEACH_DEFAULTS;
  const temperature = num(flags, 'temperature') ?? d.temperature;
  const topP = num(flags, 'top-p') ?? d.topP;
  const seed = num(flags, 'seed') ?? d.seed;
  const retries = num(flags, 'retries') ?? d.retries;
  const timeout = num(flags, 'timeout') ?? d.timeoutMs / 1000;
  if (!(temperature >= 0 && temperature <= 2)) throw new UsageError(`--temperature must be in [0, 2], got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got ${seed}`);
  if (!Number.isInteger(retries) || retries < 0) throw new UsageError(`--retries must be a non-negative integer, got ${retries}`);
  if (!(timeout > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got ${timeout}`);
  return {
    samples: positiveInt(flags, 'samples') ?? d.samples,
    temperature,
    topP,
    maxTokens: positiveInt(flags, 'max-tokens') ?? d.maxTokens,
    seed,
    concurrency: positiveInt(flags, 'concurrency') ?? d.concurrency,
    retries,
    timeoutMs: timeout * 1000,
  };
}

async function readQuestions(flags: TeachFlags): Promise<{ questions: TeachQuestion[]; taskType: TeachSettings['taskType'] }> {
  const arg = str(flags, 'questions') as string;
  const file = arg === 'demo' ? DEMO_QUESTIONS : arg;
  if (!existsSync(file)) throw new UsageError(`--questions ${arg}: no such file`);
  const read = await readEvalFile(createReadStream(file), { taskType: taskType(flags) });
  const questions = read.items.map((it) => {
    const q: TeachQuestion = { id: it.id, question: it.question, answer: it.answer };
    if (it.choices) q.choices = it.choices;
    return q;
  });
  return { questions, taskType: read.taskType };
}

async function templateOf(flags: TeachFlags, type: NonNullable<TeachSettings['taskType']>): Promise<string> {
  const file = str(flags, 'template');
  const preset = str(flags, 'template-preset');
  if (file !== undefined && preset !== undefined) throw new UsageError('give --template FILE or --template-preset NAME, not both');
  if (file !== undefined) {
    const t = await readFile(file, 'utf8').catch(() => {
      throw new UsageError(`--template ${file}: cannot read the file`);
    });
    try {
      renderPrompt(t, { id: 'check', question: 'check', answer: '1' });
    } catch (e) {
      throw new UsageError(`--template ${file}: ${(e as Error).message}`);
    }
    return t;
  }
  try {
    return presetTemplate(preset ?? 'few-shot', type);
  } catch (e) {
    throw new UsageError(`--template-preset: ${(e as Error).message}`);
  }
}

const fmtProgress = (p: TeachProgress): string => {
  const eta = p.etaSeconds === null ? '?' : `${Math.round(p.etaSeconds)} s`;
  const err = p.lastError ? `; last error: ${p.lastError.message}` : '';
  return `teach: ${p.done}/${p.total} samples, ${p.failed} failed, ${p.inFlight} in flight, ${p.tokensPerSecond.toFixed(1)} tok/s, ETA ${eta}${err}`;
};

export async function runTeach(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, TEACH_FLAGS);
  if (!str(flags, 'questions')) throw new UsageError('teach needs --questions FILE (or --questions demo)');
  const out = str(flags, 'out');
  if (!out) throw new UsageError('teach needs --out FILE');
  const hasEndpoint = str(flags, 'endpoint') !== undefined;
  const hasGguf = str(flags, 'gguf') !== undefined;
  if (hasEndpoint === hasGguf) throw new UsageError('give one teacher: --endpoint URL --model NAME, or --gguf FILE');
  if (hasGguf && (str(flags, 'model') || str(flags, 'api') || str(flags, 'api-key-env')))
    throw new UsageError('--model, --api and --api-key-env go with --endpoint, not --gguf');
  if (hasEndpoint && flags.threads !== undefined) throw new UsageError('--threads goes with --gguf, not --endpoint');
  const s = settingsOf(flags);
  const k = positiveInt(flags, 'k');
  const resume = flags.resume === true || flags.reask === true;
  const samplesPath = samplesPathOf(out);
  if (!resume) {
    if (existsSync(samplesPath))
      throw new UsageError(`${samplesPath} exists (an earlier teach run): add --resume to continue it, or remove it to start over`);
    if (existsSync(out)) throw new UsageError(`--out ${out} exists: choose another name or remove it`);
  } else if (!existsSync(samplesPath)) {
    throw new UsageError(
      `--${flags.reask ? 'reask' : 'resume'}: ${samplesPath} does not exist; nothing to continue (run without it first)`,
    );
  }

  const { questions, taskType: type } = await readQuestions(flags);
  const template = await templateOf(flags, type ?? 'text');
  const teacher: Teacher = hasGguf ? await ggufTeacher(flags) : endpointTeacher(flags);
  if (teacher instanceof EndpointTeacher) await checkModel(flags);

  const store = new JsonlSampleStore(samplesPath, (m) => process.stderr.write(`warning: ${m}\n`));
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\nteach: stopping (Ctrl-C again to quit at once); the samples that arrived are kept\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const settings: TeachSettings = { ...s, template, taskType: type };
  // A resume with other settings mixes two kinds of samples: said once.
  const load = store.load.bind(store);
  store.load = async () => {
    const recs = await load();
    const other = recs.find(
      (r) => r.teacher !== teacher.name || r.temperature !== s.temperature || r.topP !== s.topP || r.maxTokens !== s.maxTokens,
    );
    if (other)
      process.stderr.write(
        `warning: ${samplesPath} holds samples made with other settings (${other.teacher}, temperature ${other.temperature}, top-p ${other.topP}, max tokens ${other.maxTokens}); they are kept\n`,
      );
    return recs;
  };
  let reask: string[] | undefined;
  if (flags.reask) {
    const stored = await store.load();
    reask = teachReport(questions, stored, [], { k, taskType: type }).reask;
    process.stderr.write(`teach: re-asking ${reask.length} questions that kept fewer than 2 rationales\n`);
  }
  let last = 0;
  const resumeCmd = `mcckd ${process.argv
    .slice(2)
    .filter((a) => a !== '--resume' && a !== '--reask')
    .join(' ')} --resume`;
  try {
    const r = await teach({
      questions,
      teacher,
      settings,
      store,
      signal: ac.signal,
      reask,
      onProgress: (p) => {
        const now = Date.now();
        if (now - last < 1000 && p.done + p.failed < p.total) return;
        last = now;
        process.stderr.write(`${fmtProgress(p)}\n`);
      },
      onFailure: (f) => process.stderr.write(`teach: ${f.questionId} sample ${f.sample} failed after ${f.attempts} tries: ${f.message}\n`),
    });
    if (r.cancelled) {
      process.stderr.write(
        `teach: stopped with ${r.progress.done}/${r.progress.total} samples kept in ${samplesPath}; resume with:\n  ${resumeCmd}\n`,
      );
      return 130;
    }
    const report = teachReport(questions, r.records, r.failures, { k, taskType: type });
    const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp`);
    await writeFile(tmp, nativeJsonl(questions, r.records));
    await rename(tmp, out);
    process.stderr.write(`${reportTable(report)}\n`);
    if (report.reask.length > 0)
      process.stderr.write(
        `teach: ${report.reask.length} questions kept fewer than 2 rationales; ask them K more with:\n  ${resumeCmd.replace(/ --resume$/, ' --reask')}\n`,
      );
    const missing = r.progress.total - r.progress.done;
    if (r.stopped) process.stderr.write(`teach: stopped early: ${r.stopped.message}\n`);
    if (missing > 0)
      process.stderr.write(`teach: ${missing} samples missing (${r.failures.length} failed); ask them again with:\n  ${resumeCmd}\n`);
    const result = {
      out,
      samplesFile: samplesPath,
      teacher: teacher.name,
      questions: questions.length,
      samples: r.records.length,
      missing,
      failed: r.failures.length,
      kept: report.totals.kept,
      reask: report.reask,
      report,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return missing > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    await store.close();
    await teacher.close?.();
  }
}

/** Before the run: the server answers and serves --model (when it lists
 * its models; a server without GET /models is asked anyway). */
async function checkModel(flags: TeachFlags): Promise<void> {
  const model = str(flags, 'model') as string;
  const keyVar = str(flags, 'api-key-env');
  let models: string[];
  try {
    models = await listModels(
      { baseUrl: str(flags, 'endpoint') as string, model, apiKey: keyVar ? process.env[keyVar] : undefined },
      AbortSignal.timeout(10_000),
    );
  } catch (e) {
    if (e instanceof TeachError && (e.kind === 'unreachable' || e.kind === 'auth' || e.kind === 'timeout'))
      throw new TeachError(e.kind, `${e.message}${e.hint ? ` (${e.hint})` : ''}`);
    return;
  }
  if (models.length > 0 && !models.includes(model))
    throw new UsageError(`--model ${model}: the server does not serve it; it has: ${models.slice(0, 20).join(', ')}`);
}
