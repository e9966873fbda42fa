// The student: a decoder-only GPT (pre-LayerNorm blocks, learned positions,
// GELU MLP, causal self-attention, output head tied to the token embedding).
// Parameters live in a Map named as Hugging Face GPT-2 names them; Conv1D
// weights are [in, out] as GPT-2 stores them, so x @ W needs no transpose.

import * as tf from '@tensorflow/tfjs-core';
import { paramShapes, type ModelConfig } from './config';
import type { TensorMap } from './state';
import { Rng } from '../shared/rng';
import { gatherRows, gelu, layerNorm, matMul2d } from './ops';
import { fusedActive, fusedCausalSoftmax } from './fused/ops';

export type Params = Map<string, tf.Variable>;

/** GPT-2 initialization, drawn from our own RNG so that every backend starts
 * from the same weights: N(0, 0.02), residual projections scaled by
 * 1/sqrt(2 * nLayer), zero biases, unit LayerNorm gains. */
export function initParams(c: ModelConfig, seed: number): TensorMap {
  const rng = new Rng(seed);
  const out: TensorMap = {};
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('.bias')) {
      // zeros
    } else if (/ln_\d\.weight$|ln_f\.weight$/.test(name)) data.fill(1);
    else {
      const std = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * c.nLayer) : 0.02;
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    }
    out[name] = { shape, data };
  }
  return out;
}

/** One layer's key/value cache for incremental decoding. */
export interface LayerCache {
  k: tf.Tensor4D; // [R, H, P, hd]
  v: tf.Tensor4D; // [R, H, P, hd]
}

function linear(x: tf.Tensor2D, p: Params, pre: string): tf.Tensor2D {
  return tf.add(matMul2d(x, p.get(`${pre}.weight`)! as tf.Tensor2D), p.get(`${pre}.bias`)!) as tf.Tensor2D; // [N, in] @ [in, out]
}

/** Causal self-attention over x [R, t, d], with optional cached keys/values
 * of P earlier positions; returns the output and this call's full k/v. */
function attention(x: tf.Tensor3D, p: Params, pre: string, c: ModelConfig, past?: LayerCache): { y: tf.Tensor3D; cache: LayerCache } {
  const [r, t, d] = x.shape;
  const h = c.nHead;
  const hd = d / h;
  const qkv = linear(tf.reshape(x, [r * t, d]), p, `${pre}.c_attn`); // [R*t, 3d]
  const heads = (m: tf.Tensor2D): tf.Tensor4D => tf.transpose(tf.reshape(m, [r, t, h, hd]), [0, 2, 1, 3]); // [R, H, t, hd]
  const [q, k0, v0] = tf.split(qkv, 3, 1).map((m) => heads(m as tf.Tensor2D));
  const k = past ? tf.concat([past.k, k0], 2) : k0; // [R, H, P+t, hd]
  const v = past ? tf.concat([past.v, v0], 2) : v0;
  const pLen = past ? past.k.shape[2] : 0;
  const scores = tf.matMul(q, k, false, true) as tf.Tensor4D; // [R, H, t, hd] @ [R, H, hd, P+t] -> [R, H, t, P+t]
  const y = tf.matMul(causalSoftmax(scores, 1 / Math.sqrt(hd), pLen), v); // [R, H, t, P+t] @ [R, H, P+t, hd] -> [R, H, t, hd]
  const merged = tf.reshape<tf.Rank.R2>(tf.transpose(y, [0, 2, 1, 3]), [r * t, d]); // [R*t, d]
  const out = tf.reshape(linear(merged, p, `${pre}.c_proj`), [r, t, d]) as tf.Tensor3D;
  return { y: out, cache: { k: k as tf.Tensor4D, v: v as tf.Tensor4D } };
}

