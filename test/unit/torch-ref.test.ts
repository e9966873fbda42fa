// Our training step against PyTorch's (Debian's python3-torch), from the same
// initial weights (our own .safetensors export) on the same batches: the GPT,
// the MCC-KD loss, AdamW and clipping must compute the same thing. Skipped
// when torch is not installed (the bench installs it).
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { torchReference } from '../../support/torch';
import { PY } from '../../support/python';

const hasTorch = spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasTorch)('PyTorch reference', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('three training steps give the same losses as PyTorch', async () => {
    const r = await torchReference('tiny', { checkSteps: 3, timedSteps: 1, torchVersion: 'test' });
    expect(r.theirs.length).toBe(3);
    expect(r.initialLossDiff).toBeLessThan(1e-4);
    r.ours.forEach((o, i) => {
      expect(Math.abs(o.loss - r.theirs[i].loss)).toBeLessThan(1e-4);
      expect(Math.abs(o.kl - r.theirs[i].kl)).toBeLessThan(1e-5);
    });
    // the steps changed the weights: losses are not all equal
    expect(new Set(r.ours.map((o) => o.loss)).size).toBe(3);
  });
});
