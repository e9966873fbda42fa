// Greedy decoding for evaluation, and batched decoding (greedy or sampled). The cached decoder runs the prompt once and
// then one position per new token against stored keys/values; the full
// recompute decoder re-runs the whole sequence per token and exists to check
// the cache (tests) and to measure what the cache saves (bench).

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config';
import { forward, forwardHidden, headLogits, headParts, type LayerCache, type Params } from './model';
import { gatherRows } from './ops';
import type { Rng } from '../shared/rng';

interface DecodeOptions {
  maxNewTokens: number;
  eosId: number;
  useCache?: boolean; // default true
}

function disposeCache(c: LayerCache[] | undefined): void {
  for (const l of c ?? []) {
    l.k.dispose();
    l.v.dispose();
  }
}

/** Greedy continuation of `prompt`; stops at eos (not returned), at
 * maxNewTokens, or when the model's positions run out. */
export async function greedyDecode(p: Params, c: ModelConfig, prompt: readonly number[], o: DecodeOptions): Promise<number[]> {
  if (prompt.length === 0) throw new Error('cannot decode from an empty prompt');
  if (prompt.length > c.blockSize) throw new Error(`the prompt has ${prompt.length} tokens, the model only ${c.blockSize} positions`);
  const budget = Math.min(o.maxNewTokens, c.blockSize - prompt.length + 1);
  const out: number[] = [];
  if (o.useCache === false) {
    const seq = prompt.slice();
    while (out.length < budget) {
      const next = tf.tidy(() => {
        const { logits } = forward(p, c, tf.tensor2d(seq, [1, seq.length], 'int32'));
        return tf.argMax(tf.slice(logits, [seq.length - 1, 0], [1, -1]), 1); // [1]
      });
      const id = (await next.data())[0];
      next.dispose();
      if (id === o.eosId) break;
      out.push(id);
      seq.push(id);
      if (seq.length > c.blockSize) break;
    }
    return out;
  }
  let cache: LayerCache[] | undefined;
  let input: number[] = prompt.slice();
  try {
    while (out.length < budget) {
      const past = cache;
      const r = tf.tidy(() => {
        const f = forward(p, c, tf.tensor2d(input, [1, input.length], 'int32'), { past, wantCache: true });
        return {
          next: tf.argMax(tf.slice(f.logits, [input.length - 1, 0], [1, -1]), 1),
          k: f.cache!.map((l) => l.k),
          v: f.cache!.map((l) => l.v),
        };
      });
      disposeCache(past);
      cache = r.k.map((k, i) => ({ k, v: r.v[i] }));
      const id = (await r.next.data())[0];
      r.next.dispose();
      if (id === o.eosId) break;
      out.push(id);
      if (prompt.length + out.length > c.blockSize) break;
      input = [id];
    }
  } finally {
    disposeCache(cache);
  }
  return out;
}

/** Decoding of several prompts together (evaluation, sampled rationales). */
interface BatchDecodeOptions {
  maxNewTokens: number;
  eosId: number;
  /** Filler fed to rows that have stopped until the batch shrinks (any id). */
  padId: number;
  /** 0 or undefined: greedy (argmax). Otherwise sampling from softmax(z / T). */
  temperature?: number;
  /** One generator per row when sampling: a row's draws do not depend on
   * which rows share its batch, so results do not depend on batching. */
  rngs?: readonly Rng[];
}

/** Logits [R, V] of the last position of each row from hidden [R*t, d]. */
function lastLogits(p: Params, c: ModelConfig, hidden: tf.Tensor2D, rows: number, t: number): tf.Tensor2D {
  const last = gatherRows(
    hidden,
    tf.tensor1d(
      Array.from({ length: rows }, (_, r) => r * t + t - 1),
      'int32',
    ),
  ); // [R, d]
  return headLogits(last, headParts(p, c)); // [R, d] @ [V, d]^T -> [R, V]
}

/** The next token of each row: argmax, or inverse-CDF sampling with one
 * uniform draw per row from the host's seeded generators (R floats up, R
 * ints down; no [R, V] read-back even for a large vocabulary). */
