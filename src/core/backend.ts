// Backend selection shared by the browser worker and the Node CLI.
// Backends are imported lazily: tfjs-backend-webgpu registers itself only if
// navigator.gpu exists at import time, so Node must install Dawn's
// navigator.gpu (src/cli/node-gpu.ts) before the first call here.

import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from './config';
import { shareWasmIdentity } from './wasm-kernels';
import { MAX_WASM_THREADS } from './records';

export interface BackendInfo {
  backend: string; // what tf.getBackend() reports after setup
  adapter?: string; // GPU adapter description, when known
  fellBackFrom?: string; // the backend asked for, when another one was used
  reason?: string; // why the fallback happened: "name: why" for each one skipped, joined by "; "
  threads?: WasmThreads; // wasm only: the threads it computes with
}

/** The threads the wasm backend computes with, and why only one when the
 * threaded build was wanted but is not running. */
export interface WasmThreads {
  count: number;
  /** Why the single-threaded build runs (undefined: it was asked for, or the
   * threaded build runs). */
  reason?: string;
}

/** What to try, in order, for each backend asked for: wasm comes before the
 * pure-JS cpu backend, which is an order of magnitude slower. */
const FALLBACK: Record<BackendName, BackendName[]> = {
  webgpu: ['webgpu', 'webgl', 'wasm', 'cpu'],
  webgl: ['webgl', 'wasm', 'cpu'],
  wasm: ['wasm', 'cpu'],
  cpu: ['cpu'],
};

/** Optional hook for the wasm backend's binary location (the app serves the
 * .wasm files itself; Node reads them from node_modules). */
let wasmPaths: string | Record<string, string> | undefined;
export function setWasmPaths(p: string | Record<string, string>): void {
  wasmPaths = p;
}

/** Starts tfjs's threaded wasm build with `threads` threads (2 to
 * MAX_WASM_THREADS) and returns its backend, or rejects saying why. Only the
 * browser has one (src/worker/wasm-threads.ts): tfjs-backend-wasm has no
 * threads in Node. */
export type ThreadedWasmStart = (threads: number) => Promise<tf.KernelBackend>;
let threadedWasm: ThreadedWasmStart | undefined;
export function setThreadedWasm(start: ThreadedWasmStart): void {
  threadedWasm = start;
}

/** Threads for the wasm backend: 0 is one per two logical cores (at most
 * MAX_WASM_THREADS), 1 the single-threaded build. Read when the wasm backend
 * is set up: a change applies at its next set-up (the worker restarts it). */
let wasmThreadsWanted = 0;
export function setWasmThreads(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_WASM_THREADS)
    throw new Error(`wasm threads: a whole number from 0 (one per core) to ${MAX_WASM_THREADS}, got ${n}`);
  wasmThreadsWanted = n;
}

/** What the wasm backend set up last computes with. */
let wasmThreadsNow: WasmThreads | undefined;

/** The threads to start for `wanted` (0, auto: one per two logical cores as
 * the browser counts them, tfjs's own rule, at most MAX_WASM_THREADS: on a
 * 2-core VM 2 threads measured no faster than 1, 0.96x and 1.00x on the small
 * preset, bench/results/2026-12-07-22-03-11-vm-chromium.json, and the page's
 * main thread needs a core too), and why the threaded
 * build can't be tried here (undefined: it can, or one thread was asked
 * for). Pure: exported for its test. */
export function planWasmThreads(o: {
  wanted: number;
  cores: number | undefined; // navigator.hardwareConcurrency
  crossOriginIsolated: boolean | undefined;
  sharedArrayBuffer: boolean;
  simd: boolean;
}): { threads: number; reason?: string } {
  const threads = o.wanted > 0 ? o.wanted : Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor((o.cores ?? 1) / 2)));
  if (threads === 1) return { threads };
  const reason = threadsBlocker(o);
  return reason ? { threads: 1, reason } : { threads };
}

function threadsBlocker(o: { crossOriginIsolated: boolean | undefined; sharedArrayBuffer: boolean; simd: boolean }): string | undefined {
  if (o.crossOriginIsolated === false)
    return 'the page is not cross-origin isolated (its server must send Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy)';
  if (!o.sharedArrayBuffer) return 'this browser has no SharedArrayBuffer';
  if (!o.simd) return 'this browser has no WebAssembly SIMD (the threaded build needs it)';
  return undefined;
}

