import { defineConfig } from 'vite';

// The app is a static site: index.html + src/ui (DOM only) + a module worker
// (src/worker) that owns tfjs. Workers are ES modules so that backends can be
// code-split and imported lazily (src/core/backend.ts).
export default defineConfig({
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // tfjs-core plus one backend is ~1 MB minified; that is expected here.
    chunkSizeWarningLimit: 2500,
  },
});
