// Qwen3 (Qwen3ForCausalLM: Qwen3-0.6B, 1.7B, ...): transformers'
// modeling_qwen3.py. The LLaMA-like decoder without q/k/v biases, with an
// explicit head_dim (H * head_dim need not be hidden_size: q_proj is
// [H*hd, d], o_proj [d, H*hd]) and a per-head RMSNorm on q and k
// (self_attn.q_norm / k_norm, gain [head_dim]) over each head's hd values,
// after the projection and before RoPE.

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config';
import { attend, attnOptionsOf, linear, mergeHeads, param, ropeKindOf, type Ctx, type LayerCache } from '../layers';
import { applyRope, rmsNorm } from '../ops';
import { dimsOf } from './dims';
import { defineFamily, type HfRead, type HfReader, type PlanAdd } from './family';
import { layer, llamaCount, llamaLike, llamaShapes, planLlamaBlock, projectQkv, readLlamaHf, rms, swiglu, widths } from './llama-like';

const isSet = (v: unknown): boolean => v !== undefined && v !== null;

/** config.json -> our config, with Qwen3's refusals (each names its field). */
function readQwen3(c: Record<string, unknown>, r: HfReader): HfRead {
  if (c.attention_bias === true) r.fail('"attention_bias": true is not supported');
  if (c.use_sliding_window === true) r.fail('"use_sliding_window": true is not supported');
  // transformers 5 writes the layer kinds out; a sliding one would need use_sliding_window
  if (isSet(c.layer_types) && (!Array.isArray(c.layer_types) || c.layer_types.some((x) => x !== 'full_attention'))) {
    r.fail(`"layer_types" ${JSON.stringify(c.layer_types)} is not supported (only "full_attention")`);
  }
  // Qwen3Config defaults head_dim to 128, not hidden_size / heads as LLaMA
  // does; every released config names it, so an absent one is refused
  // rather than guessed
  if (!isSet(c.head_dim)) r.fail('"head_dim" is missing (Qwen3Config would take 128, not hidden_size / num_attention_heads): name it');
  // transformers 5 saves RoPE as rope_parameters {rope_type, rope_theta}
  // instead of rope_theta: only the plain (default) RoPE is supported
  let theta: number | undefined;
  if (isSet(c.rope_parameters)) {
    const p = c.rope_parameters as Record<string, unknown>;
    const extra =
      typeof p === 'object' && !Array.isArray(p) ? Object.keys(p).filter((k) => k !== 'rope_type' && k !== 'rope_theta') : ['?'];
    if (extra.length || (p.rope_type ?? 'default') !== 'default')
      r.fail(`"rope_parameters" ${JSON.stringify(p)} is not supported (only {"rope_type": "default", "rope_theta": ...})`);
    if (isSet(p.rope_theta) && (typeof p.rope_theta !== 'number' || !(p.rope_theta > 0) || !Number.isFinite(p.rope_theta)))
      r.fail(`"rope_parameters.rope_theta" must be a positive number, got ${JSON.stringify(p.rope_theta)}`);
    if (isSet(p.rope_theta) && isSet(c.rope_theta) && p.rope_theta !== c.rope_theta)
      r.fail(`"rope_parameters.rope_theta" ${String(p.rope_theta)} and "rope_theta" ${String(c.rope_theta)} differ`);
    theta = p.rope_theta as number | undefined;
  }
  // rope_scaling, hidden_act, head sizes and GQA are read (and refused) as for LLaMA
  const read = readLlamaHf(c, r, false, { explicitHeadDim: true });
  // our config records headDim only when it is not hidden/heads; Qwen3's
  // q/k norms size from it either way (dimsOf gives the same number)
  return theta === undefined ? read : { ...read, config: { ...read.config, ropeTheta: theta } };
}

/** Per layer, after o_proj: the q and k norms' gains [hd]. */
function qwen3Shapes(c: ModelConfig): [string, number[]][] {
  const { headDim } = dimsOf(c);
  const out: [string, number[]][] = [];
  for (const e of llamaShapes(c, false)) {
    out.push(e);
    const m = /^(model\.layers\.\d+\.self_attn)\.o_proj\.weight$/.exec(e[0]);
    if (m) out.push([`${m[1]}.q_norm.weight`, [headDim]], [`${m[1]}.k_norm.weight`, [headDim]]);
  }
  return out;
}

