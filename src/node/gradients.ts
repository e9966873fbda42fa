// tfjs-core registers op gradients in a separate ESM module
// (dist/register_all_gradients.js) that Node cannot import: its relative
// imports have no file extensions. Bundlers (Vite, for the app) resolve them;
// in Node we bundle that one module with esbuild (a dependency of tsx) into a
// CommonJS file once, cache it, and require it. The bundle carries its own copy
// of the ops the gradients call, but tfjs keeps the engine and the registries
// on globalThis, so both copies drive the same engine.

import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

function cacheFile(): string {
  const version = (require('@tensorflow/tfjs-core/package.json') as { version: string }).version;
  const name = `tfjs-core-${version}-gradients.cjs`;
  const nm = path.dirname(path.dirname(path.dirname(require.resolve('@tensorflow/tfjs-core/package.json'))));
  for (const dir of [path.join(nm, '.cache', 'mcckd'), path.join(tmpdir(), 'mcckd-cache')]) {
    try {
      mkdirSync(dir, { recursive: true });
      return path.join(dir, name);
    } catch {
      // read-only node_modules: try the next place
    }
  }
  throw new Error('no writable cache directory for the tfjs gradient bundle');
}

export function registerNodeGradients(): void {
  if (tf.getGradient('BatchMatMul')) return;
  const out = cacheFile();
  if (!existsSync(out)) {
    const esbuild = require('esbuild') as typeof import('esbuild');
    const tmp = `${out}.${process.pid}.tmp`;
    esbuild.buildSync({
      entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
      bundle: true,
      format: 'cjs',
      platform: 'node',
      outfile: tmp,
      logLevel: 'silent',
    });
    // rename is atomic: parallel test workers never read a half-written file
    require('node:fs').renameSync(tmp, out);
  }
  require(out);
  if (!tf.getGradient('BatchMatMul')) throw new Error('tfjs gradients could not be registered');
}
