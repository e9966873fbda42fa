import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.ts';

// Two projects: fast unit tests (Node, tfjs cpu backend, fake-indexeddb) and
// browser end-to-end tests (real headless Chromium + SwiftShader WebGPU).
//
// Both run in one pool of WORKERS files at a time (vitest's default is one
// fewer than the cores: a single file at a time on a 2-core machine, while
// most test files keep one core busy: the tfjs cpu backend, a child process,
// a page waiting on its worker). Two at a time, a browser file's waits overlap
// with unit files. Browser files may run side by side: each has its own
// `vite preview` on a free port, its own Chromium (its own profile) and fresh
// contexts (their own IndexedDB); test/e2e/global-setup.ts builds the app
// once before any of them, so none builds into a folder another is serving.
// Projects sharing a pool must have the same maxWorkers.
const WORKERS = 2;

export default defineConfig({
  test: {
    // the longest files first, across both projects (test/sequencer.ts)
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['test/unit/setup.ts'],
          maxWorkers: WORKERS,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/e2e/global-setup.ts'],
          maxWorkers: WORKERS,
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
