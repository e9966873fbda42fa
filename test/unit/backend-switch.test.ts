// The worker's backend switches run one at a time: the page sets one up at
// start-up and the user may pick another before it is ready. Overlapping
// tf.setBackend calls once left tfjs on one backend while the worker had
// recorded the other, and the first training step failed (the browser test
// "a backend picked by hand" stalled on it). Since one switch waits for the
// other, a WebGPU adapter request that never answers must not hold them up.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { BackendUnavailableError, initBackendWithin, setBackend } from '../../src/core/backend';
import { Trainer } from '../../src/core/trainer';
import { ensureBackend, Session, settledBackend, switchBackend } from '../../src/worker/session';
import { toyGroups, tinyConfig } from './core-helpers';

/** The worker's state for this file's tests (worker.ts makes one per worker). */
const session = new Session();

afterAll(async () => {
  await tf.setBackend('cpu');
  session.backend = undefined;
});

describe('worker backend switches', () => {
  for (const order of [
    ['wasm', 'cpu'],
    ['cpu', 'wasm'],
    ['wasm', 'cpu', 'wasm', 'cpu'],
  ] as const) {
    it(`asked for ${order.join(', ')} without waiting: each answer in turn, and tfjs ends on the last`, async () => {
      await tf.setBackend('cpu');
      session.backend = undefined;
      const reports = await Promise.all(order.map((b) => ensureBackend(session, b)));
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
      // Node has no WebGL either: on to wasm (not the far slower cpu)
      expect(info).toMatchObject({
        backend: 'wasm',
        fellBackFrom: 'webgpu',
        reason: 'webgpu: navigator.gpu.requestAdapter() gave no answer in 0.05 s; webgl: no OffscreenCanvas for WebGL in this context',
      });
      expect(tf.getBackend()).toBe('wasm');
    } finally {
      if (saved) Object.defineProperty(g, 'navigator', saved);
      else delete g.navigator;
    }
  });
});

describe('the automatic fallback order: webgpu -> webgl -> wasm -> cpu', () => {
  /** Runs `f` with `navigator` (no navigator.gpu) and, when `wasm` is false,
   * without WebAssembly; Node has no WebGL (no OffscreenCanvas). */
  async function without<T>(o: { wasm: boolean }, f: () => Promise<T>): Promise<T> {
    const g = globalThis as { navigator?: unknown; WebAssembly?: unknown };
    const nav = Object.getOwnPropertyDescriptor(g, 'navigator');
    const wasm = Object.getOwnPropertyDescriptor(g, 'WebAssembly');
    Object.defineProperty(g, 'navigator', { value: {}, configurable: true });
    if (!o.wasm) delete g.WebAssembly;
    try {
      return await f();
    } finally {
      if (nav) Object.defineProperty(g, 'navigator', nav);
      else delete g.navigator;
      if (wasm) Object.defineProperty(g, 'WebAssembly', wasm);
    }
  }

  it('without navigator.gpu and WebGL, webgpu lands on wasm, saying why webgpu and webgl were skipped', async () => {
    await tf.setBackend('cpu');
    const info = await without({ wasm: true }, () => setBackend('webgpu'));
    expect(info).toEqual({
      backend: 'wasm',
      fellBackFrom: 'webgpu',
      reason:
        'webgpu: navigator.gpu is missing (this browser or context has no WebGPU); webgl: no OffscreenCanvas for WebGL in this context',
    });
    expect(tf.getBackend()).toBe('wasm');
  });

  it('webgl lands on wasm too', async () => {
    await tf.setBackend('cpu');
    const info = await without({ wasm: true }, () => setBackend('webgl'));
    expect(info).toEqual({ backend: 'wasm', fellBackFrom: 'webgl', reason: 'webgl: no OffscreenCanvas for WebGL in this context' });
    expect(tf.getBackend()).toBe('wasm');
  });

  it('cpu comes last, after wasm, with every skipped backend named', async () => {
    await tf.setBackend('wasm');
    const info = await without({ wasm: false }, () => setBackend('webgpu'));
    expect(info).toMatchObject({ backend: 'cpu', fellBackFrom: 'webgpu' });
    expect(info.reason).toMatch(
      /^webgpu: navigator\.gpu is missing .*; webgl: no OffscreenCanvas .*; wasm: no WebAssembly in this context$/,
    );
    expect(tf.getBackend()).toBe('cpu');
  });

  it('fallback: false (the CLI) tries only the backend asked for, and says why it failed', async () => {
    await tf.setBackend('cpu');
    const err = await without({ wasm: true }, () => setBackend('webgpu', { fallback: false })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as BackendUnavailableError).reason).toBe('webgpu: navigator.gpu is missing (this browser or context has no WebGPU)');
    expect(tf.getBackend()).toBe('cpu');
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
    await ensureBackend(session, 'cpu');
    const make = (): Promise<Trainer> =>
      Trainer.create({
        groups: toyGroups(6),
        trainConfig: tinyConfig({ steps: 4 }),
        datasetFingerprint: 'x',
        modelOverrides: { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 },
      });
    const straight = await make();
    const want: number[] = [];
    for (let i = 0; i < 4; i++) want.push((await straight.trainStep())?.loss ?? NaN);
    straight.dispose();

    const t = await make();
    const got = [(await t.trainStep())?.loss ?? NaN, (await t.trainStep())?.loss ?? NaN];
    session.live = { label: 'main', trainer: t, groups: toyGroups(6), fingerprint: 'x' };
    const tensorsBefore = tf.memory().numTensors;
    const switching = switchBackend(session, 'wasm');
    // what a save or an evaluation does first: the model it then reads is the moved one
    await settledBackend(session);
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
