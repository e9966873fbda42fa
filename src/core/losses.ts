// The MCC-KD objective: token-level cross-entropy over rationale and answer
// tokens, plus a symmetric KL between the student's answer distributions
// after two different rationales of the same question. Both branches get
// gradients (no stop-gradient), as in the MCC-KD paper.

import * as tf from '@tensorflow/tfjs-core';
import { gatherRows, sparseCrossEntropy } from './ops';

/** The device side of a batch (see batch.ts for the layout). */
interface LossInputs {
  targets: tf.Tensor1D; // [R*T] int32
  ceWeight: tf.Tensor1D; // [R*T] 1 on rationale/answer/eos targets, 0 on question and padding
  klA: tf.Tensor1D; // [P*S] int32 rows of the logits predicting answer token s after rationale i
  klB: tf.Tensor1D; // [P*S] the same after rationale j
  klMask: tf.Tensor2D; // [P, S] 1 where the pair's answer span has a token s
}

/** 0.5 * (KL(P||Q) + KL(Q||P)) per row, P = softmax(za / T), Q = softmax(zb / T). */
export function symmetricKL(za: tf.Tensor2D, zb: tf.Tensor2D, temperature: number): tf.Tensor1D {
  const lp = tf.logSoftmax(tf.div(za, temperature));
  const lq = tf.logSoftmax(tf.div(zb, temperature));
  const diff = tf.sub(lp, lq); // [M, V]
  // P(lp - lq) + Q(lq - lp) = (P - Q)(lp - lq)
  return tf.mul(0.5, tf.sum(tf.mul(tf.sub(tf.exp(lp), tf.exp(lq)), diff), 1)) as tf.Tensor1D;
}

/** The head's outputs the loss needs: the per-token CE [R*T] and, for the
 * KL term, the logits at the answer rows after rationale i and j [P*S, V]. */
interface HeadOutputs {
  perTok: tf.Tensor1D;
  za: tf.Tensor2D | null; // null when the batch has no answer span
  zb: tf.Tensor2D | null;
}

/** The MCC-KD loss from the head's outputs. */
export function mcckdLossFrom(
  h: HeadOutputs,
  b: LossInputs,
  alpha: number,
  temperature: number,
): { loss: tf.Scalar; ce: tf.Scalar; kl: tf.Scalar } {
  const ce = tf.div(tf.sum(tf.mul(h.perTok, b.ceWeight)), tf.maximum(tf.sum(b.ceWeight), 1)) as tf.Scalar;
  const [p, s] = b.klMask.shape;
  let kl: tf.Scalar = tf.scalar(0);
  if (p * s > 0 && h.za && h.zb) {
    const per = tf.mul(tf.reshape(symmetricKL(h.za, h.zb, temperature), [p, s]), b.klMask); // [P, S]
    const n = tf.sum(b.klMask, 1); // [P]
    const has = tf.cast(tf.greater(n, 0), 'float32');
    const perPair = tf.div(tf.sum(per, 1), tf.maximum(n, 1)); // [P]
    kl = tf.div(tf.sum(tf.mul(perPair, has)), tf.maximum(tf.sum(has), 1)) as tf.Scalar;
  }
  // alpha = 0 is the plain multi-rationale baseline: the loss is exactly the
  // CE; KL is still computed (cheap, P*S rows) so both runs chart it.
  const loss = alpha > 0 ? (tf.add(ce, tf.mul(kl, alpha)) as tf.Scalar) : ce;
  return { loss, ce, kl };
}

/** Mean CE over weighted tokens; the span-mean then pair-mean of KL_sym over
 * pairs that have an answer span; from the whole logits [R*T, V]. */
export function mcckdLoss(
  logits: tf.Tensor2D,
  b: LossInputs,
  alpha: number,
  temperature: number,
): { loss: tf.Scalar; ce: tf.Scalar; kl: tf.Scalar } {
  const spans = b.klMask.shape[0] * b.klMask.shape[1] > 0;
  return mcckdLossFrom(
    {
      perTok: sparseCrossEntropy(logits, b.targets),
      za: spans ? gatherRows(logits, b.klA) : null,
      zb: spans ? gatherRows(logits, b.klB) : null,
    },
    b,
    alpha,
    temperature,
  );
}
