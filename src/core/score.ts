// Per-token log-probabilities of a sequence under the student: what
// `mcckd score` prints and what the parity tests compare with the PyTorch
// reference of the Hugging Face math (support/hf_ref.py).

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config';
import { forwardHidden, headLogits, headParts, type Params } from './model';

/** logprobs[i] = log P(ids[i] | ids[0..i-1]); logprobs[0] is null (nothing
 * precedes it). Rows of the head are computed a chunk at a time so that a
 * large vocabulary never holds [T, V] at once beyond one chunk. */
export async function scoreIds(p: Params, c: ModelConfig, ids: readonly number[], chunk = 64): Promise<(number | null)[]> {
  if (ids.length === 0) return [];
  if (ids.length > c.blockSize) throw new Error(`${ids.length} tokens exceed the model's ${c.blockSize} positions`);
  for (const id of ids)
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize)
      throw new Error(`token id ${id} is outside the model's vocabulary of ${c.vocabSize}`);
  const n = ids.length - 1;
  const out: (number | null)[] = [null];
  if (n === 0) return out;
  const hidden = tf.tidy(() => tf.slice(forwardHidden(p, c, tf.tensor2d([...ids], [1, ids.length], 'int32')).hidden, [0, 0], [n, c.nEmbd])); // [n, d]
  try {
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const lp = tf.tidy(() => {
        const logits = headLogits(tf.slice(hidden, [s, 0], [m, c.nEmbd]), headParts(p, c)); // [m, d] @ [V, d]^T -> [m, V]
        const ls = tf.logSoftmax(logits);
        const flat = tf.add(
          tf.mul(tf.range(0, m, 1, 'int32'), tf.scalar(c.vocabSize, 'int32')),
          tf.tensor1d(ids.slice(s + 1, s + 1 + m), 'int32'),
        );
        return tf.gather(tf.reshape(ls, [m * c.vocabSize]), flat); // [m]
      });
      out.push(...(await lp.data()));
      lp.dispose();
    }
  } finally {
    hidden.dispose();
  }
  return out;
}
