// The browser's tfjs setup shared by the app's worker and the browser bench's
// worker: gradient registration and the wasm binaries served by the app.
import '../core/gradients-browser';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { setWasmPaths } from '../core/backend';

// Vite serves these files itself (same origin, hashed names), which is what
// the CSP allows; tfjs picks plain or SIMD by what the browser supports. The
// threaded build is never fetched (core/backend.ts turns threads off), but
// setWasmPaths refuses a map without it.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});
