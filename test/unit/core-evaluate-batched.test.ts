// Batched decoding and evaluation against one-prompt-at-a-time decoding, on
// the cpu backend, where each row of a batch computes exactly what it would
// alone: the tokens must be equal, not merely close.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Trainer } from '../../src/core/trainer';
import { decodeBatch, greedyDecode } from '../../src/core/generate';
import { answerKLs, evaluateConsistency, evaluateGreedy, promptIdsOf, type EvalModel } from '../../src/core/evaluate';
import { gradeGeneration } from '../../src/data/answer';
import { forward, type Params } from '../../src/core/model';
import { symmetricKLOf } from '../../src/core/consistency';
import { Rng } from '../../src/shared/rng';
import type { EvalItem } from '../../src/data/types';
import { toyGroups, tinyConfig } from './core-helpers';

const micro = { nLayer: 2, nEmbd: 32, nHead: 2, blockSize: 96 };
let t: Trainer;
let m: EvalModel;

beforeAll(async () => {
  await tf.setBackend('cpu');
  t = await Trainer.create({ groups: toyGroups(6), trainConfig: tinyConfig({ steps: 2 }), datasetFingerprint: 'x', modelOverrides: micro });
  m = { params: t.variables as Params, modelConfig: t.modelConfig, tokenizer: t.tokenizer };
});
afterAll(() => t.dispose());

/** Prompts of mixed lengths; the last leaves only a few positions. */
function prompts(): number[][] {
  const rng = new Rng(5);
  return [3, 9, 1, 9, 20, 92].map((n) => Array.from({ length: n }, () => 2 + rng.int(t.modelConfig.vocabSize - 2)));
}

