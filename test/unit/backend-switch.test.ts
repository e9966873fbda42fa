// The worker's backend switches run one at a time: the page sets one up at
// start-up and the user may pick another before it is ready. Overlapping
// tf.setBackend calls once left tfjs on one backend while the worker had
// recorded the other, and the first training step failed (the browser test
// "a backend picked by hand" stalled on it). Since one switch waits for the
// other, a WebGPU adapter request that never answers must not hold them up.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { setBackend } from '../../src/core/backend';
import { ensureBackend, session } from '../../src/worker/session';

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
      const info = await setBackend('webgpu', { adapterTimeoutMs: 50 });
      expect(info).toMatchObject({ backend: 'cpu', fellBackFrom: 'webgpu', reason: 'webgpu: navigator.gpu.requestAdapter() gave no answer in 0.05 s' });
      expect(tf.getBackend()).toBe('cpu');
    } finally {
      if (saved) Object.defineProperty(g, 'navigator', saved);
      else delete g.navigator;
    }
  });
});
