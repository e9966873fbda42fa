// Our training step against PyTorch's (support/python.ts's python: the
// .venv's PyTorch wheel, or Debian's python3-torch), from the same initial
// weights (our own .safetensors export) on the same batches: the GPT, the
// MCC-KD loss, AdamW and clipping must compute the same thing; and the result
// says which PyTorch ran on how many threads (the bench's ratios compare one
// thread with one). Skipped when torch is not installed (the bench installs it).
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BENCH_TORCH_THREADS, torchLabel, torchReference } from '../../support/torch';
import { PY, PY_SOURCE } from '../../support/python';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const hasTorch = spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasTorch)('PyTorch reference', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('three training steps give the same losses as PyTorch', async () => {
    const r = await torchReference('tiny', { checkSteps: 3, timedSteps: 1 });
    expect(r.theirs.length).toBe(3);
    expect(r.initialLossDiff).toBeLessThan(1e-4);
    r.ours.forEach((o, i) => {
      expect(Math.abs(o.loss - r.theirs[i].loss)).toBeLessThan(1e-4);
      expect(Math.abs(o.kl - r.theirs[i].kl)).toBeLessThan(1e-5);
    });
    // the steps changed the weights: losses are not all equal
    expect(new Set(r.ours.map((o) => o.loss)).size).toBe(3);
    // which PyTorch: the one the python imports, on the bench's thread count
    // (the wheel's default is every core), and its build named
    expect(r.threads).toBe(BENCH_TORCH_THREADS);
    expect(r.torch).toMatch(/^\d+\.\d+/);
    expect(r.torchPath).toContain('torch');
    if (PY_SOURCE === '.venv') expect(r.build).toBe('wheel');
    if (PY === '/usr/bin/python3') expect(r.build).toBe('debian');
    expect(torchLabel(r)).toContain(`PyTorch ${r.torch} (`);
    expect(torchLabel(r)).toMatch(/, 1 thread\)$/);
  });

  // the build each python's torch reports: Debian's python3-torch and pip's
  // wheel (each checked where this machine has it)
  it.each([
    ['/usr/bin/python3', 'debian'],
    [path.join(ROOT, '.venv/bin/python'), 'wheel'],
  ])('%s: torch_info says %s', (python, build) => {
    const r = spawnSync(
      python,
      [
        '-c',
        `import sys, json; sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'support'))}); from torch_ref import torch_info; print(json.dumps(torch_info()))`,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      },
    );
    if (r.status !== 0) return void console.warn(`torch-ref: ${python} cannot import torch; build check skipped`);
    expect(JSON.parse(r.stdout).build).toBe(build);
  });
});
