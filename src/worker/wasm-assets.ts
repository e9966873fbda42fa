// The browser's tfjs setup shared by the app's worker and the browser bench's
// worker: gradient registration, the wasm binaries served by the app, and
// the threaded wasm build (src/worker/wasm-threads.ts).
import '../core/gradients-browser';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { setThreadedWasm, setWasmPaths } from '../core/backend';

// Vite serves these files itself (same origin, hashed names), which is what
// the CSP allows; tfjs's own set-up picks plain or SIMD by what the browser
// supports, and the threaded build is started by wasm-threads.ts (tfjs's
// set-up can't start it from a bundle).
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});
setThreadedWasm(async (threads) => (await import('./wasm-threads')).startThreadedWasm(threads, wasmThreaded));
