// Everything the worker holds between calls: the curated data, the optional
// evaluation set, the backend, and the live model (the trainer, which keeps
// the run's metrics, and the stored run it writes to). The page only ever
// sees plain views of these.

import type { TensorMap } from '../core/state';
import { curatedJsonl } from '../data/curated';
import type { HfFolder } from '../hf/folder';
import { backendLost, resetBackend, setBackend } from '../core/backend';
import type { BackendName, LoraConfig, TrainConfig } from '../core/config';
import { fingerprintGroups } from '../core/fingerprint';
import { Trainer, type PretrainedStudent } from '../core/trainer';
import { readEvalFile, readTeacherFile } from '../data';
import type { EvalItem, QuestionGroup, TaskType } from '../data/types';
import { StoreHandle, type RunRecorder } from './checkpoints';
import { errMsg, Lock } from './control';
import { WorkerMachine } from './state';
import type {
  AccuracyPoint,
  BackendInfo,
  DataSource,
  DataSummary,
  EvalDataSummary,
  LoadProgress,
  DataReport,
  RunLabel,
  StudentSummary,
} from '../worker/protocol';
import { iterateStream, openSource } from './streams';

export interface TeacherData {
  source: DataSource;
  name: string;
  bytes: number;
  groups: QuestionGroup[];
  dev: EvalItem[];
  taskType: TaskType;
  report: DataReport;
  fingerprint: string;
  curatedWith: { k: number; seed: number };
}

export interface EvalData {
  name: string;
  bytes: number;
  items: EvalItem[];
  taskType: TaskType;
  report: DataReport;
}

/** The model in memory and what belongs to it. */
export interface Live {
  label: RunLabel;
  trainer: Trainer;
  groups: QuestionGroup[];
  fingerprint: string;
  recorder?: RunRecorder;
  /** The pretrained base the model was built on (to rebuild it on another backend). */
  student?: PretrainedStudent;
  /** Accuracy checks made while training this model (memory only). */
  accuracy?: AccuracyPoint[];
}

/** The pretrained student picked in the page and its LoRA setting (null:
 * every weight trains). Without one, runs train a student from scratch. */
export interface ChosenStudent {
  student: PretrainedStudent;
  /** The folder as read (its config.json, tokenizer files, dtypes): exports write them back. */
  folder: HfFolder;
  summary: StudentSummary;
  lora: LoraConfig | null;
  /** A PEFT adapter to start the LoRA from (continue training it) instead
   * of PEFT's init; `lora` is then its setting. */
  adapter?: { name: string; lora: LoraConfig; weights: TensorMap };
}

/** Everything the worker holds between calls. One is created by the worker's
 * entry (worker.ts createApi) and handed to every function that reads or
 * changes it: no module keeps state of its own, so a test makes a fresh one
 * and two sessions never share anything. */
export class Session {
  data?: TeacherData;
  student?: ChosenStudent;
  evalData?: EvalData;
  backend?: BackendInfo;
  live?: Live;
  /** What the worker is doing: idle, a run (with its RunControl), paused,
   * evaluating (src/worker/state.ts). */
  readonly machine = new WorkerMachine();
  readonly gpu = new Lock();
  /** Backend switches, one at a time. The page sets one up at start-up and
   * the user may pick another a moment later; two overlapping
   * tf.setBackend calls once left tfjs on webgpu while we recorded cpu, and
   * the first training step failed ("Cannot read properties of undefined
   * (reading 'get')"). */
  readonly backendLock = new Lock();
  /** The stored runs and checkpoints (IndexedDB), opened on first use. */
  readonly store = new StoreHandle();
}

/** Progress callbacks at most every 100 ms: a big file has many chunks. */
function throttled(fn: ((p: LoadProgress) => void) | undefined, total: number): (bytes: number) => void {
  let last = 0;
  return (bytes) => {
    const now = performance.now();
    if (!fn || (now - last < 100 && bytes < total)) return;
    last = now;
    try {
      void Promise.resolve(fn({ bytes, total })).catch(() => undefined);
    } catch {
      // page gone
    }
  };
}

/** A question that shows curation at its best: the most rationales kept. */
function sampleGroup(groups: QuestionGroup[]): QuestionGroup | undefined {
  let best: QuestionGroup | undefined;
  for (const g of groups) if (!best || g.rationales.length > best.rationales.length) best = g;
  return best;
}

export function summarizeData(d: TeacherData): DataSummary {
  return {
    name: d.name,
    bytes: d.bytes,
    taskType: d.taskType,
    report: d.report,
    groups: d.groups.length,
    dev: d.dev.length,
    fingerprint: d.fingerprint,
    sample: sampleGroup(d.groups),
  };
}

export async function readTeacher(
  source: DataSource,
  curation: { k: number; seed: number },
  onProgress?: (p: LoadProgress) => void,
): Promise<TeacherData> {
  const opened = await openSource(source, 'train.jsonl');
  const progress = throttled(onProgress, opened.bytes);
  const r = await readTeacherFile(iterateStream(opened.stream), { k: curation.k, seed: curation.seed, onProgress: progress });
  progress(opened.bytes);
  return {
    source,
    name: opened.name,
    bytes: opened.bytes,
    groups: r.groups,
    dev: r.dev,
    taskType: r.taskType,
    report: r.report,
    fingerprint: fingerprintGroups(r.groups),
    curatedWith: { ...curation },
  };
}

/** The loaded data's curated set as JSON Lines (src/data/curated.ts): a
 * second read without a dev split gives the dev questions' rationales (the
 * first read keeps only their gold), curated the same way, in the same order. */
