// Backend selection shared by the browser worker and the Node CLI.
// Backends are imported lazily: tfjs-backend-webgpu registers itself only if
// navigator.gpu exists at import time, so Node must install Dawn's
// navigator.gpu (src/cli/node-gpu.ts) before the first call here.

import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from './config';

export interface BackendInfo {
  backend: string; // what tf.getBackend() reports after setup
  adapter?: string; // GPU adapter description, when known
  fellBackFrom?: string; // the backend asked for, when another one was used
  reason?: string; // why the fallback happened: "name: why" for each one skipped, joined by "; "
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

async function register(name: BackendName): Promise<void> {
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
      // On a cross-origin-isolated page tfjs picks its threaded build, whose
      // pthread workers fail to start from our bundled module worker
      // ("Uncaught ErrorEvent", measured by the browser bench); the SIMD
      // build runs everywhere. Node never uses threads.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      return;
    }
    case 'webgpu':
      await import('@tensorflow/tfjs-backend-webgpu');
      return;
  }
}

export interface SetBackendOptions {
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
  constructor(readonly asked: BackendName, readonly reason: string) {
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
  const factory = tf.findBackendFactory(name);
  tf.removeBackend(name);
  if (factory) tf.registerBackend(name, factory);
  throw new Error(`its set-up gave no answer in ${ms / 1000} s`);
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
      const ok = await initBackendWithin(candidate, ms);
      if (!ok) throw new Error('its set-up failed (tf.setBackend returned false)');
      await tf.ready();
      const info: BackendInfo = { backend: tf.getBackend() };
      if (candidate === 'webgpu') {
        info.adapter = adapterDescription();
        // our fused training kernels (src/core/fused), used while fusedActive()
        (await import('./fused/kernels')).registerFusedKernels();
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
