// What the classroom view draws (src/worker/classroom.ts): for one question,
// the student's answer distributions (at the KL temperature) after two of its
// rationales, the KL_sym between them and their overlap.

import * as tf from '@tensorflow/tfjs-core';
import type { QuestionGroup } from '../data/types';
import { buildBatch } from './batch';
import type { EvalModel } from './evaluate';
import { symmetricKL } from './losses';
import { forward } from './model';
import { gatherRows } from './ops';
import { encodeGroups } from './trainer';

export interface AnswerDistributions {
  tokens: string[]; // labels of the top tokens at the first answer position
  p: number[][]; // [answer position][top token] after rationale i
  q: number[][]; // the same after rationale j
  kl: number; // KL_sym averaged over the answer span
  /** Index in `tokens` of the gold answer's first token (added after the top
   * tokens when it is not among them). */
  correct: number;
  /** Overlap of the two whole next-token distributions, sum_v min(p_v, q_v)
   * (1 - total variation: 1 when they are the same, 0 when they share no
   * token), averaged over the answer span. */
  overlap: number;
  /** Tokens in the answer span (what `kl` and `overlap` average over). */
  span: number;
}

/** The distributions after rationales i and j of `group`, with the topN
 * tokens of the first answer position (and the gold one) labelled. */
export async function answerDistributions(
  m: EvalModel,
  temperature: number,
  group: QuestionGroup,
  i: number,
  j: number,
  topN: number,
): Promise<AnswerDistributions> {
  const enc = encodeGroups(m.tokenizer, [group], m.modelConfig.blockSize, Math.max(i, j) + 1, m.promptTemplate).groups[0];
  if (!enc || enc.rationales.length <= Math.max(i, j)) throw new Error('this question has too few rationales that fit the model');
  const ra = enc.rationales[i];
  const rb = enc.rationales[j];
  if (!ra || !rb) throw new Error('this question has too few rationales that fit the model');
  const b = buildBatch([{ a: ra, b: rb }], { blockSize: m.modelConfig.blockSize, padId: m.tokenizer.padId });
  if (b.pairs === 0) throw new Error('the two rationales do not end in the same answer tokens');
  const T = temperature;
  const t = tf.tidy(() => {
    const logits = forward(m.params, m.modelConfig, tf.tensor2d(b.ids, [b.rows, b.time], 'int32')).logits;
    const za = gatherRows(logits, tf.tensor1d(b.klA, 'int32'));
    const zb = gatherRows(logits, tf.tensor1d(b.klB, 'int32'));
    return { p: tf.softmax(tf.div(za, T)), q: tf.softmax(tf.div(zb, T)), kl: symmetricKL(za, zb, T) };
  });
  const [p, q, kl] = (await Promise.all([t.p.array(), t.q.array(), t.kl.data()])) as [number[][], number[][], Float32Array];
  tf.dispose([t.p, t.q, t.kl]);
  const S = b.span;
  const mean = (xs: ArrayLike<number>): number =>
    Array.from(xs)
      .slice(0, S)
      .reduce((s, x) => s + x, 0) / S;
  // the whole distributions are on the host already: their overlap needs no GPU pass
  const overlap = p.map((row, s) => row.reduce((sum, x, k) => sum + Math.min(x, q[s]![k]!), 0));
  const first = p[0]!
    .map((x, k) => [x + q[0]![k]!, k] as const)
    .sort((x, y) => y[0] - x[0])
    .slice(0, topN)
    .map((x) => x[1] as number);
  const gold = ra.ids[ra.spanStart]!;
  if (!first.includes(gold)) first.push(gold);
  return {
    tokens: first.map((k) => m.tokenizer.tokenLabel(k)),
    p: p.slice(0, S).map((row) => first.map((k) => row[k]!)),
    q: q.slice(0, S).map((row) => first.map((k) => row[k]!)),
    kl: mean(kl),
    correct: first.indexOf(gold),
    overlap: Math.min(1, mean(overlap)),
    span: S,
  };
}