/** The 'wasm' factory: the threaded build when it is wanted and can start,
 * else tfjs's own (single-threaded SIMD, or plain) with the reason. */
async function startWasm(single: () => tf.KernelBackend | Promise<tf.KernelBackend>): Promise<tf.KernelBackend> {
  wasmThreadsNow = undefined;
  // Node: tfjs-backend-wasm has no threads there, and nothing to show
  if (!threadedWasm) return single();
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const plan = planWasmThreads({
    wanted: wasmThreadsWanted,
    cores: (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency,
    crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated,
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    simd: (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true,
  });
  let reason = plan.reason;
  if (plan.threads > 1) {
    try {
      const backend = await threadedWasm(plan.threads);
      wasmThreadsNow = { count: wasm.getThreadsCount() };
      return backend;
    } catch (e) {
      reason = `the threads failed to start (${(e as Error).message})`;
    }
  }
  wasm.setThreadsCount(1);
  const backend = await single();
  wasmThreadsNow = { count: wasm.getThreadsCount(), ...(reason ? { reason } : {}) };
  return backend;
}

/** tfjs-backend-wasm's own priority for 'wasm' (only tf.ready() without a
 * backend asked for reads it). */
const WASM_PRIORITY = 2;

async function register(name: BackendName): Promise<void> {
  if (name === 'wasm' && tf.findBackendFactory(name)) shareWasmIdentity();
  if (tf.findBackendFactory(name)) return;
  switch (name) {
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return;
    case 'webgl':
      await import('@tensorflow/tfjs-backend-webgl');
      return;
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (wasmPaths !== undefined) wasm.setWasmPaths(wasmPaths as string);
      // tfjs's own set-up starts only the single-threaded builds: its
      // threaded one can't start from a bundled worker (src/worker/wasm-threads.ts
      // says why and starts it instead). Our factory picks between them.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      shareWasmIdentity();
      const single = tf.findBackendFactory('wasm');
      if (!single) throw new Error('tfjs-backend-wasm registered no backend');
      tf.removeBackend('wasm');
      tf.registerBackend('wasm', () => startWasm(single), WASM_PRIORITY);
      return;
    }
    case 'webgpu':
      await import('@tensorflow/tfjs-backend-webgpu');
      return;
  }
}

interface SetBackendOptions {
  /** How long the WebGPU adapter probe, and then tfjs's own set-up of a
   * backend, may take before we fall back. Switches run one at a time
   * (src/worker/session.ts), so a driver that never answers would otherwise
   * block every later switch, cpu included. */
  timeoutMs?: number;
  /** false: only `name` itself, no fallback (the CLI: an explicit backend
   * that can't be used is an error, and trying the others is wasted). */
  fallback?: boolean;
}

/** No backend of the chain could be set up; `reason` says why for each. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly asked: BackendName,
    readonly reason: string,
  ) {
    super(`no usable backend for ${asked}: ${reason}`);
  }
}

const DEFAULT_TIMEOUT_MS = 20_000;

/** `p`, or 'timeout' after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** tf.setBackend(name) with a deadline. tfjs cannot cancel a set-up, and one
 * that answered late would make its backend the active one behind our back:
 * removing the backend makes tfjs ignore the pending set-up, and registering
 * its factory again lets a later switch try afresh. Exported for its test. */
export async function initBackendWithin(name: string, ms: number): Promise<boolean> {
  const r = await within(tf.setBackend(name), ms);
  if (r !== 'timeout') return r;
  resetBackend(name);
  throw new Error(`its set-up gave no answer in ${ms / 1000} s`);
}

/** Removes `name` from tfjs on purpose and registers its factory again, so
 * that the next tf.setBackend(name) sets it up afresh (for webgpu: a new
 * adapter and device; for wasm: the thread count of setWasmThreads). Its old
 * device (if any) is retired first, so the loss this causes is never
 * reported, then destroyed to free its memory. Every tensor of the old
 * backend is invalid afterwards. */
export function resetBackend(name: string): void {
  const factory = tf.findBackendFactory(name);
  const w = watches.get(name);
  if (w) {
    w.retired = true;
    watches.delete(name);
  }
  if (factory) {
    try {
      tf.removeBackend(name); // disposes the old instance
    } catch {
      // a dead backend's dispose may throw: drop it from the engine anyway
      const engine = tf.engine() as unknown as { registry: Record<string, unknown>; backendName: string | null; backendInstance: unknown };
      delete engine.registry[name];
      if (engine.backendName === name) {
        engine.backendName = null;
        engine.backendInstance = null;
      }
    }
    tf.registerBackend(name, factory);
  }
  w?.release();
}

/** Whether a WebGL (2, else 1) context can be created here: tfjs's own
 * failure only says that its set-up returned false. The probe's context is
 * released at once. */
function canCreateWebGL(): boolean {
  for (const kind of ['webgl2', 'webgl'] as const) {
    try {
      const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
      const gl = canvas.getContext(kind) as WebGLRenderingContext | null;
      if (gl) {
        gl.getExtension('WEBGL_lose_context')?.loseContext();
        return true;
      }
    } catch {
      // try the next kind
    }
  }
  return false;
}

/** Why `name` cannot be used here (a probe, with its deadline), or
 * undefined when it looks usable. */
async function unavailableBecause(name: BackendName, ms: number): Promise<string | undefined> {
  if (name === 'webgpu') {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) return 'navigator.gpu is missing (this browser or context has no WebGPU)';
    try {
      const adapter = await within(gpu.requestAdapter(), ms);
      if (adapter === 'timeout') return `navigator.gpu.requestAdapter() gave no answer in ${ms / 1000} s`;
      if (!adapter) return 'navigator.gpu.requestAdapter() returned no adapter';
    } catch (e) {
      return `requestAdapter failed: ${(e as Error).message}`;
    }
  }
  if (name === 'webgl') {
    if (typeof OffscreenCanvas === 'undefined' && typeof document === 'undefined') return 'no OffscreenCanvas for WebGL in this context';
    if (!canCreateWebGL()) return 'no WebGL context (WebGL is off or unsupported here)';
  }
  if (name === 'wasm' && typeof WebAssembly === 'undefined') return 'no WebAssembly in this context';
  return undefined;
}

