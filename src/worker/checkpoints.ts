// The worker's side of saved work: one CheckpointStore (IndexedDB, owned by
// src/checkpoint/store) opened lazily, a recorder that writes a live run's
// checkpoints and metrics, and plain views of stored runs for the page.

import { countParams } from '../core/config';
import type { TrainState } from '../core/state';
import { CheckpointStore, type CheckpointKind, type CheckpointMeta, type NewRun, type RunRecord } from '../checkpoint/store';
import type { CheckpointView, RunView, StorageUsage } from '../shared/protocol';
import { formatBytes } from '../shared/format';

/** Teacher files up to this size are kept with their runs (IndexedDB). */
const KEEP_FILE_LIMIT = 64 * 1024 * 1024;

let opening: Promise<CheckpointStore> | undefined;
let closedBecause: string | undefined;

export function openStore(): Promise<CheckpointStore> {
  if (closedBecause) return Promise.reject(new Error(`saved data is unavailable: ${closedBecause}`));
  opening ??= CheckpointStore.open(undefined, {
    onClose: (reason) => {
      closedBecause = reason;
    },
  }).catch((e: unknown) => {
    opening = undefined; // let a later call try again (e.g. after freeing space)
    throw e;
  });
  return opening;
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
  };
}

export async function listRuns(): Promise<RunView[]> {
  const store = await openStore();
  const runs = await store.listRuns();
  return Promise.all(runs.map(async (r) => runView(r, await store.listCheckpoints(r.id))));
}

export async function storageUsage(): Promise<StorageUsage> {
  const store = await openStore();
  const s = await store.storageInfo();
  return { available: s.available, usage: s.usage, quota: s.quota, persisted: s.persisted, checkpointBytes: s.checkpointBytes };
}

/** Writes one live run: checkpoints plus the metric points logged since the
 * previous save, so that the charts come back after a reload. */
export class RunRecorder {
  private flushed = 0; // metrics[0..flushed) are stored

  private constructor(
    private readonly store: CheckpointStore,
    readonly runId: string,
  ) {}

  /** A new stored run; `file` (the uploaded teacher file) is kept with it so
   * that Resume after a reload need not ask for it. Returns why the file was
   * not kept, if it was not. */
  static async create(init: NewRun, file?: File): Promise<{ recorder: RunRecorder; fileNotKept?: string }> {
    const store = await openStore();
    const run = await store.createRun({ ...init, status: 'training' });
    const recorder = new RunRecorder(store, run.id);
    if (!file) return { recorder };
    if (file.size > KEEP_FILE_LIMIT) return { recorder, fileNotKept: `the teacher file (${formatBytes(file.size)}) is over ${formatBytes(KEEP_FILE_LIMIT)}; load it again to resume after a reload` };
    try {
      if (!(await store.getDataset(init.datasetFingerprint))) await store.putDataset(init.datasetFingerprint, file.name, await file.arrayBuffer());
      return { recorder };
    } catch (e) {
      return { recorder, fileNotKept: `the teacher file could not be kept for resuming after a reload (${(e as Error).message})` };
    }
  }

  /** Continues a stored run from a checkpoint at `step`: later history no
   * longer belongs to it. */
  static async resume(runId: string, step: number, metricsSoFar: number): Promise<RunRecorder> {
    const store = await openStore();
    await store.truncateMetrics(runId, step);
    await store.updateRun(runId, { status: 'training' });
    const r = new RunRecorder(store, runId);
    r.flushed = metricsSoFar;
    return r;
  }

  /** Saves a checkpoint of `state` and the metric points logged since the
   * last save (state.metrics is the run's whole history). */
  async save(state: TrainState, kind: CheckpointKind, status: RunRecord['status']): Promise<CheckpointView> {
    await this.store.appendMetrics(this.runId, state.metrics.slice(this.flushed));
    this.flushed = state.metrics.length;
    const meta = await this.store.saveCheckpoint(this.runId, state, kind);
    await this.store.updateRun(this.runId, { status });
    return checkpointView(meta);
  }

  async addEvaluation(step: number, ev: { accuracy: number; correct: number; total: number; samples: RunRecord['evaluations'][number]['samples'] }): Promise<void> {
    await this.store.addEvaluation(this.runId, { step, ...ev });
  }
}
