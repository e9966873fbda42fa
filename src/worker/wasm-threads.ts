// The threaded SIMD build of tfjs-backend-wasm, started in our bundled
// module worker (core/backend.ts asks for it through setThreadedWasm).
//
// tfjs's own init() cannot start it here. It hands emscripten's pthread
// workers the glue script as a Blob of `factory.toString()`, which each
// pthread worker loads with importScripts(blob:...):
// - our CSP refuses it (script-src 'self': a blob worker inherits the policy
//   of the worker that made it): "Failed to execute 'importScripts' ... failed
//   to load";
// - and after Vite's minification that function refers to names of the
//   enclosing bundle that a pthread worker does not have: "e is not defined".
// Here the pthread workers load the package's own glue file instead, served
// by Vite from this origin (an asset, not minified), by its absolute URL (a
// blob worker has no base URL to resolve a path against). The pthread
// worker script itself stays a blob (worker-src allows blob:).
//
// tfjs also caps its thread pool at half of navigator.hardwareConcurrency
// (it assumes two hyper-threads per core) and at 8, whatever setThreadsCount
// asks: on a 2-core machine, 1 thread. Its C code reads the core count from
// one wasm import, emscripten_num_logical_cores, which we answer so that
// the cap is the count asked for.

import type { KernelBackend } from '@tensorflow/tfjs-core';
import glueUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?url';
import type { BackendWasmThreadedSimdModule } from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd';

/** What emscripten reads from the object it is started with (the glue's
 * `Module`: it also fills it, PThread included). */
interface ThreadedConfig {
  mainScriptUrlOrBlob: string;
  locateFile(path: string, prefix: string): string;
  printErr(text: string): void;
  instantiateWasm(imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void): object;
  onAbort(what: unknown): void;
  PThread?: { unusedWorkers: Worker[]; runningWorkers: Worker[] };
}

/** The module as emscripten gives it, before tfjs's wrappers are added. */
type RawModule = BackendWasmThreadedSimdModule & {
  cwrap<F>(name: string, returns: 'number' | null, args: 'number'[]): F;
};
type ThreadedFactory = (config: ThreadedConfig) => Promise<RawModule>;

/** How long the threaded build may take to start (its 8 pthread workers each
 * load the glue and instantiate the module) before the single-threaded
 * build is used instead. */
const START_MS = 10_000;

/** Starts the threaded build with `threads` threads (2 to 8) and returns
 * tfjs's wasm backend over it. Rejects, with the pthread workers stopped,
 * when a pthread worker fails or the start takes over START_MS. `wasmUrl`:
 * the threaded .wasm as the app serves it. */
export async function startThreadedWasm(threads: number, wasmUrl: string): Promise<KernelBackend> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const glue = await import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  // @ts-expect-error: a CommonJS file without types; its one export is this string
  const { wasmWorkerContents } = (await import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const factory = ((glue as { default?: unknown }).default ?? glue) as unknown as ThreadedFactory;
  const here = self.location.href;
  // The worker script's "\n" escapes became newlines in its template
  // string; a blob wants them escaped again (as tfjs does).
  const pthreadScript = URL.createObjectURL(new Blob([wasmWorkerContents.replace(/\n/g, '\\n')], { type: 'application/javascript' }));

  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const config: ThreadedConfig = {
    mainScriptUrlOrBlob: new URL(glueUrl, here).href,
    locateFile: (path, prefix) => {
      if (path.endsWith('.worker.js')) return pthreadScript;
      if (path.endsWith('.wasm')) return new URL(wasmUrl, here).href;
      return prefix + path;
    },
    // tfjs's threads = min(asked, 8, logical cores / 2): say there are twice as many
    instantiateWasm: (imports, receive) => {
      const env = { ...imports.env, emscripten_num_logical_cores: () => 2 * threads };
      WebAssembly.instantiateStreaming(fetch(new URL(wasmUrl, here).href, { credentials: 'same-origin' }), { ...imports, env }).then(
        (r) => receive(r.instance, r.module),
        (e: unknown) => fail(new Error(`the threaded .wasm did not load: ${(e as Error).message ?? String(e)}`)),
      );
      return {}; // emscripten waits for receive()
    },
    // emscripten reports a pthread worker's failure here, then throws it
    printErr: (text) => {
      if (text.startsWith('worker sent an error!')) fail(new Error(text.replace(/^worker sent an error! /, 'a thread failed: ')));
      else console.warn(text);
    },
    onAbort: (what) => fail(new Error(`the threaded module aborted: ${String(what)}`)),
  };
  // A pthread worker's failure goes on to the page as this worker's own
  // error unless cancelled, and so does emscripten's throw of it: while the
  // threads start, a failure is the start's (the single-threaded build is
  // used instead), not the page's.
  let starting = true;
  const swallow = (e: ErrorEvent): void => {
    if (starting && typeof ErrorEvent !== 'undefined' && e.error instanceof ErrorEvent) {
      e.preventDefault();
      fail(new Error(`a thread failed: ${e.error.message}`));
    }
  };
  const threadFailed = (e: ErrorEvent): void => {
    if (!starting) return;
    e.preventDefault();
    fail(new Error(`a thread failed: ${e.message}`));
  };
  const pool = (): Worker[] => [...(config.PThread?.unusedWorkers ?? []), ...(config.PThread?.runningWorkers ?? [])];
  self.addEventListener('error', swallow);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`its threads did not start in ${START_MS / 1000} s`)), START_MS);
  });
  try {
    wasm.setThreadsCount(threads);
    const started = factory(config); // creates the pool's workers at once
    for (const w of pool()) w.addEventListener('error', threadFailed);
    const module = await Promise.race([started, failed, late]);
    // the C functions tfjs's own init() wraps for BackendWasm
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    const backend = new wasm.BackendWasm(module);
    starting = false; // a thread failing from now on is a real failure
    return backend;
  } catch (e) {
    // stop the pool, its other workers' failures (emscripten would throw them) unheard
    for (const w of pool()) {
      w.onerror = null;
      w.onmessage = null;
      w.terminate();
    }
    throw e;
  } finally {
    clearTimeout(timer);
    self.removeEventListener('error', swallow);
  }
}