function adapterDescription(): string | undefined {
  const backend = tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } };
  const info = backend.adapterInfo;
  if (!info) return undefined;
  return [info.vendor, info.architecture].filter((s) => s).join(' ') || 'unknown adapter';
}

/** Make `name` the active backend, falling back (webgpu -> webgl -> wasm ->
 * cpu, webgl -> wasm -> cpu, wasm -> cpu) and saying why each one before the
 * one used was skipped. */
export async function setBackend(name: BackendName, o: SetBackendOptions = {}): Promise<BackendInfo> {
  const ms = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const skipped: string[] = [];
  for (const candidate of o.fallback === false ? [name] : FALLBACK[name]) {
    const problem = await unavailableBecause(candidate, ms);
    if (problem) {
      skipped.push(`${candidate}: ${problem}`);
      continue;
    }
    try {
      await register(candidate);
      // a backend whose device was lost is set up afresh, not reused
      if (backendLost(candidate)) resetBackend(candidate);
      const ok = await initBackendWithin(candidate, ms);
      if (!ok) throw new Error('its set-up failed (tf.setBackend returned false)');
      await tf.ready();
      watchBackend(candidate);
      const info: BackendInfo = { backend: tf.getBackend() };
      if (candidate === 'wasm' && wasmThreadsNow) info.threads = { ...wasmThreadsNow };
      if (candidate === 'webgpu') {
        info.adapter = adapterDescription();
        // our fused training kernels (src/core/fused), used while fusedActive()
        (await import('./fused/kernels')).registerFusedKernels();
        // the frozen projection over an f16 / int8 base (base-dtype.ts)
        (await import('./fused/packed')).registerPackedKernels();
        // tfjs-backend-webgpu 4.22 runs small ops on the CPU by default
        // (WEBGPU_CPU_FORWARD), reading GPU data back synchronously. In the
        // browser (Chromium + SwiftShader) that raced with queued commands in a
        // training step: the tied embedding's AdamW moments disagreed and the
        // loss went 6.26 -> 580,000 at step 2. All on the GPU, losses match the
        // cpu backend, and no step waits on a read-back.
        tf.env().set('WEBGPU_CPU_FORWARD', false);
      }
      if (candidate !== name) {
        info.fellBackFrom = name;
        info.reason = skipped.join('; ');
      }
      return info;
    } catch (e) {
      skipped.push(`${candidate}: ${(e as Error).message}`);
    }
  }
  throw new BackendUnavailableError(name, skipped.join('; ') || 'unknown reason');
}

