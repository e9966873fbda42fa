// Greedy decoding for evaluation. The cached decoder runs the prompt once and
// then one position per new token against stored keys/values; the full
// recompute decoder re-runs the whole sequence per token and exists to check
// the cache (tests) and to measure what the cache saves (bench).

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config';
import { forward, type LayerCache, type Params } from './model';

export interface DecodeOptions {
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
        return { next: tf.argMax(tf.slice(f.logits, [input.length - 1, 0], [1, -1]), 1), k: f.cache!.map((l) => l.k), v: f.cache!.map((l) => l.v) };
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
