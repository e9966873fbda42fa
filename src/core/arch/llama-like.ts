// The LLaMA-style decoder that LLaMA and Qwen2 share (transformers'
// modeling_llama.py): RMSNorm, RoPE (rotate_half), grouped-query attention,
// SwiGLU MLP, nn.Linear weights [out, in], `model.layers.N` names. Its pieces
// are exported for families that change one of them (e.g. q/k norms).

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../records';
import {
  attend,
  attnOptionsOf,
  linear,
  mergeHeads,
  param,
  ropeKindOf,
  ropeThetasOf,
  setRope,
  splitHeads,
  type Ctx,
  type LayerCache,
} from '../layers';
import { applyRope, rmsNorm, silu } from '../ops';
import { dimsOf } from './dims';
import { defineFamily, type ArchFamily, type HfFields, type HfRead, type HfReader, type PlanAdd } from './family';
import { permuteRope } from './gguf';

export const layer = (i: number): string => `model.layers.${i}`;

/** The config.json fields every LLaMA-like model reads, with the refusals
 * common to them (scaled RoPE, another activation). `explicitHeadDim`: the
 * family takes "head_dim" even where head_dim * heads != hidden (Qwen3);
 * the config then carries headDim. */
export function readLlamaHf(c: Record<string, unknown>, r: HfReader, qkvBias: boolean, o: { explicitHeadDim?: boolean } = {}): HfRead {
  if (c.rope_scaling !== undefined && c.rope_scaling !== null)
    r.fail(`"rope_scaling" is set (${JSON.stringify(c.rope_scaling)}): scaled RoPE is not supported`);
  if ((c.hidden_act ?? 'silu') !== 'silu') r.fail(`"hidden_act" ${JSON.stringify(c.hidden_act)} is not supported (only silu)`);
  const nEmbd = r.int('hidden_size', 'hiddenSize');
  const nHead = r.int('num_attention_heads', 'nHead');
  const nKvHead = c.num_key_value_heads === undefined || c.num_key_value_heads === null ? nHead : r.int('num_key_value_heads', 'nHead');
  if (nHead % nKvHead !== 0) r.fail(`"num_attention_heads" ${nHead} is not a multiple of "num_key_value_heads" ${nKvHead}`);
  const headDim = c.head_dim === undefined || c.head_dim === null ? nEmbd / nHead : r.int('head_dim', 'hiddenSize');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0)
    r.fail(`the head size (${headDim}: "hidden_size" / "num_attention_heads" or "head_dim") must be an even integer for RoPE`);
  const ownHeadDim = headDim * nHead !== nEmbd;
  if (ownHeadDim && !o.explicitHeadDim)
    r.fail(`"head_dim" ${headDim} times "num_attention_heads" ${nHead} is not "hidden_size" ${nEmbd} (not supported)`);
  const nLayer = r.int('num_hidden_layers', 'nLayer');
  const intermediateSize = r.int('intermediate_size', 'intermediateSize');
  const maxPositions = r.int('max_position_embeddings', 'maxPositions');
  const layerNormEps = r.positive('rms_norm_eps', 1e-6);
  const ropeTheta = r.positive('rope_theta', 10_000);
  // RoPE has no table to size, and rationales are far shorter: longer
  // contexts would only let a run plan activations it cannot hold
  const config = {
    blockSize: Math.min(maxPositions, r.maxBlock),
    nLayer,
    nHead,
    nEmbd,
    layerNormEps,
    tieWordEmbeddings: c.tie_word_embeddings === true,
    nKvHead,
    intermediateSize,
    ropeTheta,
    ...(ownHeadDim ? { headDim } : {}),
  };
  return { config, maxPositions, qkvBias };
}

/** The config.json fields readLlamaHf reads (blockSize is at most
 * max_position_embeddings). */
export const LLAMA_HF_FIELDS: HfFields = {
  vocabSize: '"vocab_size"',
  blockSize: '"max_position_embeddings"',
  nLayer: '"num_hidden_layers"',
  nHead: '"num_attention_heads"',
  nKvHead: '"num_key_value_heads"',
  nEmbd: '"hidden_size"',
  headDim: '"head_dim"',
  intermediateSize: '"intermediate_size"',
  layerNormEps: '"rms_norm_eps"',
  ropeTheta: '"rope_theta"',
};

/** The attention sizes: query width H*hd, key/value width Hkv*hd. */
export function widths(c: ModelConfig): { q: number; kv: number } {
  const { headDim, nKvHead } = dimsOf(c);
  return { q: c.nHead * headDim, kv: nKvHead * headDim };
}

