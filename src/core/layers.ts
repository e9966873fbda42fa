// The generic pieces every family's block is made of: the per-call context,
// the (LoRA-aware) linear projection, head split/merge, RoPE tables per layer
// kind, and the attention core with its per-layer options (scale, sliding
// window, logit soft-cap) over an optional KV cache.

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './records';
import { matMul2d, project, ropeTables } from './ops';
import { fusedActive, fusedCausalSoftmax } from './fused/ops';
import { packedProjection } from './fused/packed';

export type Params = Map<string, tf.Variable>;

/** One layer's key/value cache for incremental decoding (after RoPE, before
 * the grouped heads are repeated). */
export interface LayerCache {
  k: tf.Tensor4D; // [R, Hkv, P, hd]
  v: tf.Tensor4D; // [R, Hkv, P, hd]
}

/** RoPE's cos and sin for this call's positions, [t, hd] each. */
export interface RopeTable {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
}

/** What every block reads: the parameters, the config and per-call tables. */
export interface Ctx {
  p: Params;
  c: ModelConfig;
  loraScale: number;
  /** Conv1D [in, out] (GPT-2) or nn.Linear [out, in]. */
  layout: 'in-out' | 'out-in';
  /** RoPE tables by layer kind (one kind, 'global', unless a family has layers with their own base). */
  rope?: Record<string, RopeTable>;
  /** The same on the host: recomputed blocks make their own (the forward's are gone by the backward). */
  ropeHost?: { tables: Record<string, { cos: Float32Array; sin: Float32Array }>; t: number; hd: number };
}

/** Sets k's RoPE tables for positions pLen..pLen+t-1, one per kind (base
 * theta); on the host only when the blocks are recomputed. */
export function setRope(k: Ctx, thetas: Record<string, number>, pLen: number, t: number, hd: number, recompute: boolean): void {
  const tables: Record<string, { cos: Float32Array; sin: Float32Array }> = {};
  for (const [kind, theta] of Object.entries(thetas)) tables[kind] = ropeTables(pLen, t, hd, theta);
  if (recompute) k.ropeHost = { tables, t, hd };
  else k.rope = ropeTensors({ tables, t, hd });
}

/** Device tables from host ones. */
export function ropeTensors(h: NonNullable<Ctx['ropeHost']>): Record<string, RopeTable> {
  const out: Record<string, RopeTable> = {};
  for (const [kind, tb] of Object.entries(h.tables))
    out[kind] = { cos: tf.tensor2d(tb.cos, [h.t, h.hd]), sin: tf.tensor2d(tb.sin, [h.t, h.hd]) };
  return out;
}

/** The parameter `name` (a missing one is a bug in a family's table). */
export function param(k: Ctx, name: string): tf.Variable {
  const w = k.p.get(name);
  if (!w) throw new Error(`missing parameter ${name}`);
  return w;
}

/** A projection of x [N, in] by the module `pre`, its bias when it has one,
 * and its LoRA update when the module is adapted. */
export function linear(x: tf.Tensor2D, k: Ctx, pre: string): tf.Tensor2D {
  // a frozen base weight held in f16 or int8 (base-dtype.ts): our kernel, bias included
  const packed = packedProjection(x, k.p, pre); // [N, in] @ [out, in]^T -> [N, out]
  if (packed) return withLora(packed, x, k, pre);
  const w = param(k, `${pre}.weight`) as tf.Tensor2D;
  // a frozen base weight (LoRA) gets no gradient and no transposed copy (ops.ts frozenMatMul)
  let y = project(x, w, k.layout === 'out-in'); // [N, in] @ [in, out]  (or [N, in] @ [out, in]^T)
  const b = k.p.get(`${pre}.bias`);
  if (b) y = tf.add(y, b);
  return withLora(y, x, k, pre);
}

/** y plus module `pre`'s LoRA update of x, when the module is adapted. */
function withLora(y: tf.Tensor2D, x: tf.Tensor2D, k: Ctx, pre: string): tf.Tensor2D {
  const a = k.p.get(`${pre}.lora_A.weight`) as tf.Tensor2D | undefined;
  if (!a) return y;
  const low = matMul2d(x, a, true); // [N, in] @ [r, in]^T -> [N, r]
  const up = matMul2d(low, param(k, `${pre}.lora_B.weight`) as tf.Tensor2D, true); // [N, r] @ [out, r]^T -> [N, out]
  return tf.add(y, tf.mul(up, k.loraScale));
}

/** [R*t, n*hd] -> [R, n, t, hd]. */
export function splitHeads(m: tf.Tensor2D, r: number, t: number, n: number, hd: number): tf.Tensor4D {
  return tf.transpose(tf.reshape(m, [r, t, n, hd]), [0, 2, 1, 3]);
}

/** [R, H, t, hd] -> [R*t, H*hd]. */
export function mergeHeads(y: tf.Tensor4D): tf.Tensor2D {
  const [r, h, t, hd] = y.shape;
  return tf.reshape<tf.Rank.R2>(tf.transpose(y, [0, 2, 1, 3]), [r * t, h * hd]);
}

