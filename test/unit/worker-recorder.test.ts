// The worker's stored-run writer (src/worker/checkpoints.ts) on fake-indexeddb:
// resuming never costs saved work. From the run's newest checkpoint the run
// goes on (stale history is dropped only at the first new save); from an
// older one a new run branches off and the original keeps its later
// checkpoints; an evaluation keeps its model as a 'best' checkpoint when it
// is the best so far; one tab at a time trains a stored run (Web Locks).
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { retentionVictims, type CheckpointMeta } from '../../src/checkpoint/store';
import type { MetricPoint } from '../../src/core/state';
import { lockRun, RunRecorder, StoreHandle } from '../../src/worker/checkpoints';
import { metric, tinyState } from './ckpt-fixtures';

/** This file's connection to the store (a worker's Session holds one). */
const stores = new StoreHandle();
const openStore = () => stores.open();

const points = (n: number): MetricPoint[] => Array.from({ length: n }, (_, i) => metric(i + 1));
const steps = (ms: MetricPoint[]): number[] => ms.map((m) => m.step);
const init = () => {
  const s = tinyState();
  return {
    name: 'demo α=0.1',
    modelConfig: s.modelConfig,
    trainConfig: s.trainConfig,
    tokenizer: s.tokenizer,
    datasetFingerprint: s.datasetFingerprint,
  };
};

/** A LockManager that grants a free lock at once and otherwise waits for it
 * until the request's signal aborts, as the browser's does. */
function fakeLocks(): LockManager {
  const queues = new Map<string, (() => void)[]>();
  const held = new Set<string>();
  const free = (name: string): void => {
    held.delete(name);
    queues.get(name)?.shift()?.();
  };
  return {
    async request(name: string, opts: LockOptions, cb: (lock: Lock | null) => Promise<unknown>) {
      if (held.has(name)) {
        await new Promise<void>((resolve, reject) => {
          const q = queues.get(name) ?? [];
          queues.set(name, q);
          const go = (): void => resolve();
          q.push(go);
          opts.signal?.addEventListener('abort', () => {
            q.splice(q.indexOf(go), 1);
            reject(opts.signal?.reason);
          });
        });
      }
      held.add(name);
      // the manager hands the lock on a moment after the callback settles
      try {
        return await cb({ name, mode: 'exclusive' });
      } finally {
        setTimeout(() => free(name), 5);
      }
    },
    query: async () => ({}),
  } as unknown as LockManager;
}

