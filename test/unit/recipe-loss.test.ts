// The recipe's batch and loss (src/export/recipe/train_mcckd.py) against ours
// (core/batch.ts buildBatch, core/losses.ts mcckdLoss) on the same questions
// and logits: the same rows, targets, CE weights and KL rows, bit for bit, and
// the same loss within 1e-6 (the recipe in float64, ours in float32); the loss
// cut into two parts normalized by the whole batch's counts (gradient
// accumulation, DDP) adds up to the whole.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBatch, type EncodedRationale } from '../../src/core/batch';
import { mcckdLoss } from '../../src/core/losses';
import { lossInputs } from '../../src/core/trainer';
import { PY, PY_ENV, pythonMissing } from '../../support/python';
import { ROOT } from '../../support/cli';

const missing = pythonMissing('torch');
const V = 37;
const ALPHA = 0.7;
const TEMP = 1.6;

/** Deterministic numbers in [0, 1) (an LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** prompt (p tokens) + rationale (n tokens, its answer `answer` at the end, then one
 * more token) + end token 0. */
function rationale(rnd: () => number, p: number, n: number, answer: number[]): EncodedRationale {
  const tok = (): number => 1 + Math.floor(rnd() * (V - 1));
  const prompt = Array.from({ length: p }, tok);
  const body = Array.from({ length: n }, tok);
  const ids = [...prompt, ...body, ...answer, tok(), 0];
  const spanStart = p + n;
  return { ids, promptLen: p, spanStart, spanEnd: spanStart + answer.length };
}

describe.skipIf(missing)('the recipe loss equals ours', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });

  it('same batch arrays; loss, CE and KL within 1e-6; the split loss adds up', () => {
    const rnd = lcg(7);
    const groups: EncodedRationale[][] = [
      [rationale(rnd, 5, 7, [3, 4]), rationale(rnd, 5, 3, [3, 4])], // a pair, two answer tokens
      [rationale(rnd, 4, 2, [9]), rationale(rnd, 4, 11, [9]), rationale(rnd, 4, 6, [9])], // one token
      [rationale(rnd, 6, 4, [5, 6, 7])], // a single rationale: no CE in its second row, no pair
      [rationale(rnd, 3, 5, [8, 2]), rationale(rnd, 3, 5, [8, 1])], // different answers: no pair
      [rationale(rnd, 2, 20, [4, 4, 4]), rationale(rnd, 2, 1, [4, 4, 4])], // the longest span
    ];
    const picks: [number, number, number | null][] = [
      [0, 0, 1],
      [1, 2, 0],
      [2, 0, null],
      [3, 1, 0],
      [4, 1, 0],
      [1, 1, 2],
    ];
    const b = buildBatch(
      picks.map(([g, i, j]) => ({ a: groups[g][i], b: j === null ? null : groups[g][j] })),
      { blockSize: 64, padId: 0 },
    );
    const logits = Float32Array.from({ length: b.rows * b.time * V }, () => (rnd() * 2 - 1) * 4);
    const ours = tf.tidy(() => {
      const l = mcckdLoss(tf.tensor2d(logits, [b.rows * b.time, V]), lossInputs(b), ALPHA, TEMP);
      return { loss: l.loss.dataSync()[0], ce: l.ce.dataSync()[0], kl: l.kl.dataSync()[0] };
    });
    const input = {
      groups: groups.map((rs) => ({ rationales: rs.map((r) => ({ ids: r.ids, ce_start: r.promptLen, span: [r.spanStart, r.spanEnd] })) })),
      picks,
      settings: { alpha: ALPHA, temperature: TEMP, block_size: 64, pad_id: 0, pad_multiple: 16 },
      logits: Array.from(logits),
      vocab: V,
    };
    const r = spawnSync(PY, [path.join(ROOT, 'support/recipe_check.py')], { input: JSON.stringify(input), env: PY_ENV, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const theirs = JSON.parse(r.stdout) as Record<string, number | number[]>;
    expect([theirs.rows, theirs.time, theirs.pairs, theirs.span]).toEqual([b.rows, b.time, b.pairs, b.span]);
    expect(b.pairs * b.span).toBeGreaterThan(0);
    expect(theirs.ids).toEqual(Array.from(b.ids));
    expect(theirs.targets).toEqual(Array.from(b.targets));
    expect(theirs.weight).toEqual(Array.from(b.ceWeight));
    expect(theirs.kl_a).toEqual(Array.from(b.klA));
    expect(theirs.kl_b).toEqual(Array.from(b.klB));
    expect(theirs.kl_mask).toEqual(Array.from(b.klMask));
    // every kind of pair is there: counted, uncounted
    expect(Array.from(b.klMask).filter((x) => x === 1).length).toBe(2 + 1 + 3 + 1);
    const diff = {
      loss: Math.abs((theirs.loss as number) - ours.loss),
      ce: Math.abs((theirs.ce as number) - ours.ce),
      kl: Math.abs((theirs.kl as number) - ours.kl),
    };
    console.log(
      `recipe vs ours (float64 vs float32): max abs diff loss ${diff.loss.toExponential(2)}, ce ${diff.ce.toExponential(2)}, kl ${diff.kl.toExponential(2)}`,
    );
    expect(ours.kl).toBeGreaterThan(0.01); // the KL term is not vanishing
    expect(diff.loss).toBeLessThan(1e-6);
    expect(diff.ce).toBeLessThan(1e-6);
    expect(diff.kl).toBeLessThan(1e-6);
    expect(Math.abs((theirs.split as number) - (theirs.loss as number))).toBeLessThan(1e-12);
  });
});