// ---- a lost GPU device (WebGPU) or WebGL context ----
//
// A GPU device can be lost at any time: a driver crash or update, a GPU
// reset, the browser reclaiming memory, device.destroy(). tfjs does not
// notice: every later read-back of the backend fails (Dawn and Chromium: a
// DOMException "AbortError" with an empty message from mapAsync), and so do
// training, evaluation and saving, until the backend is set up again.
// setBackend watches every webgpu and webgl backend it sets up; a loss is
// recorded, reported to onBackendLost's listeners, and answered by
// recreateBackend. Losses we cause ourselves (resetBackend: the set-up
// timeout, recreateBackend) are never reported.

/** A backend whose device (WebGPU) or context (WebGL) was lost: unusable
 * until recreateBackend (or setBackend, which sets a lost backend up again). */
export interface BackendLoss {
  backend: string;
  /** For people: "the GPU device was lost (destroyed: device was destroyed)". */
  reason: string;
  /** GPUDeviceLostInfo.reason ('destroyed' | 'unknown'), or 'webglcontextlost'. */
  kind: string;
  /** GPUDeviceLostInfo.message (may be empty). */
  message: string;
  /** The first uncaptured GPU error before the loss, if any (a hint at why). */
  firstError?: string;
}

/** Uncaptured GPU errors of the current device of a backend (out-of-memory,
 * validation, internal): worth reporting, but only a loss makes the backend
 * unusable. */
interface BackendErrors {
  backend: string;
  first: string;
  count: number;
}

interface MinimalGPUDevice {
  lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
  addEventListener?(type: 'uncapturederror', fn: (ev: { error?: { message?: string; constructor?: { name?: string } } }) => void): void;
}
interface MinimalGL {
  canvas?: { addEventListener?(type: 'webglcontextlost', fn: () => void): void };
  isContextLost(): boolean;
  getExtension(name: 'WEBGL_lose_context'): { loseContext(): void } | null;
}

interface Watch {
  backend: string;
  instance: unknown;
  /** Set before we remove the backend ourselves: its loss is not news. */
  retired: boolean;
  lost?: BackendLoss;
  firstError?: string;
  errors: number;
  /** Resolves when the loss is recorded. */
  settled: Promise<void>;
  settle: () => void;
  /** Polls a loss that has no event yet (WebGL's isContextLost). */
  poll: () => void;
  /** Frees the device of a retired backend. */
  release: () => void;
  /** Loses the device on purpose (loseDeviceForTest). */
  lose: () => void;
}

const watches = new Map<string, Watch>();
const lossListeners = new Set<(loss: BackendLoss) => void>();

function markLost(w: Watch, kind: string, message: string): void {
  if (w.retired || w.lost || watches.get(w.backend) !== w) return;
  const what = w.backend === 'webgl' ? 'the WebGL context was lost' : 'the GPU device was lost';
  w.lost = {
    backend: w.backend,
    reason: `${what} (${kind}${message ? `: ${message}` : ''})`,
    kind,
    message,
    ...(w.firstError ? { firstError: w.firstError } : {}),
  };
  w.settle();
  for (const fn of [...lossListeners]) {
    try {
      fn(w.lost);
    } catch {
      // a listener's failure is its own
    }
  }
}

/** Starts watching the instance tfjs now holds for `name` (webgpu: its
 * GPUDevice's `lost` and `uncapturederror`; webgl: its canvas's
 * `webglcontextlost`). The same instance is watched once. */
