// The worker's side of saved work: one CheckpointStore (IndexedDB, owned by
// src/checkpoint/store) opened lazily, a recorder that writes a live run's
// checkpoints and metrics, and plain views of stored runs for the page.

import { countParams } from '../core/config';
import type { TrainState } from '../core/state';
import {
  CheckpointStore,
  type CheckpointKind,
  type CheckpointMeta,
  type NewRun,
  type RunRecord,
  type RunStatus,
} from '../checkpoint/store';
import type { CheckpointView, RunView, StorageUsage } from './protocol';
import { formatBytes } from '../shared/format';

/** Teacher files up to this size are kept with their runs (IndexedDB). */
const KEEP_FILE_LIMIT = 64 * 1024 * 1024;

/** The worker's connection to the store, opened on first use and kept for
 * the worker's life (a Session holds one; nothing at module level). */
export class StoreHandle {
  private opening: Promise<CheckpointStore> | undefined;
  private closedBecause: string | undefined;

  open(): Promise<CheckpointStore> {
    if (this.closedBecause) return Promise.reject(new Error(`saved data is unavailable: ${this.closedBecause}`));
    this.opening ??= CheckpointStore.open(undefined, {
      onClose: (reason) => {
        this.closedBecause = reason;
      },
    }).catch((e: unknown) => {
      this.opening = undefined; // let a later call try again (e.g. after freeing space)
      throw e;
    });
    return this.opening;
  }
}

export function checkpointView(m: CheckpointMeta): CheckpointView {
  return {
    id: m.id,
    runId: m.runId,
    step: m.step,
    createdAt: m.createdAt,
    bytes: m.bytes,
    kind: m.kind,
    weightsOnly: m.weightsOnly,
    ...(m.accuracy !== undefined ? { accuracy: m.accuracy } : {}),
  };
}

function runView(r: RunRecord, checkpoints: CheckpointMeta[]): RunView {
  const last = r.evaluations[r.evaluations.length - 1];
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    preset: r.trainConfig.preset,
    alpha: r.trainConfig.alpha,
    totalSteps: r.trainConfig.steps,
    params: countParams(r.modelConfig),
    datasetFingerprint: r.datasetFingerprint,
    checkpoints: checkpoints.map(checkpointView),
    ...(last ? { lastAccuracy: last.accuracy } : {}),
    ...(r.modelConfig.lora ? { lora: true } : {}),
  };
}

export async function listRuns(store: CheckpointStore): Promise<RunView[]> {
  const runs = await store.listRuns();
  return Promise.all(runs.map(async (r) => runView(r, await store.listCheckpoints(r.id))));
}

export async function storageUsage(store: CheckpointStore): Promise<StorageUsage> {
  const s = await store.storageInfo();
  return { available: s.available, usage: s.usage, quota: s.quota, persisted: s.persisted, checkpointBytes: s.checkpointBytes };
}

/** Holds a Web Lock named after a stored run while this tab trains it, so
 * that two tabs never write the same run; resolves to the release, or
 * throws when another tab still holds it after `waitMs`. The wait covers
 * this tab's own release, which the lock manager completes a moment later
 * (Resume right after Stop on the same run). Where there is no Web Locks
 * API (Node), nothing is locked. */
export async function lockRun(
  runId: string,
  locks: LockManager | undefined = (globalThis.navigator as Navigator | undefined)?.locks,
  waitMs = 3000,
): Promise<() => void> {
  if (!locks) return () => undefined;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const got = await new Promise<boolean>((resolve, reject) => {
    locks
      .request(`mcckd-run:${runId}`, { signal: AbortSignal.timeout(waitMs) }, async () => {
        resolve(true);
        await held;
      })
      // the wait ran out (a TimeoutError, or AbortError where older)
      .catch((e: unknown) => (e instanceof Error && /^(Timeout|Abort)Error$/.test(e.name) ? resolve(false) : reject(e)));
  });
  if (!got) throw new Error('this run is being trained in another tab or window: stop it there first (or resume it there)');
  return release;
}

/** Writes one live run: checkpoints plus the metric points logged since the
 * previous save, so that the charts come back after a reload. */
export class RunRecorder {
  private flushed = 0; // metrics[0..flushed) are stored
  /** Stored points after this step belong to unsaved work of an earlier
   * session: dropped at the first save (not before: a resume that fails
   * must not cost the history). */
  private truncateAfter: number | undefined;
  /** The newest checkpoint this recorder saved (an evaluation of the model
   * at that step is recorded on it). */
  private last: { id: string; step: number } | undefined;

  private constructor(
    private readonly store: CheckpointStore,
    readonly runId: string,
    private readonly unlock: () => void,
  ) {}

