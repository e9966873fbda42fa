// The wasm thread plan (core/backend.ts planWasmThreads) and the badge's
// words for it (ui/backend-label.ts); the browser test
// (test/e2e/wasm-threads.test.ts) runs the threaded build itself.
import { describe, expect, it } from 'vitest';
import { planWasmThreads } from '../../src/core/backend';
import { MAX_WASM_THREADS } from '../../src/core/records';
import { backendLabel } from '../../src/ui/backend-label';

const isolated = { crossOriginIsolated: true, sharedArrayBuffer: true, simd: true };

describe('planWasmThreads', () => {
  it('auto is one thread per two logical cores, at most the pool of tfjs; a count asked for is taken', () => {
    expect(planWasmThreads({ wanted: 0, cores: 2, ...isolated })).toEqual({ threads: 1 });
    expect(planWasmThreads({ wanted: 0, cores: 8, ...isolated })).toEqual({ threads: 4 });
    expect(planWasmThreads({ wanted: 0, cores: 64, ...isolated })).toEqual({ threads: MAX_WASM_THREADS });
    expect(planWasmThreads({ wanted: 3, cores: 2, ...isolated })).toEqual({ threads: 3 });
  });

  it('one thread (asked for, or auto on one or two cores) needs no reason; no isolation says why', () => {
    expect(planWasmThreads({ wanted: 1, cores: 8, ...isolated })).toEqual({ threads: 1 });
    expect(planWasmThreads({ wanted: 1, cores: 8, ...isolated, crossOriginIsolated: false })).toEqual({ threads: 1 });
    expect(planWasmThreads({ wanted: 0, cores: 1, ...isolated })).toEqual({ threads: 1 });
    expect(planWasmThreads({ wanted: 0, cores: 4, ...isolated, crossOriginIsolated: false }).reason).toMatch(/not cross-origin isolated/);
    expect(planWasmThreads({ wanted: 2, cores: 4, ...isolated, sharedArrayBuffer: false })).toEqual({
      threads: 1,
      reason: 'this browser has no SharedArrayBuffer',
    });
    expect(planWasmThreads({ wanted: 0, cores: 4, ...isolated, simd: false }).reason).toMatch(/no WebAssembly SIMD/);
  });
});

describe('backendLabel', () => {
  it("names wasm's threads, and why only one when threads were wanted", () => {
    expect(backendLabel({ backend: 'wasm', threads: { count: 2 } })).toEqual({ text: 'backend: wasm · 2 threads', warn: false });
    expect(backendLabel({ backend: 'wasm', threads: { count: 1 } })).toEqual({ text: 'backend: wasm · 1 thread', warn: false });
    expect(backendLabel({ backend: 'wasm', threads: { count: 1, reason: 'this browser has no SharedArrayBuffer' } })).toEqual({
      text: 'backend: wasm · 1 thread (no threads: this browser has no SharedArrayBuffer)',
      warn: true,
    });
  });

  it('keeps the adapter and the fallback, and says nothing of threads elsewhere', () => {
    expect(backendLabel({ backend: 'webgpu', adapter: 'google swiftshader' }).text).toBe('backend: webgpu (google swiftshader)');
    expect(backendLabel({ backend: 'wasm', threads: { count: 2 }, fellBackFrom: 'webgpu', reason: 'webgpu: no adapter' })).toEqual({
      text: 'backend: wasm · 2 threads · fell back from webgpu: webgpu: no adapter',
      warn: true,
    });
  });
});