function pick(logits: tf.Tensor2D, temperature: number, u: number[] | null): tf.Tensor1D {
  if (!u) return tf.argMax(logits, 1) as tf.Tensor1D; // [R]
  const [r, v] = logits.shape;
  const cdf = tf.cumsum(tf.softmax(tf.div(logits, temperature)), 1); // [R, V]
  // scaled by the row's total so that float rounding of the sum never lets u fall past the end
  const at = tf.mul(tf.tensor2d(u, [r, 1]), tf.slice(cdf, [0, v - 1], [r, 1])); // [R, 1]
  // the first k with cdf[k] > at: a zero-probability token is never drawn, even at u = 0
  return tf.minimum(tf.sum(tf.cast(tf.lessEqual(cdf, at), 'int32'), 1), tf.scalar(v - 1, 'int32')) as tf.Tensor1D; // [R]
}

/** Continuations of several prompts, decoded in lockstep with the KV cache.
 *
 * The forward has one position offset for the whole batch and no padding
 * mask, so rows are never padded: every row is fed its own tokens at its own
 * positions. The shortest prompt's length runs as one forward; after that
 * each step feeds one token per row, the row's next prompt token while its
 * prompt lasts (its output is ignored until its prompt's last token) and
 * its last generated token afterwards. A row stops at eos (not returned), at
 * maxNewTokens or when the model's positions run out, exactly as
 * greedyDecode stops; finished rows leave the cache (a gather) so that the
 * batch shrinks. Each row computes what it would alone (per-row matMuls,
 * softmaxes and norms), so on the cpu backend the tokens equal greedyDecode's
 * one prompt at a time. */
export async function decodeBatch(
  p: Params,
  c: ModelConfig,
  prompts: readonly (readonly number[])[],
  o: BatchDecodeOptions,
): Promise<number[][]> {
  const n = prompts.length;
  const outs: number[][] = prompts.map(() => []);
  if (n === 0) return outs;
  for (const q of prompts) {
    if (q.length === 0) throw new Error('cannot decode from an empty prompt');
    if (q.length > c.blockSize) throw new Error(`the prompt has ${q.length} tokens, the model only ${c.blockSize} positions`);
  }
  const sampling = (o.temperature ?? 0) > 0;
  if (sampling && (!o.rngs || o.rngs.length !== n)) throw new Error('sampling needs one generator per prompt');
  const budget = prompts.map((q) => Math.max(0, Math.min(o.maxNewTokens, c.blockSize - q.length + 1)));
  let active = prompts.map((_, i) => i).filter((i) => budget[i] > 0); // rows in the cache, in its order
  const shortest = Math.min(...active.map((i) => prompts[i].length));
  let input: number[][] = active.map((i) => prompts[i].slice(0, shortest));
  let pos = 0; // tokens each cached row holds
  let cache: LayerCache[] | undefined;
  try {
    while (active.length > 0) {
      const rows = active.length;
      const t = input[0].length;
      // a row draws only when this step gives it a token: draws stay per row
      const emits = active.map((i) => pos + t - 1 >= prompts[i].length - 1);
      const u = sampling ? active.map((i, k) => (emits[k] ? o.rngs![i].next() : 0)) : null;
      const past = cache;
      const r = tf.tidy(() => {
        const f = forwardHidden(p, c, tf.tensor2d(input.flat(), [rows, t], 'int32'), { past, wantCache: true });
        return {
          next: pick(lastLogits(p, c, f.hidden, rows, t), o.temperature ?? 0, u),
          k: f.cache!.map((l) => l.k),
          v: f.cache!.map((l) => l.v),
        };
      });
      disposeCache(past);
      cache = r.k.map((k, i) => ({ k, v: r.v[i] }));
      const ids = Array.from(await r.next.data());
      r.next.dispose();
      pos += t;
      const keep: number[] = [];
      active.forEach((i, k) => {
        let done = false;
        if (emits[k]) {
          if (ids[k] === o.eosId) done = true;
          else {
            outs[i].push(ids[k]);
            done = outs[i].length >= budget[i] || prompts[i].length + outs[i].length > c.blockSize;
          }
        }
        if (!done && pos >= c.blockSize) done = true; // no position left for the next input
        if (!done) keep.push(k);
      });
      if (keep.length < active.length && keep.length > 0) {
        const old = cache;
        cache = tf.tidy(() => {
          const idx = tf.tensor1d(keep, 'int32');
          return old.map((l) => ({ k: tf.gather(l.k, idx) as tf.Tensor4D, v: tf.gather(l.v, idx) as tf.Tensor4D })); // [R', Hkv, P, hd]
        });
        disposeCache(old);
      }
      active = keep.map((k) => active[k]);
      input = active.map((i) => [pos < prompts[i].length ? prompts[i][pos] : outs[i][outs[i].length - 1]]);
    }
  } finally {
    disposeCache(cache);
  }
  return outs;
}
