// Browser-safe entry point of the checkpoint module (worker and UI).
// runDir.ts is Node-only and deliberately not re-exported here.

export * from './safetensors';
export * from './format';
export * from './store';
export { Xxh32, xxh32, Fnv1a64, fingerprintBytes, fingerprintText } from './hash';