/** Qwen3's block: LLaMA's with q and k RMS-normalised per head before RoPE. */
function qwen3Block(x: tf.Tensor3D, k: Ctx, i: number, past?: LayerCache): { x: tf.Tensor3D; cache: LayerCache } {
  const [r, t, d] = x.shape;
  const l = layer(i);
  const { headDim } = dimsOf(k.c);
  const a0 = `${l}.self_attn`;
  // q [R, H, t, hd], k and v [R, Hkv, t, hd]
  const [q0, k0, v0] = projectQkv(tf.reshape<tf.Rank.R2>(rms(x, k, `${l}.input_layernorm.weight`), [r * t, d]), k, a0, r, t);
  // the norm reduces over the last axis (hd) with gain [hd]: the same per
  // head whether the heads are transposed ([R, H, t, hd]) or not (HF norms
  // [R, t, H, hd] before its transpose)
  const q = rmsNorm(q0, param(k, `${a0}.q_norm.weight`), k.c.layerNormEps) as tf.Tensor4D;
  const kn = rmsNorm(k0, param(k, `${a0}.k_norm.weight`), k.c.layerNormEps) as tf.Tensor4D;
  const { cos, sin } = k.rope![ropeKindOf(k.c, i)];
  const a = attend(applyRope(q, cos, sin), applyRope(kn, cos, sin), v0, attnOptionsOf(k.c, i, headDim), past);
  const x1 = tf.add(x, tf.reshape(linear(mergeHeads(a.y), k, `${a0}.o_proj`), [r, t, d])) as tf.Tensor3D; // [R*t, H*hd] @ [d, H*hd]^T -> [R, t, d]
  const mlp = swiglu(tf.reshape<tf.Rank.R2>(rms(x1, k, `${l}.post_attention_layernorm.weight`), [r * t, d]), k, `${l}.mlp`);
  return { x: tf.add(x1, tf.reshape(mlp, [r, t, d])), cache: a.cache };
}

/** LLaMA's block plan plus the two per-head norms: each keeps its input
 * heads (the transposed projection), x^2, mean(x^2) per head ([n, heads]),
 * mean + eps, rstd and x * rstd; its output is the RoPE input LLaMA lists. */
function planQwen3Block(c: ModelConfig, n: number, att: number[], need: PlanAdd, keep: PlanAdd): void {
  planLlamaBlock(c, n, att, need, keep, false);
  const { nKvHead } = dimsOf(c);
  const { q, kv } = widths(c);
  keep('q_norm, k_norm eps scalars', [], 2);
  for (const [what, w, heads] of [
    ['q_norm', q, c.nHead],
    ['k_norm', kv, nKvHead],
  ] as const) {
    need(`${what} input (the transposed heads)`, [n, w]);
    keep(`${what} x^2`, [n, w]);
    keep(`${what} mean(x^2)`, [n, heads]);
    need(`${what} mean + eps, rstd`, [n, heads], 2);
    need(`${what} x * rstd`, [n, w]);
  }
}

const base = llamaLike({
  name: 'qwen3',
  hfArchitecture: 'Qwen3ForCausalLM',
  modelType: 'qwen3',
  qkvBias: false,
  refuse() {}, // readHf below does all of it
  // llama.cpp's qwen3 runs NeoX rope, as qwen2: rotate_half as is
  gguf: { arch: 'qwen3', permuteQk: false },
});

export const QWEN3 = defineFamily({
  ...base,
  readHf: readQwen3,
  hfSizes: (c) =>
    `hidden_size ${c.nEmbd}, head_dim ${dimsOf(c).headDim}, intermediate_size ${dimsOf(c).inner}, num_attention_heads ${c.nHead}, num_key_value_heads ${dimsOf(c).nKvHead}, vocab_size ${c.vocabSize}`,
  paramShapes: qwen3Shapes,
  paramCount: (c) => llamaCount(c, false) + c.nLayer * 2 * dimsOf(c).headDim,
  // the q/k norm gains start at 1, as transformers' Qwen3RMSNorm
  initRule: (name) => (/\.(q|k)_norm\.weight$/.test(name) ? 'ones' : base.initRule(name)),
  block: qwen3Block,
  planBlock: planQwen3Block,
  gguf: {
    arch: 'qwen3',
    tensors(c, take, add) {
      const { headDim: hd } = dimsOf(c);
      // LLaMA's table, each layer's attn_k_norm / attn_q_norm after its
      // attn_k / attn_q (llama.cpp looks tensors up by name; the order is the converter's)
      base.gguf.tensors(c, take, (name, shape, data) => {
        add(name, shape, data);
        const m = /^blk\.(\d+)\.attn_(q|k)\.weight$/.exec(name);
        if (m) add(`blk.${m[1]}.attn_${m[2]}_norm.weight`, [hd], take(`${layer(Number(m[1]))}.self_attn.${m[2]}_norm.weight`, [hd]));
      });
    },
    hparams(c) {
      const { headDim } = dimsOf(c);
      // llama.cpp takes the key/value head size as embedding_length /
      // head_count unless these say otherwise (Qwen3-0.6B: 128 x 16 != 1024);
      // the converter writes them whenever config.json has head_dim
      return [...base.gguf.hparams(c), ['attention.key_length', 'u32', headDim], ['attention.value_length', 'u32', headDim]];
    },
  },
});