/** A layer's attention options. */
export interface AttnOptions {
  scale: number; // multiplies q.k (1/sqrt(hd) unless the family says otherwise)
  /** Sliding window: query at absolute position i sees key j only when i - window < j <= i. */
  window?: number;
  /** Logit soft-cap: scores become tanh(s / cap) * cap (after the scale, before the mask). */
  softcap?: number;
}

/** Layer i's attention options from the config: the scale (attnScale, else
 * 1/sqrt(headDim)), the window of a 'sliding' layer, the logit soft-cap. */
export function attnOptionsOf(c: ModelConfig, i: number, headDim: number): AttnOptions {
  const o: AttnOptions = { scale: c.attnScale ?? 1 / Math.sqrt(headDim) };
  if (c.layerTypes?.[i] === 'sliding') o.window = c.slidingWindow;
  if (c.attnSoftcap !== undefined) o.softcap = c.attnSoftcap;
  return o;
}

/** The RoPE kind layer i reads ('local' for a sliding layer with its own base). */
export const ropeKindOf = (c: ModelConfig, i: number): string =>
  c.layerTypes?.[i] === 'sliding' && c.ropeLocalTheta !== undefined ? 'local' : 'global';

/** The RoPE bases a model needs tables for, by kind. */
export function ropeThetasOf(c: ModelConfig, theta: number): Record<string, number> {
  return c.layerTypes?.includes('sliding') && c.ropeLocalTheta !== undefined
    ? { global: theta, local: c.ropeLocalTheta }
    : { global: theta };
}

/** The visibility mask as an additive bias [t, P+t]: 0 where query i
 * (absolute position P+i) sees key j, -1e9 elsewhere. Built on the host. */
export function attentionBias(t: number, pLen: number, window?: number): tf.Tensor2D {
  const n = pLen + t;
  const bias = new Float32Array(t * n);
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < n; j++) {
      const visible = j <= pLen + i && (window === undefined || j > pLen + i - window);
      if (!visible) bias[i * n + j] = -1e9;
    }
  }
  return tf.tensor2d(bias, [t, n]);
}

/** softmax over keys of the scaled (and soft-capped) scores [R, H, t, P+t]
 * with the causal (and window) mask. */
function maskedSoftmax(scores: tf.Tensor4D, o: AttnOptions, pLen: number): tf.Tensor4D {
  const t = scores.shape[2];
  const bites = o.window !== undefined && pLen + t > o.window; // a window no key lies outside of changes nothing
  // The fused WebGPU kernel knows only scale + causal mask: a window that
  // bites or a soft-cap takes the plain ops.
  if (fusedActive() && !bites && o.softcap === undefined) return fusedCausalSoftmax(scores, o.scale, pLen);
  let att = tf.mul(scores, o.scale);
  if (o.softcap !== undefined) att = tf.mul(tf.tanh(tf.div(att, o.softcap)), o.softcap);
  if (bites) att = tf.add(att, attentionBias(t, pLen, o.window));
  else if (t > 1) {
    // the causal mask as it always was (kept op for op: seeded runs are unchanged)
    const keep = tf.linalg.bandPart(tf.ones([t, pLen + t]), -1, pLen); // [t, P+t]
    att = tf.add(att, tf.mul(tf.sub(1, keep), -1e9));
  }
  return tf.softmax(att) as tf.Tensor4D;
}

/** Key/value heads repeated for grouped-query attention: kv head j serves
 * query heads j*rep .. j*rep+rep-1 (transformers' repeat_kv). */
function repeatKv(x: tf.Tensor4D, rep: number): tf.Tensor4D {
  if (rep === 1) return x;
  const [r, hkv, t, hd] = x.shape;
  const wide = tf.broadcastTo(tf.reshape(x, [r * hkv, 1, t * hd]), [r * hkv, rep, t * hd]); // [R*Hkv, rep, t*hd]
  return tf.reshape(wide, [r, hkv * rep, t, hd]); // [R, H, t, hd]
}

/** The attention core: q [R, H, t, hd] over this call's k, v [R, Hkv, t, hd]
 * (after RoPE) and the cached ones of P earlier positions; returns the heads'
 * output [R, H, t, hd] and the layer's full cache. */
export function attend(
  q: tf.Tensor4D,
  k0: tf.Tensor4D,
  v0: tf.Tensor4D,
  o: AttnOptions,
  past?: LayerCache,
): { y: tf.Tensor4D; cache: LayerCache } {
  const kAll = past ? (tf.concat([past.k, k0], 2) as tf.Tensor4D) : k0; // [R, Hkv, P+t, hd]
  const vAll = past ? (tf.concat([past.v, v0], 2) as tf.Tensor4D) : v0;
  const pLen = past ? past.k.shape[2] : 0;
  const rep = q.shape[1] / k0.shape[1];
  const scores = tf.matMul(q, repeatKv(kAll, rep), false, true) as tf.Tensor4D; // [R, H, t, hd] @ [R, H, hd, P+t] -> [R, H, t, P+t]
  const y = tf.matMul(maskedSoftmax(scores, o, pLen), repeatKv(vAll, rep)) as tf.Tensor4D; // [R, H, t, P+t] @ [R, H, P+t, hd] -> [R, H, t, hd]
  return { y, cache: { k: kAll, v: vAll } };
}