describe('RunRecorder', () => {
  it('resuming the newest checkpoint goes on in the same run and drops stale history only at the first save', async () => {
    const store = await openStore();
    const { recorder } = await RunRecorder.create(await openStore(), init());
    await recorder.save(tinyState({ step: 6, metrics: points(6) }), 'auto', 'running');
    const c10 = await recorder.save(tinyState({ step: 10, metrics: points(10) }), 'stop', 'stopped');
    recorder.close();
    await store.deleteCheckpoint(c10.id); // the user deleted it: step 6 is the newest now
    const [c6] = await store.listCheckpoints(recorder.runId);
    expect(c6.step).toBe(6);

    const { recorder: again, forked } = await RunRecorder.resume(await openStore(), c6, 6);
    expect(forked).toBeUndefined();
    expect(again.runId).toBe(recorder.runId);
    expect(steps(await store.getMetrics(recorder.runId))).toEqual(steps(points(10))); // nothing lost yet
    await again.save(tinyState({ step: 8, metrics: points(8) }), 'auto', 'running');
    expect(steps(await store.getMetrics(recorder.runId))).toEqual(steps(points(8)));
    again.close();
  });

  it('resuming an older checkpoint branches into a new run; the original keeps its later checkpoints and history', async () => {
    const store = await openStore();
    const { recorder } = await RunRecorder.create(await openStore(), init());
    const c40 = await recorder.save(tinyState({ step: 40, metrics: points(40) }), 'pause', 'paused');
    for (const s of [100, 150, 200]) await recorder.save(tinyState({ step: s, metrics: points(s) }), 'auto', 'running');
    recorder.close();
    const before = (await store.listCheckpoints(recorder.runId)).map((c) => c.step);
    const from = (await store.getCheckpointMeta(c40.id))!;

    const { recorder: branch, forked } = await RunRecorder.resume(await openStore(), from, from.step);
    expect(forked).toBe('demo α=0.1 · from step 40');
    expect(branch.runId).not.toBe(recorder.runId);
    expect(steps(await store.getMetrics(branch.runId))).toEqual(steps(points(from.step)));
    for (const s of [from.step + 10, from.step + 20, from.step + 30])
      await branch.save(tinyState({ step: s, metrics: points(s) }), 'auto', 'running');
    // the original run is untouched
    expect((await store.listCheckpoints(recorder.runId)).map((c) => c.step)).toEqual(before);
    expect(steps(await store.getMetrics(recorder.runId))).toEqual(steps(points(200)));
    expect((await store.listCheckpoints(branch.runId)).map((c) => c.step)).toEqual([from.step + 30, from.step + 20, from.step + 10]);
    branch.close();
  });

  it("an evaluation of an unsaved model that beats the run's best is kept as a best checkpoint; others are recorded only", async () => {
    const store = await openStore();
    const { recorder } = await RunRecorder.create(await openStore(), init());
    const c5 = await recorder.save(tinyState({ step: 5, metrics: points(5) }), 'pause', 'paused');
    const ev = (accuracy: number) => ({ accuracy, correct: Math.round(accuracy * 10), total: 10, samples: [] });
    let snapshots = 0;
    const snap = async () => {
      snapshots++;
      return tinyState({ step: 7, metrics: points(7) });
    };
    // at the checkpoint's own step: tied to it, nothing saved
    expect(await recorder.addEvaluation(5, ev(0.3), snap)).toBeUndefined();
    expect((await store.getCheckpointMeta(c5.id))?.accuracy).toBe(0.3);
    // step 7 was never saved: better than 0.3, so it is kept as 'best'
    const best = await recorder.addEvaluation(7, ev(0.6), snap);
    expect(best).toMatchObject({ step: 7, kind: 'best', accuracy: 0.6 });
    expect(snapshots).toBe(1);
    // worse than the best: only recorded
    expect(await recorder.addEvaluation(7, ev(0.5), snap)).toBeUndefined();
    const run = await store.getRun(recorder.runId);
    expect(run?.evaluations.map((e) => [e.step, e.accuracy, e.checkpointId])).toEqual([
      [5, 0.3, c5.id],
      [7, 0.6, best!.id],
      [7, 0.5, best!.id],
    ]);
    recorder.close();
  });

  it('autosave retention keeps the furthest-trained autosaves, whatever order they were written in', () => {
    const m = (id: string, step: number, createdAt: number): CheckpointMeta => ({
      id,
      runId: 'r',
      step,
      createdAt,
      bytes: 1,
      checksum: '0',
      kind: 'auto',
      weightsOnly: false,
    });
    const metas = [m('s100', 100, 1), m('s150', 150, 2), m('s200', 200, 3), m('s50', 50, 4), m('s60', 60, 5)];
    expect(
      retentionVictims(metas, { keepAuto: 3 })
        .map((x) => x.id)
        .sort(),
    ).toEqual(['s50', 's60']);
  });
});

describe('lockRun', () => {
  it('lets one holder at a time train a run, and frees it on release', async () => {
    const locks = fakeLocks();
    const release = await lockRun('run-1', locks, 100);
    await expect(lockRun('run-1', locks, 100)).rejects.toThrow(/being trained in another tab/);
    const other = await lockRun('run-2', locks, 100); // another run is free
    // Resume right after Stop in the same tab: the release completes a
    // moment later, and the new request waits for it instead of failing
    release();
    const again = await lockRun('run-1', locks, 1000);
    again();
    other();
  });

  it('locks nothing where there is no Web Locks API', async () => {
    const release = await lockRun('run-1', undefined);
    expect(typeof release).toBe('function');
  });
});