  /** Goes on from `from` again (after a lost GPU): points after it are
   * dropped at the next save, as after a resume. */
  rewind(from: CheckpointMeta, metricsSoFar: number): void {
    this.flushed = metricsSoFar;
    this.truncateAfter = from.step;
    this.last = { id: from.id, step: from.step };
  }

  /** Records a status that no checkpoint goes with ('failed': the run's
   * state could not be saved). */
  async setStatus(status: RunStatus): Promise<void> {
    await this.store.updateRun(this.runId, { status });
  }

  /** Releases the run for other tabs. */
  close(): void {
    this.unlock();
  }

  /** A new stored run; `file` (the uploaded teacher file) is kept with it so
   * that Resume after a reload need not ask for it. Returns why the file was
   * not kept, if it was not. */
  static async create(store: CheckpointStore, init: NewRun, file?: File): Promise<{ recorder: RunRecorder; fileNotKept?: string }> {
    const run = await store.createRun({ ...init, status: 'running' });
    const recorder = new RunRecorder(store, run.id, await lockRun(run.id));
    if (!file) return { recorder };
    if (file.size > KEEP_FILE_LIMIT)
      return {
        recorder,
        fileNotKept: `the teacher file (${formatBytes(file.size)}) is over ${formatBytes(KEEP_FILE_LIMIT)}; load it again to resume after a reload`,
      };
    try {
      if (!(await store.getDataset(init.datasetFingerprint)))
        await store.putDataset(init.datasetFingerprint, file.name, await file.arrayBuffer());
      return { recorder };
    } catch (e) {
      return { recorder, fileNotKept: `the teacher file could not be kept for resuming after a reload (${(e as Error).message})` };
    }
  }

  /** Continues a stored run from its checkpoint `from`. From the run's
   * newest checkpoint, the same run goes on; from an older one, a new run
   * branches off (store.forkRun), so the later checkpoints and history of
   * the original are kept. `forked` names the new run. */
  static async resume(
    store: CheckpointStore,
    from: CheckpointMeta,
    metricsSoFar: number,
  ): Promise<{ recorder: RunRecorder; forked?: string }> {
    const newest = (await store.listCheckpoints(from.runId))[0];
    if (newest && newest.id !== from.id) {
      const run = await store.forkRun(from.runId, from.step);
      const r = new RunRecorder(store, run.id, await lockRun(run.id));
      r.flushed = metricsSoFar;
      return { recorder: r, forked: run.name };
    }
    const r = new RunRecorder(store, from.runId, await lockRun(from.runId));
    try {
      await store.updateRun(from.runId, { status: 'running' });
    } catch (e) {
      r.close();
      throw e;
    }
    r.flushed = metricsSoFar;
    r.truncateAfter = from.step;
    r.last = { id: from.id, step: from.step };
    return { recorder: r };
  }

  /** Saves a checkpoint of `state` and the metric points logged since the
   * last save (state.metrics is the run's whole history). */
  async save(
    state: TrainState,
    kind: CheckpointKind,
    status: RunRecord['status'],
    opts: { accuracy?: number } = {},
  ): Promise<CheckpointView> {
    if (this.truncateAfter !== undefined) {
      await this.store.truncateMetrics(this.runId, this.truncateAfter);
      this.truncateAfter = undefined;
    }
    await this.store.appendMetrics(this.runId, state.metrics.slice(this.flushed));
    this.flushed = state.metrics.length;
    const meta = await this.store.saveCheckpoint(this.runId, state, kind, opts);
    this.last = { id: meta.id, step: meta.step };
    // with its settings: a finished run trained further has a raised total
    await this.store.updateRun(this.runId, { status, trainConfig: state.trainConfig });
    return checkpointView(meta);
  }

  /** Records an evaluation of the model at `step`. It is tied to the
   * checkpoint of that step when there is one; when there is none and the
   * accuracy is the run's best so far, the model is saved as a 'best'
   * checkpoint (retention always keeps the most accurate checkpoint). */
  async addEvaluation(
    step: number,
    ev: { accuracy: number; correct: number; total: number; samples: RunRecord['evaluations'][number]['samples'] },
    snapshot: () => Promise<TrainState>,
  ): Promise<CheckpointView | undefined> {
    let checkpointId = this.last?.step === step ? this.last.id : undefined;
    let saved: CheckpointView | undefined;
    if (!checkpointId) {
      const best = Math.max(-Infinity, ...(await this.store.listCheckpoints(this.runId)).map((c) => c.accuracy ?? -Infinity));
      if (ev.accuracy > best) {
        const run = await this.store.getRun(this.runId);
        saved = await this.save(await snapshot(), 'best', run?.status ?? 'stopped', { accuracy: ev.accuracy });
        checkpointId = saved.id;
      }
    }
    await this.store.addEvaluation(this.runId, { step, ...ev, ...(checkpointId ? { checkpointId } : {}) });
    return saved;
  }
}