export function llamaShapes(c: ModelConfig, qkvBias: boolean): [string, number[]][] {
  const { d, inner } = dimsOf(c);
  const { q, kv } = widths(c);
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocabSize, d]]];
  for (let i = 0; i < c.nLayer; i++) {
    const l = layer(i);
    out.push(
      [`${l}.input_layernorm.weight`, [d]],
      [`${l}.self_attn.q_proj.weight`, [q, d]],
      [`${l}.self_attn.k_proj.weight`, [kv, d]],
      [`${l}.self_attn.v_proj.weight`, [kv, d]],
      [`${l}.self_attn.o_proj.weight`, [d, q]],
    );
    if (qkvBias) out.push([`${l}.self_attn.q_proj.bias`, [q]], [`${l}.self_attn.k_proj.bias`, [kv]], [`${l}.self_attn.v_proj.bias`, [kv]]);
    out.push(
      [`${l}.post_attention_layernorm.weight`, [d]],
      [`${l}.mlp.gate_proj.weight`, [inner, d]],
      [`${l}.mlp.up_proj.weight`, [inner, d]],
      [`${l}.mlp.down_proj.weight`, [d, inner]],
    );
  }
  out.push(['model.norm.weight', [d]]);
  return out;
}

/** Per layer: two RMSNorms (2d), q/o (2*d*q), k/v (2*d*kv), gate/up/down (3*d*inner), q/k/v biases (q + 2kv). */
export function llamaCount(c: ModelConfig, qkvBias: boolean): number {
  const { d, inner } = dimsOf(c);
  const { q, kv } = widths(c);
  return c.vocabSize * d + c.nLayer * (2 * d + 2 * d * q + 2 * d * kv + 3 * d * inner + (qkvBias ? q + 2 * kv : 0)) + d;
}

/** q [R, H, t, hd], k and v [R, Hkv, t, hd] of x [R*t, d], before RoPE. */
export function projectQkv(x2: tf.Tensor2D, k: Ctx, pre: string, r: number, t: number): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  const { headDim: hd, nKvHead } = dimsOf(k.c);
  return [
    splitHeads(linear(x2, k, `${pre}.q_proj`), r, t, k.c.nHead, hd), // [R*t, d] @ [q, d]^T -> [R, H, t, hd]
    splitHeads(linear(x2, k, `${pre}.k_proj`), r, t, nKvHead, hd), // -> [R, Hkv, t, hd]
    splitHeads(linear(x2, k, `${pre}.v_proj`), r, t, nKvHead, hd),
  ];
}

/** down(silu(gate(x)) * up(x)) over x [R*t, d] -> [R*t, d]. */
export function swiglu(x2: tf.Tensor2D, k: Ctx, pre: string): tf.Tensor2D {
  const gated = tf.mul(silu(linear(x2, k, `${pre}.gate_proj`)), linear(x2, k, `${pre}.up_proj`)) as tf.Tensor2D; // [R*t, inner]
  return linear(gated, k, `${pre}.down_proj`); // [R*t, inner] @ [d, inner]^T -> [R*t, d]
}

export const rms = (x: tf.Tensor3D, k: Ctx, name: string): tf.Tensor3D => rmsNorm(x, param(k, name), k.c.layerNormEps) as tf.Tensor3D;

/** x + attn(input_layernorm(x)), then + mlp(post_attention_layernorm(.)). */
export function llamaBlock(x: tf.Tensor3D, k: Ctx, i: number, past?: LayerCache): { x: tf.Tensor3D; cache: LayerCache } {
  const [r, t, d] = x.shape;
  const l = layer(i);
  const { headDim } = dimsOf(k.c);
  const [q, k0, v0] = projectQkv(tf.reshape<tf.Rank.R2>(rms(x, k, `${l}.input_layernorm.weight`), [r * t, d]), k, `${l}.self_attn`, r, t);
  const { cos, sin } = k.rope![ropeKindOf(k.c, i)];
  const a = attend(applyRope(q, cos, sin), applyRope(k0, cos, sin), v0, attnOptionsOf(k.c, i, headDim), past);
  const x1 = tf.add(x, tf.reshape(linear(mergeHeads(a.y), k, `${l}.self_attn.o_proj`), [r, t, d])) as tf.Tensor3D; // [R*t, q] @ [d, q]^T -> [R, t, d]
  const mlp = swiglu(tf.reshape<tf.Rank.R2>(rms(x1, k, `${l}.post_attention_layernorm.weight`), [r * t, d]), k, `${l}.mlp`);
  return { x: tf.add(x1, tf.reshape(mlp, [r, t, d])), cache: a.cache };
}

