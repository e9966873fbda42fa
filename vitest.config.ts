import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.ts';

// Two projects: fast unit tests (Node, tfjs cpu backend, fake-indexeddb) and
// browser end-to-end tests (real headless Chromium + SwiftShader WebGPU).
//
// Both run in one pool of WORKERS files at a time. Three on a 2-core machine:
// a whole `npm test` with two kept only 1.1 cores busy on average (user + sys
// 19.9 min over 18.2 min; files wait on pages, workers, child processes and
// polls), so a third file fills the gaps. Browser files may run side by
// side: each has its own `vite preview` on a free port, its own Chromium (its
// own profile) and fresh contexts (their own IndexedDB);
// test/e2e/global-setup.ts builds the app once before any of them, so none
// builds into a folder another is serving. Projects sharing a pool must have
// the same maxWorkers.
const WORKERS = 3;

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
