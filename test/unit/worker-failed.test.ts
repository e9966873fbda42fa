// A run that can't go on (src/worker/runs.ts loop): the page is told
// 'failed' and the stored run records it, while a run that merely stops
// does not; on the cpu backend and fake-indexeddb.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DivergedError, Trainer } from '../../src/core/trainer';
import { RunRecorder, StoreHandle } from '../../src/worker/checkpoints';
import { RunControl } from '../../src/worker/control';
import type { TrainEvent } from '../../src/worker/protocol';
import { loop } from '../../src/worker/runs';
import { Session, type Live } from '../../src/worker/session';
import { tinyConfig, toyGroups } from './core-helpers';

/** This file's connection to the store (a worker's Session holds one). */
const stores = new StoreHandle();
const openStore = () => stores.open();

const groups = toyGroups(6);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function liveRun(steps: number): Promise<Live> {
  const trainer = await Trainer.create({
    groups,
    trainConfig: tinyConfig({ steps, batchSize: 2 }),
    datasetFingerprint: 'x',
    modelOverrides: { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 },
  });
  const { recorder } = await RunRecorder.create(await openStore(), {
    name: 'failing',
    modelConfig: trainer.modelConfig,
    trainConfig: trainer.trainConfig,
    tokenizer: trainer.tokenizerJSON,
    datasetFingerprint: 'x',
  });
  return { label: 'main', trainer, groups, fingerprint: 'x', recorder };
}

describe('the status of a run that ends', () => {
  it('a diverged run is reported and stored as failed', async () => {
    const live = await liveRun(4);
    const real = live.trainer.trainStep.bind(live.trainer);
    let n = 0;
    live.trainer.trainStep = async () => {
      if (++n === 2) throw new DivergedError('training diverged at step 2 (test)');
      return real();
    };
    const events: TrainEvent[] = [];
    await expect(loop(new Session(), live, new RunControl(), (e) => void events.push(e), { autosaveEvery: 0 })).rejects.toBeInstanceOf(
      DivergedError,
    );
    const statuses = events.flatMap((e) => (e.type === 'status' ? [e.status] : []));
    expect(statuses).toEqual(['running', 'failed']);
    expect(events.find((e) => e.type === 'status' && e.status === 'failed')).toMatchObject({
      step: 1,
      message: expect.stringContaining('diverged'),
    });
    expect((await (await openStore()).getRun(live.recorder!.runId))?.status).toBe('failed');
    live.recorder!.close();
    live.trainer.dispose();
  });

  it('a run trained to its end is stored as done, not failed', async () => {
    const live = await liveRun(2);
    const events: TrainEvent[] = [];
    const r = await loop(new Session(), live, new RunControl(), (e) => void events.push(e), { autosaveEvery: 0 });
    expect(r.status).toBe('done');
    expect(events.flatMap((e) => (e.type === 'status' ? [e.status] : []))).toEqual(['running', 'done']);
    const store = await openStore();
    expect((await store.getRun(live.recorder!.runId))?.status).toBe('done');
    expect((await store.listCheckpoints(live.recorder!.runId)).map((c) => c.kind)).toEqual(['stop']);
    live.recorder!.close();
    live.trainer.dispose();
  });
});