/** The plan of a LLaMA-like attention from its q and k heads to the merged
 * heads: RoPE on q and k, the key/value heads repeated for GQA, the scores
 * and probabilities `att`. Shared by every family built on these pieces. */
export function planRopedAttention(c: ModelConfig, n: number, att: number[], need: PlanAdd, keep: PlanAdd): void {
  const { nKvHead } = dimsOf(c);
  const { q, kv } = widths(c);
  const rope = (what: string, w: number): void => {
    need(`${what} heads (RoPE input), rotate_half(${what})`, [n, w], 2);
    keep(`${what} halves (RoPE's Concat)`, [n, w]);
    keep(`${what} * cos, rotate_half(${what}) * sin`, [n, w], 2);
  };
  rope('q', q);
  need('q after RoPE', [n, q]);
  rope('k', kv);
  if (nKvHead < c.nHead) {
    keep('k after RoPE, v heads (Reshape before the repeat)', [n, kv], 2);
    need(`k, v repeated to ${c.nHead} heads (GQA)`, [n, q], 2);
  } else {
    need('k after RoPE, v heads', [n, kv], 2);
  }
  keep('attention scores (Reshape before the softmax)', att);
  need('attention probabilities', att);
  need('merged heads', [n, q]);
}

/** The measured activations of llamaBlock (see plan.ts blockTensors). */
export function planLlamaBlock(c: ModelConfig, n: number, att: number[], need: PlanAdd, keep: PlanAdd, qkvBias: boolean): void {
  const { d, inner: I } = dimsOf(c);
  const { q, kv } = widths(c);
  const rmsPlan = (name: string): void => {
    keep(`${name} x^2`, [n, d]);
    keep(`${name} mean(x^2)`, [n]);
    need(`${name} mean + eps, rstd`, [n], 2);
    need(`${name} x * rstd`, [n, d]);
    need(`${name} output`, [n, d]);
  };
  need('block input x', [n, d]);
  keep('RMSNorm eps scalars', [], 2);
  rmsPlan('input_layernorm');
  keep('q product before the head transpose', [n, q]);
  keep('k, v products before the head transpose', [n, kv], 2);
  if (qkvBias) {
    keep('q product before its bias', [n, q]);
    keep('k, v products before their biases', [n, kv], 2);
  }
  planRopedAttention(c, n, att, need, keep);
  keep('o_proj output (Reshape, residual Add)', [n, d]);
  need('x + attention', [n, d]);
  rmsPlan('post_attention_layernorm');
  need('gate, sigmoid(gate), silu(gate)', [n, I], 3);
  need('up', [n, I]);
  need('MLP hidden silu(gate) * up', [n, I]);
  keep('down_proj output (residual Add)', [n, d]);
}

/** What a LLaMA-like family differs in. */
export interface LlamaLikeOptions<N extends string> {
  name: N;
  hfArchitecture: string;
  modelType: string;
  qkvBias: boolean;
  /** Refusals of this family's own config.json fields. */
  refuse(c: Record<string, unknown>, r: HfReader): void;
  gguf: {
    arch: string;
    /** llama.cpp's `llama` runs ggml's non-NeoX rope (pairs 2i, 2i+1): Q and K
     * rows are permuted; NeoX-rope archs (qwen2) take rotate_half as is. */
    permuteQk: boolean;
  };
}