/** softmax(scale * scores) where query i (absolute position P+i) sees keys j <= P+i. */
function causalSoftmax(scores: tf.Tensor4D, scale: number, pLen: number): tf.Tensor4D {
  if (fusedActive()) return fusedCausalSoftmax(scores, scale, pLen);
  const t = scores.shape[2];
  let att = tf.mul(scores, scale);
  if (t > 1) {
    const keep = tf.linalg.bandPart(tf.ones([t, pLen + t]), -1, pLen); // [t, P+t]
    att = tf.add(att, tf.mul(tf.sub(1, keep), -1e9));
  }
  return tf.softmax(att) as tf.Tensor4D;
}

function mlp(x: tf.Tensor3D, p: Params, pre: string): tf.Tensor3D {
  const [r, t, d] = x.shape;
  const hdn = gelu(linear(tf.reshape(x, [r * t, d]), p, `${pre}.c_fc`)) as tf.Tensor2D; // [R*t, 4d]
  return tf.reshape(linear(hdn, p, `${pre}.c_proj`), [r, t, d]); // [R, t, d]
}

export interface ForwardOptions {
  /** Key/value caches from earlier calls, one per layer (decoding). */
  past?: LayerCache[];
  /** Return the new caches (decoding). */
  wantCache?: boolean;
}

/** ids [R, t] int32 -> logits [R*t, V] and, when asked, the layer caches. */
export function forward(p: Params, c: ModelConfig, ids: tf.Tensor2D, o: ForwardOptions = {}): { logits: tf.Tensor2D; cache?: LayerCache[] } {
  const [r, t] = ids.shape;
  const d = c.nEmbd;
  const pLen = o.past ? o.past[0].k.shape[2] : 0;
  if (pLen + t > c.blockSize) throw new Error(`sequence of ${pLen + t} tokens exceeds the model's ${c.blockSize} positions`);
  const wte = p.get('transformer.wte.weight')! as tf.Tensor2D;
  const tok = tf.reshape(gatherRows(wte, tf.reshape(ids, [r * t])), [r, t, d]); // [R, t, d]
  const pos = tf.slice(p.get('transformer.wpe.weight')! as tf.Tensor2D, [pLen, 0], [t, d]); // [t, d]
  let x = tf.add(tok, pos) as tf.Tensor3D;
  const caches: LayerCache[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    const pre = `transformer.h.${i}`;
    const a = attention(layerNorm(x, p.get(`${pre}.ln_1.weight`)!, p.get(`${pre}.ln_1.bias`)!, c.layerNormEps) as tf.Tensor3D, p, `${pre}.attn`, c, o.past?.[i]);
    x = tf.add(x, a.y);
    x = tf.add(x, mlp(layerNorm(x, p.get(`${pre}.ln_2.weight`)!, p.get(`${pre}.ln_2.bias`)!, c.layerNormEps) as tf.Tensor3D, p, `${pre}.mlp`));
    if (o.wantCache) caches.push(a.cache);
  }
  x = layerNorm(x, p.get('transformer.ln_f.weight')!, p.get('transformer.ln_f.bias')!, c.layerNormEps) as tf.Tensor3D;
  const logits = matMul2d(tf.reshape(x, [r * t, d]), wte, true); // [R*t, d] @ [d, V]
  return o.wantCache ? { logits, cache: caches } : { logits };
}

export function createVariables(weights: TensorMap, c: ModelConfig): Params {
  const p: Params = new Map();
  for (const [name, shape] of paramShapes(c)) {
    const w = weights[name];
    if (!w) throw new Error(`missing parameter ${name}`);
    if (w.shape.length !== shape.length || w.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`parameter ${name} has shape [${w.shape}], the config needs [${shape}]`);
    }
    const init = tf.tensor(w.data, shape, 'float32');
    // tfjs variable names are global: two trainers (a comparison) must not clash
    p.set(name, tf.variable(init, true, `${name}#${Math.random().toString(36).slice(2)}`));
    init.dispose();
  }
  return p;
}

export async function readVariables(p: Map<string, tf.Variable>): Promise<TensorMap> {
  const out: TensorMap = {};
  for (const [name, v] of p) out[name] = { shape: v.shape.slice(), data: (await v.data()) as Float32Array };
  return out;
}