function watchBackend(name: string): void {
  const instance = tf.findBackend(name) as unknown;
  if (!instance || watches.get(name)?.instance === instance) return;
  const old = watches.get(name);
  if (old) old.retired = true;
  let settle!: () => void;
  const settled = new Promise<void>((r) => (settle = r));
  const w: Watch = {
    backend: name,
    instance,
    retired: false,
    errors: 0,
    settled,
    settle,
    poll: () => undefined,
    release: () => undefined,
    lose: () => undefined,
  };
  if (name === 'webgpu') {
    const device = (instance as { device?: MinimalGPUDevice }).device;
    if (!device) return;
    void device.lost.then(
      (info) => markLost(w, info?.reason ?? 'unknown', info?.message ?? ''),
      () => undefined,
    );
    device.addEventListener?.('uncapturederror', (ev) => {
      w.errors++;
      if (w.firstError === undefined) {
        const e = ev.error;
        w.firstError = `${e?.constructor?.name ?? 'GPUError'}: ${(e?.message ?? '').trim()}`;
      }
    });
    w.release = () => {
      try {
        device.destroy();
      } catch {
        // already gone
      }
    };
    w.lose = () => device.destroy();
  } else if (name === 'webgl') {
    const gl = (instance as { gpgpu?: { gl?: MinimalGL } }).gpgpu?.gl;
    if (!gl) return;
    gl.canvas?.addEventListener?.('webglcontextlost', () => markLost(w, 'webglcontextlost', ''));
    w.poll = () => {
      if (gl.isContextLost()) markLost(w, 'webglcontextlost', '');
    };
    w.lose = () => {
      const ext = gl.getExtension('WEBGL_lose_context');
      if (!ext) throw new Error('this WebGL context cannot be lost on purpose (no WEBGL_lose_context)');
      ext.loseContext();
    };
  } else {
    return;
  }
  watches.set(name, w);
}

/** Whether the device (WebGPU) or context (WebGL) of backend `name` (the
 * active one by default) was lost: then every operation on it fails until
 * recreateBackend. undefined for a usable backend, and for cpu and wasm. */
export function backendLost(name: string | undefined = tf.getBackend() ?? undefined): BackendLoss | undefined {
  const w = name ? watches.get(name) : undefined;
  if (!w || w.retired) return undefined;
  if (!w.lost) w.poll();
  return w.lost;
}

/** After an operation failed: whether the active backend's device was
 * lost, waiting up to `ms` for the loss to be reported (a read-back may fail
 * a moment before the device's `lost` promise settles). Tells "the device
 * was lost" (recreate the backend and resume) from every other failure. */
export async function waitForBackendLoss(
  ms = 1000,
  name: string | undefined = tf.getBackend() ?? undefined,
): Promise<BackendLoss | undefined> {
  const w = name ? watches.get(name) : undefined;
  if (!w || w.retired) return undefined;
  if (!w.lost) w.poll();
  if (!w.lost) await within(w.settled, ms);
  return backendLost(name);
}

/** An operation failed, or was abandoned, because the device (or WebGL
 * context) of its backend was lost; `cause` is what the operation threw
 * (Dawn and Chromium: a DOMException "AbortError" with an empty message). */
export class BackendLostError extends Error {
  constructor(
    readonly loss: BackendLoss,
    override readonly cause?: unknown,
  ) {
    super(`${loss.backend}: ${loss.reason}; what it held is gone: set the backend up again and resume from the last checkpoint`);
    this.name = 'BackendLostError';
  }
}

const LOST = Symbol('lost');

/** Runs `op` (a training step, a save's read-back, an evaluation) on the
 * active backend and turns a lost device into BackendLostError: when `op`
 * fails and the device turns out to be lost (waiting up to `waitMs` for the
 * loss to be reported), when the device is lost while `op` is still pending
 * (a read-back that a lost device never answers would otherwise wait
 * forever), and at once when it was lost before. Other failures are
 * rethrown unchanged (only a bare AbortError or OperationError, or an
 * error without a message, waits for a loss report first); on cpu and wasm
 * this is just `op()`. The wait is long because such an error is a loss
 * almost always, and on a loaded machine Chromium settled `lost` more than
 * a second after a read-back's "Buffer was unmapped before mapping was
 * resolved" (the run then ended as failed instead of resuming). */