export async function curatedDownload(session: Session): Promise<{ fileName: string; bytes: Uint8Array }> {
  const d = session.data;
  if (!d) throw new Error('load a teacher file (or the demo data) first');
  const opened = await openSource(d.source, 'train.jsonl');
  const all = await readTeacherFile(iterateStream(opened.stream), { ...d.curatedWith, devFraction: 0 });
  const bytes = new TextEncoder().encode(curatedJsonl({ groups: all.groups, dev: d.dev, taskType: d.taskType }));
  const stem = d.name.replace(/\.(jsonl?|json\.gz|jsonl\.gz|gz)$/i, '').replace(/[^\w.-]+/g, '_') || 'teacher';
  return { fileName: `${stem}-curated-k${d.curatedWith.k}.jsonl`, bytes };
}

export async function readEval(
  source: DataSource,
  taskType: TaskType | undefined,
  onProgress?: (p: LoadProgress) => void,
): Promise<EvalData> {
  const opened = await openSource(source, 'test.jsonl');
  const progress = throttled(onProgress, opened.bytes);
  const r = await readEvalFile(iterateStream(opened.stream), { ...(taskType ? { taskType } : {}), onProgress: progress });
  progress(opened.bytes);
  return { name: opened.name, bytes: opened.bytes, items: r.items, taskType: r.taskType, report: r.report };
}

export function summarizeEval(e: EvalData): EvalDataSummary {
  return { name: e.name, bytes: e.bytes, taskType: e.taskType, report: e.report, items: e.items.length };
}

/** The loaded data, curated with the run's K and seed (curation keeps K
 * rationales chosen with the seed, so other values mean re-reading). */
export async function dataFor(session: Session, config: Pick<TrainConfig, 'k' | 'seed'>): Promise<TeacherData> {
  const d = session.data;
  if (!d) throw new Error('load a teacher file (or the demo data) first');
  if (d.curatedWith.k === config.k && d.curatedWith.seed === config.seed) return d;
  session.data = await readTeacher(d.source, { k: config.k, seed: config.seed });
  return session.data;
}

/** The uploaded file `d` was read from, when it is the data with this
 * fingerprint: what a new stored run keeps (the demo data needs no keeping). */
export function uploadedFile(d: TeacherData | undefined, fingerprint: string): File | undefined {
  return d?.fingerprint === fingerprint && d.source.kind === 'file' ? d.source.file : undefined;
}

/** The backend a run asks for (core/backend.ts: fallbacks, WebGPU settings);
 * switching disposes nothing by itself, so the callers dispose (or migrate)
 * the live model first. */
export function ensureBackend(session: Session, name: BackendName): Promise<BackendInfo> {
  return session.backendLock.run(async () => {
    // a backend whose GPU was lost since is set up again (setBackend knows)
    if (serves(session.backend, name) && !backendLost(session.backend.backend)) return session.backend;
    session.backend = await setBackend(name);
    return session.backend;
  });
}

/** Whether the backend set up is what asking for `name` gives (itself, or
 * the fallback it got last time). */
function serves(b: BackendInfo | undefined, name: BackendName): b is BackendInfo {
  return !!b && (b.backend === name || b.fellBackFrom === name);
}

/** The user's switch: the model in memory, if any, moves to the new backend
 * (under the GPU lock: evaluation and saving use it too); if it can't, it
 * goes back where it was and the switch fails. `restart`: the backend that
 * serves `name` is set up afresh even when it is the one in use (a setting
 * read at its set-up changed: the wasm thread count), the model moving
 * through a snapshot as in a switch. */
export function switchBackend(session: Session, name: BackendName, o: { restart?: string } = {}): Promise<BackendInfo> {
  return session.backendLock.run(async () => {
    const live = session.live;
    // a restart removes the old backend only after the model has left it
    const setUp = (to: BackendName): Promise<BackendInfo> => {
      if (o.restart && to === name) resetBackend(o.restart);
      return setBackend(to);
    };
    if (live && backendLost()) {
      // the model died with its device: there is nothing to move (Resume
      // reloads it from its last checkpoint)
      disposeLive(session);
      session.backend = await setUp(name);
      return session.backend;
    }
    if (!live) {
      session.backend = await setUp(name);
      return session.backend;
    }
    if (!o.restart && serves(session.backend, name)) return session.backend;
    return session.gpu.run(async () => {
      const state = await live.trainer.snapshot();
      const before = live.trainer.trainConfig.backend;
      // the model moves; its stored run (and that run's lock) stays with it
      live.trainer.dispose();
      session.live = undefined;
      const moveTo = async (to: BackendName): Promise<BackendInfo> => {
        const report = await setUp(to);
        session.backend = report;
        session.live = {
          ...live,
          // the base moves in float32, which every backend holds (a packed
          // f16 / int8 one needs WebGPU); a new run or a resume packs it again
          trainer: await Trainer.restore({ ...state, trainConfig: { ...state.trainConfig, backend: to } }, live.groups, live.student),
        };
        return report;
      };
      try {
        return await moveTo(name);
      } catch (e) {
        await moveTo(before).catch((again: unknown) => {
          throw new Error(
            `${errMsg(e)}; moving the model back to ${before} failed too (${errMsg(again)}): resume it from its last checkpoint`,
          );
        });
        throw e;
      }
    });
  });
}

/** Waits for the backend switches asked for so far. A switch may be moving
 * the model in memory to another backend: whatever uses the model (a run,
 * an evaluation, a save) reads session.live only after this. */
export function settledBackend(session: Session): Promise<void> {
  return session.backendLock.run(async () => undefined);
}

export function assertIdle(session: Session, what: string): void {
  session.machine.assertIdle(what);
}

/** Frees the model in memory and lets other tabs have its stored run. */
export function disposeLive(session: Session): void {
  session.live?.trainer.dispose();
  session.live?.recorder?.close();
  session.live = undefined;
}
