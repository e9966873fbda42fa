// CLI run directories (Node only; the browser uses store.ts):
//   DIR/checkpoint.safetensors  the TrainState (source of truth)
//   DIR/metrics.jsonl           one MetricPoint per line
//   DIR/config.json             a readable copy of the configs; read back only for
//                               hints (the base folder, the data facts of a model card)
//   DIR/eval.json               the last evaluation (mcckd train), for model cards;
//                               it names the checkpoint it measured (step and
//                               checksum) and is ignored once that is replaced
//   DIR/train.lock              while a train process saves here (runLock.ts)
// Every file is written to a temporary name, flushed and renamed over the old
// one, so a crash or a full disk leaves the previous save intact.

import { constants } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { MetricPoint, TrainState } from '../core/state';
import { countParams, countTrainable } from '../core/config';
import { encodeCheckpoint, safetensorsToState } from './format';
import type { RunFacts } from './schema';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
const METRICS_FILE = 'metrics.jsonl';
const CONFIG_FILE = 'config.json';
export const EVAL_FILE = 'eval.json';

export class RunDirError extends Error {
  override readonly name = 'RunDirError';
}

/** Writes `file` whole or not at all: a temporary name, flushed, then renamed. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync(); // the bytes must be on disk before the rename makes them current
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOSPC' ? 'the disk is full' : err.message;
    throw new RunDirError(`could not write ${file}: ${why} (the previous version, if any, is unchanged)`);
  }
}

/** Best effort: makes the renames themselves durable on Linux/macOS. */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not supported everywhere (e.g. Windows); the data files are synced already.
  }
}

/** A file of a run directory, read whole; undefined when it is missing. A
 * FIFO or a device is refused, not waited on: the open does not block
 * (O_NONBLOCK) and the handle's own stat decides, so no swap in between
 * counts. */
async function readRunFile(file: string): Promise<Buffer | undefined> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RunDirError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    if (!(await fh.stat()).isFile()) throw new RunDirError(`${file} is not a regular file`);
    return await fh.readFile();
  } catch (e) {
    if (e instanceof RunDirError) throw e;
    throw new RunDirError(`cannot read ${file}: ${(e as Error).message}`);
  } finally {
    await fh.close();
  }
}

const metricLine = (m: MetricPoint): string =>
  JSON.stringify({ step: m.step, loss: m.loss, ce: m.ce, kl: m.kl, lr: m.lr, tokensPerSecond: m.tokensPerSecond, time: m.time });

/** Which checkpoint a file of the run belongs to: its step and the checksum
 * over its tensors (the same step of a new run has other weights). */
export interface CheckpointId {
  step: number;
  checksum: string;
}

export interface SavedCheckpoint extends CheckpointId {
  checkpointPath: string;
  bytes: number;
}

/** Options of saveRunDir. `baseFolder`: where the pretrained base of the run
 * was read from, written to config.json so that resuming and evaluating find
 * it again without --student (the checkpoint's fingerprint still decides). */
interface SaveRunDirOptions {
  weightsOnly?: boolean;
  /** The metrics go into the checkpoint too (`mcckd import`: the page's
   * Import reads that one file; see metricsMeta.ts). */
  embedMetrics?: boolean;
  baseFolder?: string;
  /** The teacher file and what curation kept of it, for model cards. */
  data?: RunFacts['data'];
}

export async function saveRunDir(dir: string, state: TrainState, opts: SaveRunDirOptions = {}): Promise<SavedCheckpoint> {
  const { bytes: file, checksum } = encodeCheckpoint(state, { weightsOnly: opts.weightsOnly, metrics: opts.embedMetrics });
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new RunDirError(`cannot create run directory ${dir}: ${(e as Error).message}`);
  }
  const checkpointPath = path.join(dir, CHECKPOINT_FILE);
  // Checkpoint first: if a later write fails, the metrics lag behind the
  // checkpoint (loadRunDir copes) but the weights are never older than the log.
  await writeFileAtomic(checkpointPath, file);
  await writeFileAtomic(path.join(dir, METRICS_FILE), state.metrics.map((m) => `${metricLine(m)}\n`).join(''));
  const readable = {
    format: state.format,
    step: state.step,
    savedAt: new Date().toISOString(),
    parameters: countParams(state.modelConfig),
    trainable: countTrainable(state.modelConfig),
    ...(state.base ? { base: { ...state.base, ...(opts.baseFolder ? { folder: opts.baseFolder } : {}) } } : {}),
    modelConfig: state.modelConfig,
    trainConfig: state.trainConfig,
    datasetFingerprint: state.datasetFingerprint,
    ...(opts.data ? { data: opts.data } : {}),
    checkpoint: { file: CHECKPOINT_FILE, bytes: file.length, weightsOnly: !!opts.weightsOnly },
  };
  await writeFileAtomic(path.join(dir, CONFIG_FILE), `${JSON.stringify(readable, null, 2)}\n`);
  await syncDir(dir);
  return { checkpointPath, bytes: file.length, step: state.step, checksum };
}

/** Writes DIR/eval.json for the checkpoint `of` (the one just evaluated). */
export async function saveRunEval(dir: string, evaluation: object, of: CheckpointId): Promise<void> {
  const checkpoint = { file: CHECKPOINT_FILE, step: of.step, checksum: of.checksum };
  await writeFileAtomic(path.join(dir, EVAL_FILE), JSON.stringify({ ...evaluation, checkpoint }, null, 1));
  await syncDir(dir);
}

