// The app's IndexedDB store (through idb): runs, their metric history, and
// checkpoints kept as the .safetensors bytes themselves (one format
// everywhere). Works unchanged in a worker: no DOM, navigator guarded.
//
// Crash safety: a checkpoint's blob and its metadata are written in ONE
// readwrite transaction (durability 'strict'), with only IndexedDB requests
// awaited inside it, so a checkpoint is either wholly visible or absent; a
// full disk aborts the whole transaction and the older checkpoints stay.

import { openDB, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import type { ModelConfig, TrainConfig } from '../core/config';
import type { MetricPoint, TrainState } from '../core/state';
import { encodeCheckpoint, safetensorsToState, stateToSafetensors } from './format';
import { storageInfo, type StorageInfo } from './quota';
import { DEFAULT_RETENTION, byNewest, retentionVictims, type RetentionPolicy } from './retention';
import {
  DB_NAME,
  DB_VERSION,
  migrate,
  readRunRecord,
  type BlobRecord,
  type CheckpointKind,
  type CheckpointMeta,
  type DatasetRecord,
  type EvalRecord,
  type McckdDB,
  type MetricRecord,
  type RunRecord,
  type RunStatus,
  type TeachRunRecord,
  type TeachSampleRecord,
} from './schema';
import { formatBytes } from '../shared/format';
import { CheckpointDamagedError, NotFoundError, StoreError, errName, storeFailure } from './storeErrors';

export * from './quota';
export * from './retention';
export * from './schema';
export * from './storeErrors';

// ---- ids -----------------------------------------------------------------

/** Time-prefixed random id; getRandomValues works outside secure contexts
 * too (randomUUID does not), e.g. when the app is served over a LAN. */
function newId(prefix: string): string {
  const r = new Uint32Array(2);
  globalThis.crypto.getRandomValues(r);
  return `${prefix}-${Date.now().toString(36)}-${r[0].toString(36)}${r[1].toString(36)}`;
}

/** Issues requests in order and awaits them all. If issuing one throws
 * (e.g. DataCloneError), the ones already issued are marked handled: the
 * abort that follows rejects them. */
async function requests(...issue: (() => Promise<unknown>)[]): Promise<void> {
  const issued: Promise<unknown>[] = [];
  try {
    for (const f of issue) issued.push(f());
  } catch (e) {
    for (const p of issued) p.catch(() => undefined);
    throw e;
  }
  await Promise.all(issued);
}

function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

// ---- the store -----------------------------------------------------------

export interface NewRun {
  name: string;
  modelConfig: ModelConfig;
  trainConfig: TrainConfig;
  tokenizer: unknown;
  datasetFingerprint: string;
  reportSummary?: unknown;
  status?: RunStatus;
}

interface DamagedCheckpoint {
  meta: CheckpointMeta;
  message: string;
}

interface LatestLoadable {
  /** The newest checkpoint that loads and verifies, if any. */
  found?: { meta: CheckpointMeta; state: TrainState };
  /** Newer checkpoints passed over because they are damaged. */
  skipped: DamagedCheckpoint[];
}

interface OpenOptions {
  retention?: Partial<RetentionPolicy>;
  /** Called when this connection closes because a newer app version wants
   * to upgrade the database (another tab), or the browser dropped it. */
  onClose?: (reason: string) => void;
}

/** How long opening the database may take by default: an older version of
 * the app in another tab that does not close its connection blocks the
 * upgrade for as long as that tab lives. */
const OPEN_TIMEOUT_MS = 10_000;

/** How long to wait once the open is 'blocked': a tab that lets go does so
 * in its versionchange handler, at once, so a wait past this only keeps the
 * person from their runs. */
const BLOCKED_GRACE_MS = 2_000;

interface OpenDeadlineOptions {
  /** Give up opening after this many ms (default OPEN_TIMEOUT_MS) with a
   * StoreError; a later open may try again. An upgrade that has begun is
   * waited for. */
  openTimeoutMs?: number;
}

type RW<S extends StoreNames<McckdDB>[]> = IDBPTransaction<McckdDB, S, 'readwrite'>;

export class CheckpointStore {
  private closedReason: string | undefined;
  private lastTime = 0;

  private constructor(
    private readonly db: IDBPDatabase<McckdDB>,
    readonly retention: RetentionPolicy,
  ) {}

  static async open(name: string = DB_NAME, opts: OpenOptions & OpenDeadlineOptions = {}): Promise<CheckpointStore> {
    if (typeof indexedDB === 'undefined') {
      throw new StoreError('IndexedDB is not available here (a private window or a locked-down browser?)', 'unavailable');
    }
    let store: CheckpointStore | undefined;
    const lost = (reason: string): void => {
      if (store) store.closedReason = reason;
      opts.onClose?.(reason);
    };
    // Opening waits while another connection at an older version (a tab of
    // an older app version without a versionchange handler) stays open:
    // 'blocked' says so, and the deadline ends the wait. IndexedDB can't
    // cancel an open request, so one that opens after we gave up is closed
    // at once (it would block the next upgrade otherwise).
    const timeoutMs = opts.openTimeoutMs ?? OPEN_TIMEOUT_MS;
    const started = Date.now();
    const inWords = (ms: number): string => (ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`);
    let blockedAt: number | undefined; // the version that holds us up
    let upgrading = false;
    let gaveUp = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let check = (): void => undefined; // the deadline's, set below
    let db: IDBPDatabase<McckdDB>;
    try {
      const request = openDB<McckdDB>(name, DB_VERSION, {
        upgrade: (d, oldVersion, _newVersion, tx) => {
          upgrading = true;
          migrate(d, oldVersion, tx);
        },
        blocked: (currentVersion) => {
          blockedAt = currentVersion;
          // the deadline moves closer: BLOCKED_GRACE_MS from now at the latest
          const left = timeoutMs - (Date.now() - started);
          if (left > BLOCKED_GRACE_MS) {
            clearTimeout(timer);
            timer = setTimeout(() => check(), BLOCKED_GRACE_MS);
          }
        },
        blocking: (_current, _blocked, event) => {
          // Let the newer version upgrade instead of leaving it stuck.
          (event.target as IDBDatabase).close();
          lost('a newer version of the app opened the saved data in another tab; reload this page');
        },
        terminated: () => lost('the browser closed the database (storage cleared?); reload this page'),
      });
      request.then(
        (late) => void (gaveUp && late.close()),
        () => undefined, // observed by the race below, or nobody waits any more
      );
      const deadline = new Promise<never>((_, reject) => {
        check = (): void => {
          if (upgrading) return; // the other tab let go: the upgrade runs to its end
          gaveUp = true;
          const waited = inWords(Date.now() - started);
          reject(
            blockedAt !== undefined
              ? new StoreError(
                  `the saved data could not be opened: another tab holds it open with an older version of this app (database "${name}" version ${blockedAt}, ` +
                    `this app needs version ${DB_VERSION}) and did not let go within ${waited}; close that tab (or reload it), then try again`,
                  'version',
                )
              : new StoreError(
                  `the saved data could not be opened within ${waited} (database "${name}"); ` +
                    'another tab may hold it open with an older version of this app: close other tabs of this app, then try again',
                  'unavailable',
                ),
          );
        };
        // the blocked event may have come first and set a nearer deadline
        timer ??= setTimeout(() => check(), timeoutMs);
      });
      db = await Promise.race([request, deadline]);
    } catch (e) {
      if (errName(e) === 'VersionError') {
        throw new StoreError(
          `the saved data was written by a newer version of this app (database "${name}" is newer than version ${DB_VERSION}); open the newest version`,
          'version',
          { cause: e },
        );
      }
      throw storeFailure(e, `opening database "${name}"`);
    } finally {
      clearTimeout(timer);
    }
    store = new CheckpointStore(db, { ...DEFAULT_RETENTION, ...opts.retention });
    return store;
  }

  close(): void {
    this.closedReason ??= 'the store was closed';
    this.db.close();
  }

  private live(): IDBPDatabase<McckdDB> {
    if (this.closedReason) throw new StoreError(`storage is closed: ${this.closedReason}`, 'closed');
    return this.db;
  }

  /** Strictly increasing timestamps, so "newest" is never a tie. */
  private now(): number {
    this.lastTime = Math.max(Date.now(), this.lastTime + 1);
    return this.lastTime;
  }

  /** One readwrite transaction: `fn` may await only requests on `tx`. Any
   * failure aborts it as a whole and surfaces as a typed error. 'strict'
   * durability (flushed to disk before success) except where losing the last
   * write to a power cut is harmless (metric points). */
  private async write<S extends StoreNames<McckdDB>[], T>(
    stores: S,
    what: string,
    fn: (tx: RW<S>) => Promise<T>,
    durability: IDBTransactionDurability = 'strict',
  ): Promise<T> {
    let tx: RW<S>;
    try {
      tx = this.live().transaction(stores, 'readwrite', { durability });
    } catch (e) {
      throw storeFailure(e, what);
    }
    tx.done.catch(() => undefined); // observed below; avoids an unhandled rejection on abort
    try {
      const result = await fn(tx);
      await tx.done;
      return result;
    } catch (e) {
      try {
        tx.abort();
      } catch {
        // already aborted or finished
      }
      // A failed request aborts the transaction with the real cause (e.g.
      // QuotaExceededError) while the request itself may only say AbortError.
      throw storeFailure(errName(e) === 'AbortError' && tx.error ? tx.error : e, what);
    }
  }

  // ---- runs ----

  async createRun(init: NewRun): Promise<RunRecord> {
    const t = this.now();
    const run: RunRecord = { ...init, id: newId('run'), createdAt: t, updatedAt: t, evaluations: [], status: init.status ?? 'preparing' };
    await this.write(['runs'], 'creating a run', (tx) => tx.objectStore('runs').add(run));
    return run;
  }

  /** A new run that continues `runId` from its checkpoint at `step`: same
   * configs, tokenizer and data, the metrics and evaluations up to `step`
   * copied. Resuming an older checkpoint branches off this way, so the
   * original run keeps its later checkpoints and history. */
  async forkRun(runId: string, step: number): Promise<RunRecord> {
    const t = this.now();
    return this.write(['runs', 'metrics'], 'starting a run from an older checkpoint', async (tx) => {
      const from = await tx.objectStore('runs').get(runId);
      if (!from) throw new NotFoundError(`run ${runId} does not exist`);
      const points = await tx.objectStore('metrics').getAll(IDBKeyRange.bound([runId, -Infinity], [runId, step]));
      const run: RunRecord = {
        ...from,
        id: newId('run'),
        name: `${from.name.replace(/ · from step \d+$/, '')} · from step ${step}`,
        createdAt: t,
        updatedAt: t,
        // their checkpoints stay with the original run
        evaluations: from.evaluations.filter((e) => e.step <= step).map(({ checkpointId: _c, ...e }) => e),
        status: 'running',
      };
      await requests(
        () => tx.objectStore('runs').add(run),
        ...points.map((p) => () => tx.objectStore('metrics').put({ ...p, runId: run.id })),
      );
      return run;
    });
  }

  /** Upsert of a whole record (sets updatedAt). */
  async saveRun(run: RunRecord): Promise<RunRecord> {
    const saved = { ...run, updatedAt: this.now() };
    await this.write(['runs'], 'saving the run', (tx) => tx.objectStore('runs').put(saved));
    return saved;
  }

  async updateRun(id: string, patch: Partial<Omit<RunRecord, 'id' | 'createdAt'>>): Promise<RunRecord> {
    const t = this.now();
    return this.write(['runs'], 'updating the run', async (tx) => {
      const run = await tx.objectStore('runs').get(id);
      if (!run) throw new NotFoundError(`run ${id} does not exist`);
      const next = { ...readRunRecord(run), ...patch, id, updatedAt: t };
      await tx.objectStore('runs').put(next);
      return next;
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const run = await this.live().get('runs', id);
    return run && readRunRecord(run);
  }

  /** Most recently updated first. */
  async listRuns(): Promise<RunRecord[]> {
    return (await this.live().getAllFromIndex('runs', 'byUpdated')).reverse().map(readRunRecord);
  }

  /** Deletes the run, its checkpoints and metrics, and its teacher file
   * when no other run was trained on the same data. */
  async deleteRun(id: string): Promise<void> {
    await this.write(['runs', 'checkpoints', 'blobs', 'metrics', 'datasets'], 'deleting the run', async (tx) => {
      const ids = await tx.objectStore('checkpoints').index('byRun').getAllKeys(id);
      const runs = await tx.objectStore('runs').getAll();
      const fp = runs.find((r) => r.id === id)?.datasetFingerprint;
      const shared = runs.some((r) => r.id !== id && r.datasetFingerprint === fp);
      await requests(
        ...ids.flatMap((c) => [() => tx.objectStore('checkpoints').delete(c), () => tx.objectStore('blobs').delete(c)]),
        () => tx.objectStore('metrics').delete(IDBKeyRange.bound([id, -Infinity], [id, Infinity])),
        () => tx.objectStore('runs').delete(id),
        ...(fp !== undefined && !shared ? [() => tx.objectStore('datasets').delete(fp)] : []),
      );
    });
  }

  // ---- teacher files ----

  /** Keeps the file a run's data came from (once per fingerprint). */
  async putDataset(fingerprint: string, name: string, bytes: ArrayBuffer): Promise<void> {
    const rec: DatasetRecord = { fingerprint, name, createdAt: this.now(), bytes };
    await this.write(['datasets'], 'keeping the teacher file', (tx) => tx.objectStore('datasets').put(rec));
  }

  async getDataset(fingerprint: string): Promise<DatasetRecord | undefined> {
    return this.live().get('datasets', fingerprint);
  }

  // ---- teach runs (the teacher step) ----

  async createTeachRun(init: Omit<TeachRunRecord, 'id' | 'createdAt' | 'updatedAt'>): Promise<TeachRunRecord> {
    const t = this.now();
    const rec: TeachRunRecord = { ...init, id: newId('teach'), createdAt: t, updatedAt: t };
    await this.write(['teachRuns'], 'starting the teach run', (tx) => tx.objectStore('teachRuns').put(rec));
    return rec;
  }

  async updateTeachRun(id: string, patch: Partial<Omit<TeachRunRecord, 'id' | 'createdAt'>>): Promise<TeachRunRecord> {
    return this.write(['teachRuns'], 'updating the teach run', async (tx) => {
      const old = await tx.objectStore('teachRuns').get(id);
      if (!old) throw new NotFoundError(`teach run ${id} not found`);
      const rec: TeachRunRecord = { ...old, ...patch, id, createdAt: old.createdAt, updatedAt: this.now() };
      await tx.objectStore('teachRuns').put(rec);
      return rec;
    });
  }

  async getTeachRun(id: string): Promise<TeachRunRecord | undefined> {
    return this.live().get('teachRuns', id);
  }

  /** Newest first. */
  async listTeachRuns(): Promise<TeachRunRecord[]> {
    return (await this.live().getAllFromIndex('teachRuns', 'byUpdated')).reverse();
  }

  /** One sample, durable before it resolves ('strict'). `put`, not `add`:
   * a sample asked again after a reload that lost only its answer's
   * acknowledgement overwrites itself instead of duplicating. */
  async putTeachSample(rec: TeachSampleRecord): Promise<void> {
    await this.write(['teachSamples'], 'keeping a teacher sample', (tx) => tx.objectStore('teachSamples').put(rec));
  }

  async teachSamples(runId: string): Promise<TeachSampleRecord[]> {
    return this.live().getAllFromIndex('teachSamples', 'byRun', runId);
  }

  async deleteTeachRun(id: string): Promise<void> {
    await this.write(['teachRuns', 'teachSamples'], 'deleting the teach run', async (tx) => {
      const keys = await tx.objectStore('teachSamples').index('byRun').getAllKeys(id);
      await requests(() => tx.objectStore('teachRuns').delete(id), ...keys.map((k) => () => tx.objectStore('teachSamples').delete(k)));
    });
  }

  // ---- metrics ----

  async appendMetrics(runId: string, points: MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    await this.write(
      ['runs', 'metrics'],
      'saving metrics',
      async (tx) => {
        if ((await tx.objectStore('runs').count(runId)) === 0) throw new NotFoundError(`run ${runId} does not exist`);
        await requests(...points.map((p) => () => tx.objectStore('metrics').put({ ...p, runId })));
      },
      'relaxed',
    );
  }

  /** The run's points in step order, up to and including `upToStep`. */
  async getMetrics(runId: string, upToStep = Infinity): Promise<MetricPoint[]> {
    const rows = await this.live().getAll('metrics', IDBKeyRange.bound([runId, -Infinity], [runId, upToStep]));
    return rows.map(stripRunId);
  }

  /** Drops points after `step`, e.g. when training resumes from an older
   * checkpoint and the later history no longer belongs to the run. */
  async truncateMetrics(runId: string, step: number): Promise<void> {
    await this.write(['metrics'], 'truncating metrics', (tx) =>
      tx.objectStore('metrics').delete(IDBKeyRange.bound([runId, step], [runId, Infinity], true, false)),
    );
  }

  async addEvaluation(runId: string, ev: Omit<EvalRecord, 'id' | 'createdAt'>): Promise<EvalRecord> {
    const rec: EvalRecord = { ...ev, id: newId('eval'), createdAt: this.now() };
    await this.write(['runs', 'checkpoints', 'blobs'], 'saving the evaluation', async (tx) => {
      const run = await tx.objectStore('runs').get(runId);
      if (!run) throw new NotFoundError(`run ${runId} does not exist`);
      await tx.objectStore('runs').put({ ...run, evaluations: [...run.evaluations, rec], updatedAt: rec.createdAt });
      if (ev.checkpointId) {
        const meta = await tx.objectStore('checkpoints').get(ev.checkpointId);
        if (meta && meta.runId === runId) {
          await tx.objectStore('checkpoints').put({ ...meta, accuracy: ev.accuracy });
          await this.pruneIn(tx, runId); // the best may have changed
        }
      }
    });
    return rec;
  }

  // ---- checkpoints ----

  async saveCheckpoint(
    runId: string,
    state: TrainState,
    kind: CheckpointKind,
    opts: { accuracy?: number; weightsOnly?: boolean } = {},
  ): Promise<CheckpointMeta> {
    // Encoding (the CPU work) happens before the transaction opens.
    const { bytes, checksum } = encodeCheckpoint(state, { weightsOnly: opts.weightsOnly });
    const meta: CheckpointMeta = {
      id: newId('ckpt'),
      runId,
      step: state.step,
      createdAt: this.now(),
      bytes: bytes.length,
      checksum,
      kind,
      weightsOnly: !!opts.weightsOnly,
      ...(opts.accuracy !== undefined ? { accuracy: opts.accuracy } : {}),
    };
    const blob: BlobRecord = { checkpointId: meta.id, bytes: exactBuffer(bytes) };
    await this.write(
      ['runs', 'checkpoints', 'blobs'],
      `saving the checkpoint at step ${meta.step} (${formatBytes(meta.bytes)})`,
      async (tx) => {
        const run = await tx.objectStore('runs').get(runId);
        if (!run) throw new NotFoundError(`run ${runId} does not exist`);
        await requests(
          () => tx.objectStore('blobs').put(blob),
          () => tx.objectStore('checkpoints').put(meta),
          () => tx.objectStore('runs').put({ ...run, updatedAt: meta.createdAt }),
        );
        await this.pruneIn(tx, runId);
      },
    );
    return meta;
  }

  private async pruneIn(tx: RW<['runs', 'checkpoints', 'blobs']>, runId: string): Promise<void> {
    const metas = await tx.objectStore('checkpoints').index('byRun').getAll(runId);
    const victims = retentionVictims(metas, this.retention);
    await requests(
      ...victims.flatMap((m) => [() => tx.objectStore('checkpoints').delete(m.id), () => tx.objectStore('blobs').delete(m.id)]),
    );
  }

  /** Checkpoints of a run, newest first. */
  async listCheckpoints(runId: string): Promise<CheckpointMeta[]> {
    const metas = await this.live().getAllFromIndex('checkpoints', 'byRun', runId);
    return metas.sort(byNewest);
  }

  async getCheckpointMeta(id: string): Promise<CheckpointMeta | undefined> {
    return this.live().get('checkpoints', id);
  }

  /** Reads and fully verifies one checkpoint (checksum, shapes, configs);
   * metrics are the run's points up to the checkpoint's step. */
  async loadCheckpoint(id: string): Promise<TrainState> {
    return (await this.readVerified(id, true)).state;
  }

  private async readVerified(id: string, withMetrics: boolean): Promise<{ meta: CheckpointMeta; state: TrainState; bytes: Uint8Array }> {
    const tx = this.live().transaction(['checkpoints', 'blobs', 'metrics'], 'readonly');
    const [meta, blob] = await Promise.all([tx.objectStore('checkpoints').get(id), tx.objectStore('blobs').get(id)]);
    if (!meta) throw new NotFoundError(`checkpoint ${id} does not exist`);
    const metrics = withMetrics
      ? await tx.objectStore('metrics').getAll(IDBKeyRange.bound([meta.runId, -Infinity], [meta.runId, meta.step]))
      : [];
    const damaged = (why: string, cause?: unknown): CheckpointDamagedError =>
      new CheckpointDamagedError(`checkpoint at step ${meta.step} (${id}) is damaged: ${why}`, id, { cause });
    if (!blob || !(blob.bytes instanceof ArrayBuffer)) throw damaged('its data is missing');
    const bytes = new Uint8Array(blob.bytes);
    if (bytes.length !== meta.bytes) throw damaged(`its data has ${bytes.length} bytes, ${meta.bytes} were written`);
    let loaded: ReturnType<typeof safetensorsToState>;
    try {
      loaded = safetensorsToState(bytes);
    } catch (e) {
      throw damaged((e as Error).message, e);
    }
    if (loaded.checksum !== meta.checksum) throw damaged(`its data has checksum ${loaded.checksum}, ${meta.checksum} was written`);
    loaded.state.metrics = metrics.map(stripRunId);
    return { meta, state: loaded.state, bytes };
  }

  /** The newest checkpoint of the run that loads and verifies (older than
   * `olderThan` when given: the next one to offer when that one is damaged);
   * damaged newer ones are reported in `skipped` (and left in place for the
   * user to see). */
  async latestLoadable(runId: string, opts: { olderThan?: CheckpointMeta } = {}): Promise<LatestLoadable> {
    const skipped: DamagedCheckpoint[] = [];
    const limit = opts.olderThan;
    const candidates = (await this.listCheckpoints(runId)).filter(
      (c) => !limit || (c.id !== limit.id && (c.step < limit.step || (c.step === limit.step && c.createdAt < limit.createdAt))),
    );
    for (const meta of candidates) {
      try {
        return { found: { meta, state: await this.loadCheckpoint(meta.id) }, skipped };
      } catch (e) {
        if (!(e instanceof CheckpointDamagedError)) throw e;
        skipped.push({ meta, message: e.message });
      }
    }
    return { skipped };
  }

  async deleteCheckpoint(id: string): Promise<void> {
    await this.write(['checkpoints', 'blobs'], 'deleting the checkpoint', (tx) =>
      requests(
        () => tx.objectStore('checkpoints').delete(id),
        () => tx.objectStore('blobs').delete(id),
      ),
    );
  }

  /** Validates the file completely, then stores it as a new run with one
   * 'manual' checkpoint. A refused file leaves the database untouched. */
  async importSafetensors(bytes: Uint8Array, name: string): Promise<{ runId: string; checkpointId: string }> {
    const { state, weightsOnly, checksum } = safetensorsToState(bytes); // throws before any write
    const t = this.now();
    const run: RunRecord = {
      id: newId('run'),
      name,
      createdAt: t,
      updatedAt: t,
      modelConfig: state.modelConfig,
      trainConfig: state.trainConfig,
      tokenizer: state.tokenizer,
      datasetFingerprint: state.datasetFingerprint,
      evaluations: [],
      status: 'stopped', // at its step, resumable (OLD_RUN_STATUS_WORDS: earlier versions wrote 'imported')
    };
    const meta: CheckpointMeta = {
      id: newId('ckpt'),
      runId: run.id,
      step: state.step,
      createdAt: t,
      bytes: bytes.length,
      checksum,
      kind: 'manual',
      weightsOnly,
    };
    const blob: BlobRecord = { checkpointId: meta.id, bytes: bytes.slice().buffer as ArrayBuffer };
    // a file from `mcckd import` carries the recipe's metrics (format.ts
    // reads them, checked): they become the run's, charted as any run's
    await this.write(['runs', 'checkpoints', 'blobs', 'metrics'], `importing "${name}" (${formatBytes(bytes.length)})`, (tx) =>
      requests(
        () => tx.objectStore('runs').add(run),
        () => tx.objectStore('blobs').put(blob),
        () => tx.objectStore('checkpoints').put(meta),
        ...state.metrics.map((p) => () => tx.objectStore('metrics').put({ ...p, runId: run.id })),
      ),
    );
    return { runId: run.id, checkpointId: meta.id };
  }

  /** The checkpoint's file, verified; weightsOnly drops the optimizer moments. */
  async exportSafetensors(checkpointId: string, opts: { weightsOnly?: boolean } = {}): Promise<Uint8Array> {
    const { meta, state, bytes } = await this.readVerified(checkpointId, false);
    if (!opts.weightsOnly || meta.weightsOnly) return bytes;
    return stateToSafetensors(state, { weightsOnly: true });
  }

  /** Browser storage estimate plus what our checkpoints take. */
  async storageInfo(): Promise<StorageInfo & { checkpointBytes: number }> {
    const metas = await this.live().getAll('checkpoints');
    return { ...(await storageInfo()), checkpointBytes: metas.reduce((s, m) => s + m.bytes, 0) };
  }
}

function stripRunId(r: MetricRecord): MetricPoint {
  const { runId: _runId, ...p } = r;
  return p;
}
