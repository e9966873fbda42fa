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
  reason?: string; // why the fallback happened
}

const FALLBACK: Record<BackendName, BackendName[]> = {
  webgpu: ['webgpu', 'webgl', 'cpu'],
  webgl: ['webgl', 'cpu'],
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
  /** How long to wait for navigator.gpu.requestAdapter() before falling
   * back. Switches run one at a time (src/worker/session.ts), so a driver that
   * never answers would otherwise block every later switch, cpu included. */
  adapterTimeoutMs?: number;
}

async function why(name: BackendName, o: SetBackendOptions): Promise<string | undefined> {
  if (name === 'webgpu') {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) return 'navigator.gpu is missing (this browser or context has no WebGPU)';
    const ms = o.adapterTimeoutMs ?? 20_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
    try {
      const adapter = await Promise.race([gpu.requestAdapter(), timeout]);
      if (adapter === 'timeout') return `navigator.gpu.requestAdapter() gave no answer in ${ms / 1000} s`;
      if (!adapter) return 'navigator.gpu.requestAdapter() returned no adapter';
    } catch (e) {
      return `requestAdapter failed: ${(e as Error).message}`;
    } finally {
      clearTimeout(timer);
    }
  }
  if (name === 'webgl' && typeof OffscreenCanvas === 'undefined' && typeof document === 'undefined') {
    return 'no OffscreenCanvas for WebGL in this context';
  }
  return undefined;
}

function adapterDescription(): string | undefined {
  const backend = tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } };
  const info = backend.adapterInfo;
  if (!info) return undefined;
  return [info.vendor, info.architecture].filter((s) => s).join(' ') || 'unknown adapter';
}

/** Make `name` the active backend, falling back (webgpu -> webgl -> cpu,
 * wasm -> cpu) and saying why when it can't. */
export async function setBackend(name: BackendName, o: SetBackendOptions = {}): Promise<BackendInfo> {
  let firstReason: string | undefined;
  for (const candidate of FALLBACK[name]) {
    const problem = await why(candidate, o);
    if (problem) {
      firstReason ??= `${candidate}: ${problem}`;
      continue;
    }
    try {
      await register(candidate);
      const ok = await tf.setBackend(candidate);
      if (!ok) throw new Error('tf.setBackend returned false');
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
        info.reason = firstReason;
      }
      return info;
    } catch (e) {
      firstReason ??= `${candidate}: ${(e as Error).message}`;
    }
  }
  throw new Error(`no usable backend for ${name}: ${firstReason ?? 'unknown reason'}`);
}