/** A complete LLaMA-like family. */
export function llamaLike<const N extends string>(o: LlamaLikeOptions<N>): ArchFamily<N> {
  return defineFamily({
    name: o.name,
    hfArchitecture: o.hfArchitecture,
    modelType: o.modelType,
    readHf(c, r) {
      o.refuse(c, r);
      return readLlamaHf(c, r, o.qkvBias);
    },
    hfFields: LLAMA_HF_FIELDS,
    hfSizes: (c) =>
      `hidden_size ${c.nEmbd}, intermediate_size ${dimsOf(c).inner}, num_attention_heads ${c.nHead}, num_key_value_heads ${dimsOf(c).nKvHead}, vocab_size ${c.vocabSize}`,
    isIgnoredTensor: (name) => /\.rotary_emb\.inv_freq$/.test(name), // cached rotary frequencies
    canonicalName: (name) => name,
    paramShapes: (c) => llamaShapes(c, o.qkvBias),
    paramCount: (c) => llamaCount(c, o.qkvBias),
    // our GPT-2 init rules for a from-scratch model of this shape
    initRule: (name) =>
      name.endsWith('.bias')
        ? 'zeros'
        : /(layernorm|model\.norm)\.weight$/.test(name)
          ? 'ones'
          : /(o_proj|down_proj)\.weight$/.test(name)
            ? 'residual'
            : 'normal',
    check(c, bad) {
      if (dimsOf(c).headDim % 2 !== 0) bad('nEmbd', `the head size ${dimsOf(c).headDim} must be even for RoPE`);
    },
    loraModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    defaultLoraTargets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    weightLayout: 'out-in',
    embeddingName: 'model.embed_tokens.weight',
    blockPrefix: (i) => `${layer(i)}.`,
    embed(x, k, pLen, recompute) {
      const { headDim, ropeTheta } = dimsOf(k.c);
      setRope(k, ropeThetasOf(k.c, ropeTheta), pLen, x.shape[1], headDim, recompute);
      return x;
    },
    block: llamaBlock,
    finalNorm: (x, k) => rms(x, k, 'model.norm.weight'),
    planBlock: (c, n, att, need, keep) => planLlamaBlock(c, n, att, need, keep, o.qkvBias),
    planFinal(c, n, seqLen, need, keep) {
      const { d, headDim } = dimsOf(c);
      need('RoPE cos, sin tables', [seqLen, headDim], 2);
      keep('RMSNorm eps scalar', []);
      need('final norm input (the last block output)', [n, d]);
      keep('final norm x^2', [n, d]);
      keep('final norm mean(x^2)', [n]);
      need('final norm mean + eps, rstd', [n], 2);
      need('final norm x * rstd', [n, d]);
      need('final norm output (the head input)', [n, d]);
    },
    gguf: {
      arch: o.gguf.arch,
      tensors(c, take, add) {
        const { d, nKvHead, inner, tied } = dimsOf(c);
        const { q, kv } = widths(c);
        const V = c.vocabSize;
        const perm = (w: Float32Array, heads: number): Float32Array => (o.gguf.permuteQk ? permuteRope(w, heads, d) : w);
        add('token_embd.weight', [V, d], take('model.embed_tokens.weight', [V, d]));
        for (let l = 0; l < c.nLayer; l++) {
          const p = layer(l);
          const b = `blk.${l}`;
          add(`${b}.attn_norm.weight`, [d], take(`${p}.input_layernorm.weight`, [d]));
          add(`${b}.attn_q.weight`, [q, d], perm(take(`${p}.self_attn.q_proj.weight`, [q, d]), c.nHead));
          add(`${b}.attn_k.weight`, [kv, d], perm(take(`${p}.self_attn.k_proj.weight`, [kv, d]), nKvHead));
          add(`${b}.attn_v.weight`, [kv, d], take(`${p}.self_attn.v_proj.weight`, [kv, d]));
          if (o.qkvBias) {
            add(`${b}.attn_q.bias`, [q], take(`${p}.self_attn.q_proj.bias`, [q]));
            add(`${b}.attn_k.bias`, [kv], take(`${p}.self_attn.k_proj.bias`, [kv]));
            add(`${b}.attn_v.bias`, [kv], take(`${p}.self_attn.v_proj.bias`, [kv]));
          }
          add(`${b}.attn_output.weight`, [d, q], take(`${p}.self_attn.o_proj.weight`, [d, q]));
          add(`${b}.ffn_norm.weight`, [d], take(`${p}.post_attention_layernorm.weight`, [d]));
          add(`${b}.ffn_gate.weight`, [inner, d], take(`${p}.mlp.gate_proj.weight`, [inner, d]));
          add(`${b}.ffn_up.weight`, [inner, d], take(`${p}.mlp.up_proj.weight`, [inner, d]));
          add(`${b}.ffn_down.weight`, [d, inner], take(`${p}.mlp.down_proj.weight`, [d, inner]));
        }
        add('output_norm.weight', [d], take('model.norm.weight', [d]));
        // a tied head has no output.weight: llama.cpp then reads token_embd for both
        if (!tied) add('output.weight', [V, d], take('lm_head.weight', [V, d]));
      },
      hparams(c) {
        const { headDim, nKvHead, ropeTheta } = dimsOf(c);
        return [
          ['attention.head_count_kv', 'u32', nKvHead],
          ['rope.freq_base', 'f32', ropeTheta],
          ['rope.dimension_count', 'u32', headDim],
          ['attention.layer_norm_rms_epsilon', 'f32', c.layerNormEps],
        ];
      },
    },
  });
}