describe('decodeBatch', () => {
  it('greedy: equals greedyDecode one prompt at a time, with and without the cache, rows stopping at different steps', async () => {
    const ps = prompts();
    // an untrained model never says eos by itself (and repeats one token):
    // call row 0's first token the end, so that rows stop at their own times
    const free = await greedyDecode(m.params, m.modelConfig, ps[0], { maxNewTokens: 10, eosId: -1 });
    const eosId = free[0];
    const o = { maxNewTokens: 10, eosId };
    const one = [];
    for (const p of ps) one.push(await greedyDecode(m.params, m.modelConfig, p, o));
    const noCache = [];
    for (const p of ps) noCache.push(await greedyDecode(m.params, m.modelConfig, p, { ...o, useCache: false }));
    expect(noCache).toEqual(one);
    const before = tf.memory().numTensors;
    const batched = await decodeBatch(m.params, m.modelConfig, ps, { ...o, padId: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(batched).toEqual(one);
    expect(batched[0]).toEqual([]); // stopped at the chosen end token
    expect(batched[5].length).toBe(micro.blockSize - 92 + 1); // stopped where the positions run out
    expect(new Set(batched.map((r) => r.length)).size).toBeGreaterThan(1);
  });

  it('sampling: each row draws from its own generator, so a batch equals each row alone', async () => {
    const ps = prompts();
    const o = { maxNewTokens: 8, eosId: -1, padId: 0, temperature: 1.5 };
    const together = await decodeBatch(m.params, m.modelConfig, ps, { ...o, rngs: ps.map((_, i) => new Rng(100 + i)) });
    for (let i = 0; i < ps.length; i++) {
      const alone = await decodeBatch(m.params, m.modelConfig, [ps[i]], { ...o, rngs: [new Rng(100 + i)] });
      expect(alone[0]).toEqual(together[i]);
    }
    // and a sample is not the greedy path (a flat untrained model at T = 1.5)
    const greedy = await decodeBatch(m.params, m.modelConfig, ps, { ...o, temperature: 0 });
    expect(together).not.toEqual(greedy);
  });
});

const items: EvalItem[] = toyGroups(7).map((g) => ({
  id: g.id,
  question: g.question.replace('apples', g.id.length % 2 ? 'apples' : 'red apples'),
  answer: g.answer,
}));

describe('evaluation', () => {
  it('Trainer.evaluate in batches equals one question at a time and the full-recompute decoder', async () => {
    const o = { taskType: 'number' as const, maxNewTokens: 6 };
    const batched = await t.evaluate(items, { ...o, batchSize: 4 });
    const single = await t.evaluate(items, { ...o, batchSize: 1 });
    // the reference: each question decoded alone without the KV cache, graded as evaluation grades
    const recompute = [];
    for (const it of items) {
      const ids = await greedyDecode(m.params, m.modelConfig, promptIdsOf(m, it.question), {
        maxNewTokens: 6,
        eosId: t.tokenizer.eosId,
        useCache: false,
      });
      recompute.push(gradeGeneration(it, t.tokenizer.decode(ids), 'number'));
    }
    expect(batched).toEqual(single);
    expect(batched.samples).toEqual(recompute);
    expect(batched.correct).toBe(recompute.filter((x) => x.correct).length);
    expect(batched.total).toBe(7);
  });

  it('consistency: seeded (same numbers for any batch size), and no tensor left behind', async () => {
    const o = { taskType: 'number' as const, samples: 3, temperature: 1.2, seed: 9, maxNewTokens: 6 };
    const a = await evaluateConsistency(m, items, { ...o, batchSize: 5 });
    const before = tf.memory().numTensors;
    const b = await evaluateConsistency(m, items, { ...o, batchSize: 16 });
    await evaluateGreedy(m, items, { taskType: 'number', maxNewTokens: 6 });
    expect(tf.memory().numTensors).toBe(before);
    expect(b).toEqual(a);
    expect(a.questions).toBe(7);
    expect(a.samplesPerQuestion).toBe(3);
    const c = await evaluateConsistency(m, items, { ...o, seed: 10 });
    expect(c.examples.map((e) => e.answers)).not.toEqual(a.examples.map((e) => e.answers));
  });

  it('answer KL: the device pairwise formula equals KL_sym of the distributions from a plain forward', async () => {
    const texts = [
      '4 + 3 = 7.\nTherefore, the answer is 7.',
      'Seven apples, so the answer is 7',
      'I think the answer is 12.',
      'no cue here',
    ];
    const before = tf.memory().numTensors;
    const [kl] = await answerKLs(m, items.slice(0, 1), texts, 4, { klTemperature: 1, batchSize: 16 });
    expect(tf.memory().numTensors).toBe(before);
    // the reference: the whole example through the forward, the row before the answer
    const dists: number[][] = [];
    const prompt = `Q: ${items[0].question}\nA: `;
    for (const text of texts.slice(0, 3)) {
      const start = text.lastIndexOf('answer is ') + 'answer is '.length;
      const e = t.tokenizer.example(prompt, {
        text,
        answerStart: start,
        answerEnd: start + (text.slice(start).match(/^\d+/)?.[0].length ?? 1),
      });
      const probs = tf.tidy(() =>
        tf.softmax(
          tf.slice(forward(m.params, m.modelConfig, tf.tensor2d(e.ids, [1, e.ids.length], 'int32')).logits, [e.spanStart - 1, 0], [1, -1]),
        ),
      );
      dists.push(Array.from(await probs.data()));
      probs.dispose();
    }
    const pairs = [symmetricKLOf(dists[0], dists[1]), symmetricKLOf(dists[0], dists[2]), symmetricKLOf(dists[1], dists[2])];
    const want = pairs.reduce((s, x) => s + x, 0) / 3;
    expect(want).toBeGreaterThan(0);
    expect(kl).not.toBeNull();
    expect(Math.abs(kl! - want)).toBeLessThan(1e-5 + 1e-3 * want);
    // one sample with a cue is no pair
    const [none] = await answerKLs(m, items.slice(0, 1), [texts[0], 'x', 'y', 'z'], 4, { klTemperature: 1, batchSize: 16 });
    expect(none).toBeNull();
  });
});
