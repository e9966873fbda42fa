import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CheckpointDamagedError,
  CheckpointStore,
  DB_VERSION,
  NotFoundError,
  QuotaError,
  StoreError,
  migrate,
  retentionVictims,
  type CheckpointMeta,
  type NewRun,
} from '../../src/checkpoint/store';
import { CheckpointFormatError, metadataChecksum, safetensorsToState, stateToSafetensors } from '../../src/checkpoint/format';
import { SafetensorsError, decode, encode } from '../../src/checkpoint/safetensors';
import { MAX_EMBEDDED_POINTS, decodeMetrics, encodeMetrics } from '../../src/checkpoint/metricsMeta';
import type { TrainState } from '../../src/core/state';
import { dataStart, expectSameTensors, metric, tinyState } from './ckpt-fixtures';

let dbCount = 0;
const open: CheckpointStore[] = [];
async function freshStore(retention?: { keepAuto: number }): Promise<{ store: CheckpointStore; name: string }> {
  const name = `ckpt-test-${++dbCount}-${Math.random().toString(36).slice(2)}`;
  const store = await CheckpointStore.open(name, { retention });
  open.push(store);
  return { store, name };
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

const newRun = (state: TrainState, name = 'run'): NewRun => ({
  name,
  modelConfig: state.modelConfig,
  trainConfig: state.trainConfig,
  tokenizer: state.tokenizer,
  datasetFingerprint: state.datasetFingerprint,
  reportSummary: { questions: 3 },
});

/** Raw record counts, read through a second connection. */
async function counts(name: string): Promise<Record<string, number>> {
  const db = await openDB(name);
  const out: Record<string, number> = {};
  for (const s of ['runs', 'checkpoints', 'blobs', 'metrics', 'datasets']) out[s] = await db.count(s);
  db.close();
  return out;
}

async function flipBlobByte(name: string, id: string, at: (bytes: Uint8Array) => number): Promise<void> {
  const db = await openDB(name);
  const rec = await db.get('blobs', id);
  const bytes = new Uint8Array(rec.bytes);
  bytes[at(bytes)] ^= 0x20;
  await db.put('blobs', rec);
  db.close();
}

function expectSameState(a: TrainState, b: TrainState): void {
  expectSameTensors(a.params, b.params);
  expectSameTensors(a.optimizer.m, b.optimizer.m);
  expectSameTensors(a.optimizer.v, b.optimizer.v);
  expect(a.optimizer.step).toBe(b.optimizer.step);
  expect({ ...a, params: 0, optimizer: 0 }).toEqual({ ...b, params: 0, optimizer: 0 });
}

/** Makes the next put() on `storeName` fail: synchronously (as a value that
 * can't be cloned does), or later while the request executes (as a full disk
 * does), which aborts the transaction with that error. */
function failNextPut(storeName: string, errorName: string, when: 'sync' | 'async'): () => void {
  // Test-only reach into fake-indexeddb's FDBObjectStore.
  const proto = (globalThis as unknown as { IDBObjectStore: { prototype: Record<string, unknown> } }).IDBObjectStore.prototype;
  const orig = proto.put as (this: unknown, ...a: unknown[]) => unknown;
  proto.put = function (this: { name: string; _rawObjectStore: { storeRecord: unknown } }, ...args: unknown[]) {
    if (this.name !== storeName) return orig.apply(this, args);
    proto.put = orig;
    if (when === 'sync') throw new DOMException('simulated failure', errorName);
    const raw = this._rawObjectStore;
    const store = raw.storeRecord;
    raw.storeRecord = () => {
      throw new DOMException('simulated: no space left', errorName);
    };
    try {
      return orig.apply(this, args); // binds the failing storeRecord
    } finally {
      raw.storeRecord = store;
    }
  };
  return () => {
    proto.put = orig;
  };
}

describe('opening and migrations', () => {
  it('creates the current schema in an empty database and keeps data on reopen', async () => {
    const { store, name } = await freshStore();
    const run = await store.createRun(newRun(tinyState()));
    store.close();
    const raw = await openDB(name);
    expect(raw.version).toBe(DB_VERSION);
    expect([...raw.objectStoreNames].sort()).toEqual(['blobs', 'checkpoints', 'datasets', 'metrics', 'runs', 'teachRuns', 'teachSamples']);
    expect([...raw.transaction('checkpoints').store.indexNames]).toEqual(['byRun']);
    raw.close();
    const again = await CheckpointStore.open(name);
    open.push(again);
    expect((await again.getRun(run.id))?.name).toBe('run');
  });

  it('migrations are cumulative: a v1 database upgraded by a later version keeps its data', async () => {
    const { store, name } = await freshStore();
    const run = await store.createRun(newRun(tinyState()));
    await store.saveCheckpoint(run.id, tinyState(), 'manual');
    store.close();
    // What a v2 would do: run every step after the stored version, then its own.
    let seenOld = -1;
    const v2 = await openDB(name, DB_VERSION + 1, {
      upgrade(db, oldVersion, _newVersion, tx) {
        seenOld = oldVersion;
        migrate(db as never, oldVersion, tx as never); // must not recreate the v1 stores
        db.createObjectStore('v2extra');
      },
    });
    expect(seenOld).toBe(DB_VERSION);
    expect(await v2.count('blobs')).toBe(1);
    expect((await v2.get('runs', run.id))?.name).toBe('run');
    v2.close();
  });

  it('upgrades a real v1 database to v2: its runs stay, the datasets store appears', async () => {
    const name = `ckpt-v1-${Math.random()}`;
    const v1 = await openDB(name, 1, {
      upgrade(db) {
        // the v1 schema as v1 shipped it
        db.createObjectStore('runs', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
        db.createObjectStore('checkpoints', { keyPath: 'id' }).createIndex('byRun', 'runId');
        db.createObjectStore('blobs', { keyPath: 'checkpointId' });
        db.createObjectStore('metrics', { keyPath: ['runId', 'step'] });
      },
    });
    await v1.put('runs', {
      id: 'run-old',
      name: 'old',
      createdAt: 1,
      updatedAt: 1,
      evaluations: [],
      status: 'stopped',
      datasetFingerprint: 'f0',
    });
    v1.close();
    const store = await CheckpointStore.open(name);
    open.push(store);
    expect((await store.getRun('run-old'))?.name).toBe('old');
    expect(await store.getDataset('f0')).toBeUndefined();
    await store.putDataset('f0', 'teacher.jsonl', new TextEncoder().encode('{"a":1}\n').buffer as ArrayBuffer);
    expect((await store.getDataset('f0'))?.name).toBe('teacher.jsonl');
  });

  it('refuses a database written by a newer app version with a clear error', async () => {
    const name = `ckpt-newer-${Math.random()}`;
    (await openDB(name, DB_VERSION + 1)).close();
    const err = await CheckpointStore.open(name).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('version');
    expect((err as Error).message).toMatch(/written by a newer version of this app/);
  });

  it('reports operations on a closed store as typed errors', async () => {
    const { store } = await freshStore();
    store.close();
    await expect(store.listRuns()).rejects.toThrow(/storage is closed/);
  });
});

describe('runs and metrics', () => {
  it('creates, updates, lists and evaluates runs', async () => {
    const { store } = await freshStore();
    const a = await store.createRun(newRun(tinyState(), 'a'));
    const b = await store.createRun(newRun(tinyState(), 'b'));
    expect(a.status).toBe('preparing');
    expect((await store.listRuns()).map((r) => r.name)).toEqual(['b', 'a']);
    await store.updateRun(a.id, { status: 'running' });
    expect((await store.listRuns()).map((r) => `${r.name}:${r.status}`)).toEqual(['a:running', 'b:preparing']);
    await expect(store.updateRun('nope', { status: 'done' })).rejects.toBeInstanceOf(NotFoundError);
    const saved = await store.saveRun({ ...b, name: 'b2' });
    expect(saved.updatedAt).toBeGreaterThan(b.updatedAt);
    expect((await store.getRun(b.id))?.name).toBe('b2');
    const ev = await store.addEvaluation(a.id, { step: 5, accuracy: 0.5, correct: 1, total: 2, samples: [] });
    expect((await store.getRun(a.id))?.evaluations).toEqual([ev]);
  });

  it('appends metrics in step order, overwrites a re-logged step, truncates', async () => {
    const { store } = await freshStore();
    const run = await store.createRun(newRun(tinyState()));
    await store.appendMetrics(run.id, [metric(1), metric(2)]);
    await store.appendMetrics(run.id, [metric(10), metric(3)]);
    await store.appendMetrics(run.id, [metric(2, 9.5)]);
    const pts = await store.getMetrics(run.id);
    expect(pts.map((p) => p.step)).toEqual([1, 2, 3, 10]);
    expect(pts[1]).toEqual(metric(2, 9.5));
    expect((await store.getMetrics(run.id, 3)).map((p) => p.step)).toEqual([1, 2, 3]);
    await store.truncateMetrics(run.id, 2);
    expect((await store.getMetrics(run.id)).map((p) => p.step)).toEqual([1, 2]);
    await expect(store.appendMetrics('missing', [metric(1)])).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('run status words stored by earlier versions', () => {
  it("read in today's words through every read, and a later update keeps them", async () => {
    const { store, name } = await freshStore();
    const words = ['created', 'training', 'imported', 'paused', 'stopped', 'done', 'failed', 'no-such-word'];
    const ids: Record<string, string> = {};
    for (const w of words) ids[w] = (await store.createRun(newRun(tinyState(), w))).id;
    // rewrite the records as earlier versions left them
    const raw = await openDB(name);
    for (const w of words) {
      const rec = await raw.get('runs', ids[w]);
      await raw.put('runs', { ...rec, status: w });
    }
    raw.close();
    const expected: Record<string, string> = {
      created: 'stopped',
      training: 'running',
      imported: 'stopped',
      paused: 'paused',
      stopped: 'stopped',
      done: 'done',
      failed: 'failed',
      'no-such-word': 'stopped',
    };
    for (const w of words) expect((await store.getRun(ids[w]))?.status, w).toBe(expected[w]);
    const listed = Object.fromEntries((await store.listRuns()).map((r) => [r.name, r.status]));
    expect(listed).toEqual(expected);
    const updated = await store.updateRun(ids.training, { name: 'renamed' });
    expect(updated.status).toBe('running');
  });
});

describe('checkpoints', () => {
  it('saves and loads a checkpoint exactly, with metrics up to its step', async () => {
    const { store } = await freshStore();
    const state = tinyState({ step: 4 });
    const run = await store.createRun(newRun(state));
    await store.appendMetrics(run.id, [metric(2), metric(4), metric(6)]);
    const meta = await store.saveCheckpoint(run.id, state, 'manual');
    expect(meta).toMatchObject({ runId: run.id, step: 4, kind: 'manual', weightsOnly: false });
    expect(meta.bytes).toBe(stateToSafetensors(state).length);
    expect(await store.listCheckpoints(run.id)).toEqual([meta]);
    const back = await store.loadCheckpoint(meta.id);
    expectSameState(back, { ...state, metrics: [metric(2), metric(4)] });
    await expect(store.saveCheckpoint('missing', state, 'auto')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.loadCheckpoint('missing')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('detects a damaged blob and latestLoadable falls back to the next older checkpoint', async () => {
    const { store, name } = await freshStore();
    const run = await store.createRun(newRun(tinyState()));
    const c1 = await store.saveCheckpoint(run.id, tinyState({ step: 1, seed: 1 }), 'auto');
    const c2 = await store.saveCheckpoint(run.id, tinyState({ step: 2, seed: 2 }), 'auto');
    const c3 = await store.saveCheckpoint(run.id, tinyState({ step: 3, seed: 3 }), 'pause');
    await flipBlobByte(name, c3.id, (b) => dataStart(b) + 123);
    const err = await store.loadCheckpoint(c3.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointDamagedError);
    expect((err as CheckpointDamagedError).checkpointId).toBe(c3.id);
    expect((err as Error).message).toMatch(/checkpoint at step 3 .* is damaged: checksum mismatch/);

    // A header byte: the JSON or the metadata no longer parses.
    await flipBlobByte(name, c2.id, () => 12);
    const latest = await store.latestLoadable(run.id);
    expect(latest.found?.meta.id).toBe(c1.id);
    expectSameTensors(latest.found!.state.params, tinyState({ seed: 1 }).params);
    expect(latest.skipped.map((s) => s.meta.id)).toEqual([c3.id, c2.id]);
    expect(latest.skipped[1].message).toMatch(/is damaged/);

    // Older than a damaged one (what Resume offers): c3 itself and anything
    // newer are not candidates; c2 is damaged too, so c1.
    const older = await store.latestLoadable(run.id, { olderThan: c3 });
    expect(older.found?.meta.id).toBe(c1.id);
    expect(older.skipped.map((s) => s.meta.id)).toEqual([c2.id]);
    expect((await store.latestLoadable(run.id, { olderThan: c1 })).found).toBeUndefined();

    // A missing blob is damage too.
    const db = await openDB(name);
    await db.delete('blobs', c1.id);
    db.close();
    const none = await store.latestLoadable(run.id);
    expect(none.found).toBeUndefined();
    expect(none.skipped.map((s) => s.message)).toContainEqual(expect.stringMatching(/its data is missing/));
  });

  it('retention keeps the newest auto checkpoints, the best by accuracy, and every pause/stop/manual one', async () => {
    const { store, name } = await freshStore({ keepAuto: 2 });
    const run = await store.createRun(newRun(tinyState()));
    const manual = await store.saveCheckpoint(run.id, tinyState({ step: 1 }), 'manual');
    const acc = [0.2, 0.9, 0.1, 0.3, 0.4];
    const autos: CheckpointMeta[] = [];
    for (let i = 0; i < acc.length; i++)
      autos.push(await store.saveCheckpoint(run.id, tinyState({ step: 10 + i }), 'auto', { accuracy: acc[i] }));
    const stop = await store.saveCheckpoint(run.id, tinyState({ step: 20 }), 'stop');
    const ids = (await store.listCheckpoints(run.id)).map((m) => m.id);
    expect(ids).toEqual([stop.id, autos[4].id, autos[3].id, autos[1].id, manual.id]);
    expect(await counts(name)).toMatchObject({ checkpoints: 5, blobs: 5 });

    // A new best retires the old best; evaluating a checkpoint can do the same.
    const best = await store.saveCheckpoint(run.id, tinyState({ step: 21 }), 'best', { accuracy: 0.95 });
    expect((await store.listCheckpoints(run.id)).map((m) => m.id)).not.toContain(autos[1].id);
    await store.addEvaluation(run.id, { step: 14, checkpointId: autos[4].id, accuracy: 0.99, correct: 99, total: 100, samples: [] });
    const left = await store.listCheckpoints(run.id);
    expect(left.map((m) => m.id)).not.toContain(best.id);
    expect(left.find((m) => m.id === autos[4].id)?.accuracy).toBe(0.99);
    expect(await counts(name)).toMatchObject({ checkpoints: left.length, blobs: left.length });
  });

  it('retentionVictims is a pure rule', () => {
    const m = (id: string, kind: CheckpointMeta['kind'], createdAt: number, accuracy?: number): CheckpointMeta => ({
      id,
      runId: 'r',
      step: createdAt,
      createdAt,
      bytes: 1,
      checksum: '0',
      kind,
      weightsOnly: false,
      ...(accuracy === undefined ? {} : { accuracy }),
    });
    const metas = [
      m('a1', 'auto', 1, 0.8),
      m('a2', 'auto', 2),
      m('a3', 'auto', 3),
      m('a4', 'auto', 4),
      m('p', 'pause', 5),
      m('b', 'best', 6, 0.5),
    ];
    expect(
      retentionVictims(metas, { keepAuto: 2 })
        .map((x) => x.id)
        .sort(),
    ).toEqual(['a2', 'b']);
    expect(
      retentionVictims(metas, { keepAuto: 0 })
        .map((x) => x.id)
        .sort(),
    ).toEqual(['a2', 'a3', 'b']);
  });

  it('a transaction that fails half-way leaves earlier checkpoints intact and no orphan blob', async () => {
    const { store, name } = await freshStore();
    const run = await store.createRun(newRun(tinyState()));
    const first = await store.saveCheckpoint(run.id, tinyState({ step: 1 }), 'auto');
    const before = await counts(name);
    // The blob put is issued, then the metadata put throws: all or nothing.
    const restore = failNextPut('checkpoints', 'DataCloneError', 'sync');
    try {
      const err = await store.saveCheckpoint(run.id, tinyState({ step: 2 }), 'auto').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('failed');
      expect((err as Error).message).toMatch(/saving the checkpoint at step 2 .* failed/);
    } finally {
      restore();
    }
    expect(await counts(name)).toEqual(before);
    expect((await store.listCheckpoints(run.id)).map((c) => c.id)).toEqual([first.id]);
    expect((await store.loadCheckpoint(first.id)).step).toBe(1);
  });

  it('a full disk (QuotaExceededError) surfaces as QuotaError and changes nothing', async () => {
    const { store, name } = await freshStore();
    const run = await store.createRun(newRun(tinyState()));
    const first = await store.saveCheckpoint(run.id, tinyState({ step: 1 }), 'auto');
    await store.saveCheckpoint(run.id, tinyState({ step: 2 }), 'auto');
    const before = await counts(name);
    const restore = failNextPut('blobs', 'QuotaExceededError', 'async');
    try {
      const err = await store.saveCheckpoint(run.id, tinyState({ step: 3 }), 'auto').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QuotaError);
      expect((err as StoreError).code).toBe('quota');
      expect((err as Error).message).toMatch(
        /^Not enough storage space for saving the checkpoint at step 3 \([\d.]+ [KMG]?B\)\. Nothing was written and earlier checkpoints are intact/,
      );
    } finally {
      restore();
    }
    expect(await counts(name)).toEqual(before);
    expect((await store.latestLoadable(run.id)).found?.meta.step).toBe(2);
    expect((await store.loadCheckpoint(first.id)).step).toBe(1);
    // The store keeps working afterwards.
    expect((await store.saveCheckpoint(run.id, tinyState({ step: 3 }), 'auto')).step).toBe(3);
  });

  it('deletes checkpoints and whole runs with everything they own', async () => {
    const { store, name } = await freshStore();
    const keep = await store.createRun(newRun(tinyState(), 'keep'));
    const gone = await store.createRun(newRun(tinyState(), 'gone'));
    await store.appendMetrics(keep.id, [metric(1)]);
    await store.appendMetrics(gone.id, [metric(1), metric(2)]);
    const k = await store.saveCheckpoint(keep.id, tinyState(), 'manual');
    const g1 = await store.saveCheckpoint(gone.id, tinyState(), 'manual');
    await store.saveCheckpoint(gone.id, tinyState(), 'auto');
    await store.deleteCheckpoint(g1.id);
    expect((await store.listCheckpoints(gone.id)).length).toBe(1);
    await store.deleteRun(gone.id);
    expect(await counts(name)).toEqual({ runs: 1, checkpoints: 1, blobs: 1, metrics: 1, datasets: 0 });
    expect((await store.loadCheckpoint(k.id)).metrics).toEqual([metric(1)]);
    const info = await store.storageInfo();
    expect(info.checkpointBytes).toBe(k.bytes);
  });
});

describe('import and export', () => {
  it('imports a valid file as a new run and exports it back byte for byte', async () => {
    const { store } = await freshStore();
    const state = tinyState({ step: 12 });
    const file = stateToSafetensors(state);
    const { runId, checkpointId } = await store.importSafetensors(file, 'from disk');
    const run = await store.getRun(runId);
    expect(run).toMatchObject({
      name: 'from disk',
      status: 'stopped',
      modelConfig: state.modelConfig,
      datasetFingerprint: state.datasetFingerprint,
    });
    expectSameState(await store.loadCheckpoint(checkpointId), state);
    expect(await store.exportSafetensors(checkpointId)).toEqual(file);
    const weights = await store.exportSafetensors(checkpointId, { weightsOnly: true });
    const loaded = safetensorsToState(weights);
    expect(loaded.weightsOnly).toBe(true);
    expectSameTensors(loaded.state.params, state.params);
  });

  it("imports the metrics a file embeds (mcckd import's) as the run's, and refuses bad ones", async () => {
    const { store, name } = await freshStore();
    // a diverged step (NaN loss) too; the point after the checkpoint's step is not the file's
    const points = [metric(1), metric(2), { ...metric(4), loss: NaN }, metric(6), metric(9)];
    const state = tinyState({ step: 6, metrics: points });
    const plain = await store.importSafetensors(stateToSafetensors(state), 'plain');
    expect(await store.getMetrics(plain.runId)).toEqual([]); // checkpoints carry none by default
    const { runId, checkpointId } = await store.importSafetensors(stateToSafetensors(state, { metrics: true }), 'recipe');
    expect(await store.getMetrics(runId)).toEqual(points.slice(0, 4));
    // what Resume loads: the charts come back with the state
    expect((await store.loadCheckpoint(checkpointId)).metrics).toEqual(points.slice(0, 4));
    const before = await counts(name);
    const edited = (metrics: string): Uint8Array => {
      const d = decode(stateToSafetensors(state, { metrics: true }));
      d.metadata.metrics = metrics;
      d.metadata.metadata_checksum = metadataChecksum(d.metadata);
      return encode(d.tensors, d.metadata);
    };
    const cols = JSON.parse(decode(stateToSafetensors(state, { metrics: true })).metadata.metrics) as Record<string, unknown[]>;
    const cases: [string, RegExp][] = [
      ['[1, 2]', /metadata "metrics": must be an object of columns/],
      [JSON.stringify({ ...cols, step: [1, 2, 4, 7] }), /step\[3\] must be an integer from 0 to the checkpoint's step 6/],
      [JSON.stringify({ ...cols, step: [1, 4, 2, 6] }), /step\[2\] is not after step\[1\]/],
      [JSON.stringify({ ...cols, kl: [1, 2] }), /"kl" must be an array of 4 values/],
      [JSON.stringify({ ...cols, lr: [1, 2, '3', 4] }), /lr\[2\] must be a number or null/],
    ];
    for (const [metrics, msg] of cases) {
      const err = await store.importSafetensors(edited(metrics), 'bad').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointFormatError);
      expect((err as Error).message).toMatch(msg);
    }
    expect(await counts(name)).toEqual(before);
  });

  it('thins a history longer than the file takes to evenly spaced points, the last one kept', () => {
    const n = MAX_EMBEDDED_POINTS + 2; // stride 2; the last index is odd, off the stride
    const long = Array.from({ length: n }, (_, i) => metric(i + 1));
    const kept = decodeMetrics(JSON.parse(encodeMetrics(long)), n);
    expect(kept.length).toBeLessThanOrEqual(MAX_EMBEDDED_POINTS);
    expect(kept.length).toBeGreaterThan(MAX_EMBEDDED_POINTS / 2);
    expect(kept[0]).toEqual(long[0]);
    expect(kept[kept.length - 1]).toEqual(long[n - 1]);
    expect(new Set(kept.slice(1, -1).map((p, i) => p.step - kept[i].step))).toEqual(new Set([2]));
  });

  it('refuses hostile or damaged files before touching the database', async () => {
    const { store, name } = await freshStore();
    await store.importSafetensors(stateToSafetensors(tinyState()), 'good');
    const before = await counts(name);
    const good = stateToSafetensors(tinyState());
    const flipped = good.slice();
    flipped[dataStart(flipped) + 7] ^= 1;
    const badDtype = good.slice();
    const at = new TextDecoder().decode(badDtype).indexOf('"F32"');
    badDtype.set(new TextEncoder().encode('"I32"'), at);
    const wrongConfig = (() => {
      // Valid container and checksum, but the config promises a bigger vocabulary.
      const d = decode(good);
      d.metadata.model_config = JSON.stringify({ ...tinyState().modelConfig, vocabSize: 99 });
      d.metadata.metadata_checksum = metadataChecksum(d.metadata);
      return encode(d.tensors, d.metadata);
    })();
    const cases: [Uint8Array, RegExp, new (...a: never[]) => Error][] = [
      [good.subarray(0, good.length - 100), /beyond the data section/, SafetensorsError],
      [good.subarray(0, 4), /too short/, SafetensorsError],
      [flipped, /checksum mismatch/, CheckpointFormatError],
      [badDtype, /unsupported dtype "I32"/, SafetensorsError],
      [new TextEncoder().encode('{"not": "safetensors at all"}'), /header length \d+ exceeds the limit/, SafetensorsError],
      [wrongConfig, /param "transformer.wte.weight" has shape \[16, 8\], the model config needs \[99, 8\]/, CheckpointFormatError],
    ];
    for (const [bytes, msg, cls] of cases) {
      const err = await store.importSafetensors(bytes, 'bad').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(cls);
      expect((err as Error).message).toMatch(msg);
    }
    expect(await counts(name)).toEqual(before);
  });
});

describe('teacher files kept with runs', () => {
  it('round-trips the bytes and deletes the file with the last run trained on it', async () => {
    const { store } = await freshStore();
    const a = await store.createRun({ ...newRun(tinyState(), 'a'), datasetFingerprint: 'fp1' });
    const b = await store.createRun({ ...newRun(tinyState(), 'b'), datasetFingerprint: 'fp1' });
    const c = await store.createRun({ ...newRun(tinyState(), 'c'), datasetFingerprint: 'fp2' });
    const text = '{"question":"q","answer":"1","rationales":["1. The answer is 1."]}\n';
    await store.putDataset('fp1', 'one.jsonl', new TextEncoder().encode(text).buffer as ArrayBuffer);
    await store.putDataset('fp2', 'two.jsonl', new TextEncoder().encode('x').buffer as ArrayBuffer);
    const kept = await store.getDataset('fp1');
    expect(kept?.name).toBe('one.jsonl');
    expect(new TextDecoder().decode(kept!.bytes)).toBe(text);
    await store.deleteRun(a.id);
    expect(await store.getDataset('fp1')).toBeDefined(); // run b still uses it
    await store.deleteRun(b.id);
    expect(await store.getDataset('fp1')).toBeUndefined();
    expect(await store.getDataset('fp2')).toBeDefined();
    await store.deleteRun(c.id);
    expect(await store.getDataset('fp2')).toBeUndefined();
  });
});