const METRIC_KEYS = ['loss', 'ce', 'kl', 'lr', 'tokensPerSecond', 'time'] as const;

/** Parses metrics.jsonl, keeping every good line; bad lines are reported
 * through `warn` with their line number. */
export function parseMetricsJsonl(text: string, warn: (msg: string) => void, file = METRICS_FILE): MetricPoint[] {
  const out: MetricPoint[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      warn(`${file} line ${i + 1}: not valid JSON (${(e as Error).message}); line skipped`);
      return;
    }
    const r = o as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || !Number.isSafeInteger(r.step)) {
      warn(`${file} line ${i + 1}: expected an object with an integer "step"; line skipped`);
      return;
    }
    const p = { step: r.step as number } as MetricPoint;
    for (const k of METRIC_KEYS) {
      // JSON writes NaN (a diverged loss) as null: read it back as NaN.
      const val = r[k];
      if (typeof val === 'number') p[k] = val;
      else if (val === null) p[k] = NaN;
      else {
        warn(`${file} line ${i + 1}: "${k}" must be a number; line skipped`);
        return;
      }
    }
    out.push(p);
  });
  return out;
}

interface LoadRunDirOptions {
  /** Problems that lose no weights (bad metric lines); default: console.warn. */
  onWarning?: (msg: string) => void;
}

export async function loadRunDir(dir: string, opts: LoadRunDirOptions = {}): Promise<TrainState> {
  return (await loadRun(dir, opts)).state;
}

/** As loadRunDir, also naming the checkpoint read (for runFacts). */
export async function loadRun(dir: string, opts: LoadRunDirOptions = {}): Promise<{ state: TrainState; checkpoint: CheckpointId }> {
  const warn = opts.onWarning ?? ((msg: string) => console.warn(`warning: ${msg}`));
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new RunDirError(`${dir} is not a directory (expected a run directory)`);
  } catch (e) {
    if (e instanceof RunDirError) throw e;
    throw new RunDirError(`run directory ${dir} does not exist`);
  }
  const ckptPath = path.join(dir, CHECKPOINT_FILE);
  const bytes = await readRunFile(ckptPath);
  if (!bytes) throw new RunDirError(`${dir} has no ${CHECKPOINT_FILE}: not a run directory, or the run was never saved`);
  let state: TrainState;
  let checksum: string;
  try {
    ({ state, checksum } = safetensorsToState(bytes));
  } catch (e) {
    throw new RunDirError(`${ckptPath} is damaged: ${(e as Error).message}`);
  }
  let text = '';
  try {
    const got = await readRunFile(path.join(dir, METRICS_FILE));
    if (got) text = got.toString('utf8');
    else warn(`${dir} has no ${METRICS_FILE}; the run's loss history is empty`);
  } catch (e) {
    // the loss history is not the weights: the run loads without it
    warn(`${(e as Error).message}; the run's loss history is empty`);
  }
  const metrics = parseMetricsJsonl(text, warn, path.join(dir, METRICS_FILE));
  // Points after the checkpoint's step belong to work that was not saved.
  state.metrics = metrics.filter((m) => m.step <= state.step);
  return { state, checkpoint: { step: state.step, checksum } };
}

/** The base folder a run on a pretrained model was trained from, as its
 * config.json recorded it (a hint for people and for resuming; the
 * checkpoint's fingerprint decides whether the folder is the right one). */
export async function runBaseFolder(dir: string): Promise<string | undefined> {
  try {
    const j = JSON.parse((await readRunFile(path.join(dir, CONFIG_FILE)))?.toString('utf8') ?? '') as { base?: { folder?: unknown } };
    return typeof j.base?.folder === 'string' ? j.base.folder : undefined;
  } catch {
    return undefined;
  }
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** What a model card says about a run beyond its checkpoint: the data facts
 * config.json recorded and the accuracy eval.json holds when it measured
 * `checkpoint` (the one exported). Missing, malformed or stale parts are
 * left out (the checkpoint is what matters). */
export async function runFacts(dir: string, checkpoint: CheckpointId): Promise<RunFacts> {
  const facts: RunFacts = { name: path.basename(path.resolve(dir)) };
  const json = async (file: string): Promise<Record<string, unknown> | undefined> => {
    try {
      const j = JSON.parse((await readRunFile(path.join(dir, file)))?.toString('utf8') ?? '') as unknown;
      return typeof j === 'object' && j !== null && !Array.isArray(j) ? (j as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const d = (await json(CONFIG_FILE))?.data as Record<string, unknown> | undefined;
  if (d && typeof d.file === 'string' && isCount(d.questions) && isCount(d.rationales)) {
    facts.data = { file: d.file, questions: d.questions, rationales: d.rationales };
    if (isCount(d.trainQuestions)) facts.data.trainQuestions = d.trainQuestions;
    if (isCount(d.devQuestions)) facts.data.devQuestions = d.devQuestions;
  }
  const e = await json(EVAL_FILE);
  const of = e?.checkpoint as Record<string, unknown> | undefined;
  const measured = of?.step === checkpoint.step && of?.checksum === checkpoint.checksum;
  if (e && measured && typeof e.accuracy === 'number' && isCount(e.correct) && isCount(e.total)) {
    facts.evaluation = {
      accuracy: e.accuracy,
      correct: e.correct,
      total: e.total,
      ...(typeof e.file === 'string' ? { file: e.file } : {}),
    };
  }
  return facts;
}
