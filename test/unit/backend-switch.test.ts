// The worker's backend switches run one at a time: the page sets one up at
// start-up and the user may pick another before it is ready. Overlapping
// tf.setBackend calls once left tfjs on one backend while the worker had
// recorded the other, and the first training step failed (the browser test
// "a backend picked by hand" stalled on it). Since one switch waits for the
// other, a WebGPU adapter request that never answers must not hold them up.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { initBackendWithin, setBackend } from '../../src/core/backend';
import { Trainer } from '../../src/core/trainer';
import { ensureBackend, session, settledBackend, switchBackend } from '../../src/worker/session';
import { toyGroups, tinyConfig } from './core-helpers';

afterAll(async () => {
  await tf.setBackend('cpu');
  session.backend = undefined;
});

describe('worker backend switches', () => {
  for (const order of [['wasm', 'cpu'], ['cpu', 'wasm'], ['wasm', 'cpu', 'wasm', 'cpu']] as const) {
    it(`asked for ${order.join(', ')} without waiting: each answer in turn, and tfjs ends on the last`, async () => {
      await tf.setBackend('cpu');
      session.backend = undefined;
      const reports = await Promise.all(order.map((b) => ensureBackend(b)));
      expect(reports.map((r) => r.backend)).toEqual([...order]);
      const last = order[order.length - 1];
      expect(tf.getBackend()).toBe(last);
      expect(session.backend).toMatchObject({ backend: last });
    });
  }
});

describe('a WebGPU adapter that never answers', () => {
  it('falls back after the timeout, saying why', async () => {
    const g = globalThis as { navigator?: unknown };
    const saved = Object.getOwnPropertyDescriptor(g, 'navigator');
    Object.defineProperty(g, 'navigator', { value: { gpu: { requestAdapter: () => new Promise(() => undefined) } }, configurable: true });
    try {
      const info = await setBackend('webgpu', { timeoutMs: 50 });
      expect(info).toMatchObject({ backend: 'cpu', fellBackFrom: 'webgpu', reason: 'webgpu: navigator.gpu.requestAdapter() gave no answer in 0.05 s' });
      expect(tf.getBackend()).toBe('cpu');
    } finally {
      if (saved) Object.defineProperty(g, 'navigator', saved);
      else delete g.navigator;
    }
  });
});

describe('a backend set-up that never answers, or answers late', () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('times out, leaves tfjs free to switch, and can be tried again', async () => {
    tf.registerBackend('mcckd-hang', () => new Promise<MathBackendCPU>(() => undefined));
    try {
      await expect(initBackendWithin('mcckd-hang', 50)).rejects.toThrow('its set-up gave no answer in 0.05 s');
      expect(await tf.setBackend('cpu')).toBe(true);
      expect(tf.backend()).toBe(tf.findBackend('cpu'));
      expect(tf.findBackendFactory('mcckd-hang')).toBeDefined();
    } finally {
      tf.removeBackend('mcckd-hang');
    }
  });

  it('a set-up that answers after the deadline does not take over', async () => {
    tf.registerBackend('mcckd-late', () => sleep(150).then(() => new MathBackendCPU()));
    try {
      await expect(initBackendWithin('mcckd-late', 50)).rejects.toThrow(/no answer/);
      expect(await tf.setBackend('cpu')).toBe(true);
      await sleep(300);
      expect(tf.getBackend()).toBe('cpu');
      expect(tf.backend()).toBe(tf.findBackend('cpu'));
    } finally {
      tf.removeBackend('mcckd-late');
    }
  });
});

describe('switching with a model in memory', () => {
  it('moves the model (the losses go on as without the switch), and a save or evaluation asked meanwhile waits for it', async () => {
    await tf.setBackend('cpu');
    session.backend = undefined;
    await ensureBackend('cpu');
    const make = (): Promise<Trainer> =>
      Trainer.create({ groups: toyGroups(6), trainConfig: tinyConfig({ steps: 4 }), datasetFingerprint: 'x', modelOverrides: { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 } });
    const straight = await make();
    const want: number[] = [];
    for (let i = 0; i < 4; i++) want.push((await straight.trainStep())?.loss ?? NaN);
    straight.dispose();

    const t = await make();
    const got = [(await t.trainStep())?.loss ?? NaN, (await t.trainStep())?.loss ?? NaN];
    session.live = { label: 'main', trainer: t, groups: toyGroups(6), fingerprint: 'x', metrics: [] };
    const tensorsBefore = tf.memory().numTensors;
    const switching = switchBackend('wasm');
    // what a save or an evaluation does first: the model it then reads is the moved one
    await settledBackend();
    const moved = session.live?.trainer;
    await switching;
    expect(tf.getBackend()).toBe('wasm');
    expect(moved).toBeDefined();
    expect(moved).not.toBe(t);
    expect(moved?.step).toBe(2);
    for (let i = 0; i < 2; i++) got.push((await moved?.trainStep())?.loss ?? NaN);
    // wasm and cpu differ in the last bits of float sums
    got.forEach((l, i) => expect(l).toBeCloseTo(want[i], 4));
    expect(tf.memory().numTensors).toBe(tensorsBefore); // the old model was freed
    moved?.dispose();
    session.live = undefined;
  });
});