export async function guardBackendLoss<T>(op: () => Promise<T> | T, waitMs = 15_000): Promise<T> {
  const name = tf.getBackend() ?? undefined;
  const before = backendLost(name);
  if (before) throw new BackendLostError(before);
  const w = name ? watches.get(name) : undefined;
  let p: Promise<T>;
  try {
    p = Promise.resolve(op());
  } catch (e) {
    p = Promise.reject(e);
  }
  if (!w) return p;
  try {
    const r = await Promise.race([p, w.settled.then(() => LOST)]);
    if (r !== LOST) return r as T;
    p.catch(() => undefined); // it may still fail later: nobody is waiting
  } catch (e) {
    // a lost device's read-backs fail with a bare AbortError (Dawn,
    // Chromium), possibly just before `lost` settles: wait for it then; any
    // other failure is a loss only when one is reported already
    const bare =
      (e as Error | undefined)?.name === 'AbortError' ||
      (e as Error | undefined)?.name === 'OperationError' ||
      !(e as Error | undefined)?.message;
    const loss = bare ? await waitForBackendLoss(waitMs, name) : backendLost(name);
    if (loss) throw new BackendLostError(loss, e);
    throw e;
  }
  throw new BackendLostError(w.lost!);
}

/** Calls `listener` once for each lost device or context of a watched
 * backend (active or not: compare loss.backend with tf.getBackend()).
 * Returns the unsubscribe function. */
export function onBackendLost(listener: (loss: BackendLoss) => void): () => void {
  lossListeners.add(listener);
  return () => void lossListeners.delete(listener);
}

/** The uncaptured GPU errors of backend `name`'s current device (the
 * active backend by default): the first one's message and how many. */
export function backendErrors(name: string | undefined = tf.getBackend() ?? undefined): BackendErrors | undefined {
  const w = name ? watches.get(name) : undefined;
  return w && !w.retired && w.firstError !== undefined ? { backend: w.backend, first: w.firstError, count: w.errors } : undefined;
}

/** Sets backend `name` up again with a new device (WebGPU: a new adapter
 * and device; WebGL: a new context), after its device was lost; falls back
 * along setBackend's chain (webgpu -> webgl -> wasm -> cpu) when it can't,
 * and `reason` starts with the loss ("webgpu: the GPU device was lost
 * (...)"). With `fallback: false` (the CLI) it throws
 * BackendUnavailableError instead.
 *
 * Every tensor of the old backend is invalid afterwards, the model's
 * weights and optimizer moments included, and its values cannot be read
 * back (the data died with the device): the caller disposes its old Trainer
 * (before or after this; nothing is read from it) and re-creates the model
 * from its last checkpoint, `Trainer.restore(state, groups)` with a
 * TrainState it saved earlier. Work since that checkpoint is lost. */
export async function recreateBackend(name: BackendName, o: SetBackendOptions = {}): Promise<BackendInfo> {
  const loss = backendLost(name) ?? backendLost();
  resetBackend(name);
  const info = await setBackend(name, o);
  const lossReason = loss ? `${loss.backend}: ${loss.reason}` : `${name}: set up again`;
  return { ...info, reason: info.reason ? `${lossReason}; ${info.reason}` : lossReason };
}

/** TEST AND DIAGNOSTIC HOOK, never for normal use: loses the active
 * backend's device on purpose, as a driver crash or GPU reset would
 * (webgpu: GPUDevice.destroy(), reported as lost with kind 'destroyed';
 * webgl: WEBGL_lose_context.loseContext()). Everything on the device is
 * gone. Returns the backend's name; throws for a backend without a watched
 * device (cpu, wasm, or one not set up by setBackend). */
export function loseDeviceForTest(): string {
  const name = tf.getBackend();
  const w = name ? watches.get(name) : undefined;
  if (!w || w.retired) throw new Error(`loseDeviceForTest: the active backend (${name ?? 'none'}) has no GPU device set up by setBackend`);
  w.lose();
  return w.backend;
}
