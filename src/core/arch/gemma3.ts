// Gemma 3, text only (Gemma3ForCausalLM, model_type gemma3_text: gemma-3-270m,
// gemma-3-1b), as transformers' modeling_gemma3.py computes it: the LLaMA-like
// decoder (q/k/v/o and gate/up/down nn.Linear [out, in], RoPE rotate_half,
// grouped-query attention) with Gemma's changes:
//   - the embedding rows scaled by sqrt(hidden_size) (a float32 scalar, as
//     transformers' embed_scale buffer: not rounded to bfloat16);
//   - RMSNorm x * rsqrt(mean(x^2) + eps) * (1 + w) (the weights store w, 0 = identity);
//   - four norms a layer: input_layernorm before attention,
//     post_attention_layernorm on the attention OUTPUT before the residual add,
//     pre_feedforward_layernorm before the MLP, post_feedforward_layernorm on
//     the MLP output before its add;
//   - q_norm / k_norm (Gemma RMSNorm over each head's hd) before RoPE;
//   - attention scale query_pre_attn_scalar^-0.5 (not head_dim^-0.5);
//   - 'sliding' layers (a window of sliding_window keys, RoPE base
//     rope_local_base_freq) beside 'full' ones (rope_theta), from layer_types
//     or, in configs saved before transformers 4.55, sliding_window_pattern N
//     (layer i slides unless (i + 1) % N == 0);
//   - gated GELU (tanh approximation) MLP: down(gelu_tanh(gate(x)) * up(x));
//   - a tied head (unless tie_word_embeddings is false), and the final logit
//     soft-cap tanh(z / cap) * cap when final_logit_softcapping is set (applied
//     where every head product is made, src/core/headLoss.ts headLogits).

import * as tf from '@tensorflow/tfjs-core';
import type { AttentionKind, ModelConfig } from '../config';
import { attend, attnOptionsOf, linear, mergeHeads, param, ropeKindOf, ropeThetasOf, setRope, type Ctx, type LayerCache } from '../layers';
import { applyRope, gelu, rmsNorm } from '../ops';
import { dimsOf } from './dims';
import { defineFamily, type FamilyConfig, type HfReader, type PlanAdd } from './family';
import { layer, LLAMA_HF_FIELDS, planRopedAttention, projectQkv, readLlamaHf, widths } from './llama-like';

/** llama.cpp's gemma3 graph (src/llama-model.cpp, src/models/gemma3*.cpp)
 * hard-codes what Hugging Face's config says: layer il slides when il % 6 < 5,
 * the sliding layers' RoPE base is 10000, q is scaled by 1/sqrt(head_dim)
 * (1/sqrt(hidden / heads) for its 62-layer 27B), and a sliding-window model
 * gets no final logit soft-cap (only its non-SWA graph applies one). */
const LLAMA_CPP = { swaPattern: 6, localTheta: 10_000 } as const;

/** Gemma's RMSNorm over the last axis: x * rsqrt(mean(x^2) + eps) * (1 + w),
 * in float32 (all our math is). */
export function gemmaRms<T extends tf.Tensor>(x: T, k: Ctx, name: string): T {
  return rmsNorm(x, tf.add(1, param(k, name)), k.c.layerNormEps) as T;
}

/** down(gelu_tanh(gate(x)) * up(x)) over x [R*t, d] -> [R*t, d]. */
function geluMlp(x2: tf.Tensor2D, k: Ctx, pre: string): tf.Tensor2D {
  const gated = tf.mul(gelu(linear(x2, k, `${pre}.gate_proj`)), linear(x2, k, `${pre}.up_proj`)) as tf.Tensor2D; // [R*t, inner]
  return linear(gated, k, `${pre}.down_proj`); // [R*t, inner] @ [d, inner]^T -> [R*t, d]
}

/** x + post_attention_layernorm(attn(input_layernorm(x))), then
 * + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(.))). */
function block(x: tf.Tensor3D, k: Ctx, i: number, past?: LayerCache): { x: tf.Tensor3D; cache: LayerCache } {
  const [r, t, d] = x.shape;
  const l = layer(i);
  const { headDim } = dimsOf(k.c);
  const [q0, k0, v0] = projectQkv(
    tf.reshape<tf.Rank.R2>(gemmaRms(x, k, `${l}.input_layernorm.weight`), [r * t, d]),
    k,
    `${l}.self_attn`,
    r,
    t,
  ); // [R, H|Hkv, t, hd]
  // q_norm / k_norm normalise each head's hd values (the last axis), before RoPE
  const q = gemmaRms(q0, k, `${l}.self_attn.q_norm.weight`);
  const kn = gemmaRms(k0, k, `${l}.self_attn.k_norm.weight`);
  const { cos, sin } = k.rope![ropeKindOf(k.c, i)];
  const a = attend(applyRope(q, cos, sin), applyRope(kn, cos, sin), v0, attnOptionsOf(k.c, i, headDim), past);
  const o = tf.reshape(linear(mergeHeads(a.y), k, `${l}.self_attn.o_proj`), [r, t, d]) as tf.Tensor3D; // [R*t, q] @ [d, q]^T -> [R, t, d]
  const x1 = tf.add(x, gemmaRms(o, k, `${l}.post_attention_layernorm.weight`)) as tf.Tensor3D;
  const m = tf.reshape(
    geluMlp(tf.reshape<tf.Rank.R2>(gemmaRms(x1, k, `${l}.pre_feedforward_layernorm.weight`), [r * t, d]), k, `${l}.mlp`),
    [r, t, d],
  ) as tf.Tensor3D; // [R*t, d] -> [R, t, d]
  return { x: tf.add(x1, gemmaRms(m, k, `${l}.post_feedforward_layernorm.weight`)), cache: a.cache };
}

function shapes(c: ModelConfig): [string, number[]][] {
  const { d, inner, headDim } = dimsOf(c);
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
      [`${l}.self_attn.q_norm.weight`, [headDim]],
      [`${l}.self_attn.k_norm.weight`, [headDim]],
      [`${l}.post_attention_layernorm.weight`, [d]],
      [`${l}.pre_feedforward_layernorm.weight`, [d]],
      [`${l}.mlp.gate_proj.weight`, [inner, d]],
      [`${l}.mlp.up_proj.weight`, [inner, d]],
      [`${l}.mlp.down_proj.weight`, [d, inner]],
      [`${l}.post_feedforward_layernorm.weight`, [d]],
    );
  }
  out.push(['model.norm.weight', [d]]);
  return out;
}

/** Per layer: four norms (4d), q/k norms (2hd), q/o (2*d*q), k/v (2*d*kv), gate/up/down (3*d*inner). */
function count(c: ModelConfig): number {
  const { d, inner, headDim } = dimsOf(c);
  const { q, kv } = widths(c);
  return c.vocabSize * d + c.nLayer * (4 * d + 2 * headDim + 2 * d * q + 2 * d * kv + 3 * d * inner) + d;
}

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** The layer kinds: layer_types (4.55+), else sliding_window_pattern N
 * (transformers' default 6): layer i slides unless (i + 1) % N == 0. */
function layerTypesOf(c: Record<string, unknown>, r: HfReader, nLayer: number): AttentionKind[] {
  if (present(c.layer_types)) {
    const lt = c.layer_types;
    if (!Array.isArray(lt) || lt.length !== nLayer)
      r.fail(`"layer_types" must list one entry for each of the ${nLayer} layers ("num_hidden_layers")`);
    return lt.map((x, i) => {
      if (x === 'sliding_attention') return 'sliding';
      if (x === 'full_attention') return 'full';
      return r.fail(`"layer_types"[${i}] ${JSON.stringify(x)} is not supported (only "sliding_attention" or "full_attention")`);
    });
  }
  const n = present(c.sliding_window_pattern) ? r.int('sliding_window_pattern', 'nLayer') : 6;
  return Array.from({ length: nLayer }, (_, i): AttentionKind => ((i + 1) % n === 0 ? 'full' : 'sliding'));
}

/** The RoPE bases: rope_theta / rope_local_base_freq (transformers 4.x
 * configs), or rope_parameters.{full,sliding}_attention.rope_theta (5.x);
 * Gemma3TextConfig's defaults 1e6 and 1e4. Only plain RoPE. */
function ropeThetas(c: Record<string, unknown>, r: HfReader): { global: number; local: number } {
  if (present(c.rope_scaling)) r.fail(`"rope_scaling" is set (${JSON.stringify(c.rope_scaling)}): scaled RoPE is not supported`);
  let global = r.positive('rope_theta', 1_000_000);
  let local = r.positive('rope_local_base_freq', 10_000);
  const p = c.rope_parameters;
  if (present(p)) {
    const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
    if (!obj(p)) r.fail('"rope_parameters" must be an object');
    for (const [kind, v] of Object.entries(p)) {
      if (kind !== 'full_attention' && kind !== 'sliding_attention')
        r.fail(`"rope_parameters" has ${JSON.stringify(kind)} (only full_attention, sliding_attention)`);
      if (!obj(v)) r.fail(`"rope_parameters".${kind} must be an object`);
      if ((v.rope_type ?? 'default') !== 'default')
        r.fail(`"rope_parameters".${kind}.rope_type ${JSON.stringify(v.rope_type)} is not supported (only plain RoPE, "default")`);
      const th = v.rope_theta;
      if (th !== undefined && !(typeof th === 'number' && Number.isFinite(th) && th > 0))
        r.fail(`"rope_parameters".${kind}.rope_theta must be a positive number`);
      if (typeof th === 'number') {
        if (kind === 'full_attention') global = th;
        else local = th;
      }
    }
  }
  return { global, local };
}

export const GEMMA3 = defineFamily({
  name: 'gemma3',
  hfArchitecture: 'Gemma3ForCausalLM',
  modelType: 'gemma3_text',
  readHf(c, r) {
    const act = c.hidden_activation ?? c.hidden_act ?? 'gelu_pytorch_tanh';
    if (act !== 'gelu_pytorch_tanh') r.fail(`"hidden_activation" ${JSON.stringify(act)} is not supported (only gelu_pytorch_tanh)`);
    if (c.use_bidirectional_attention === true) r.fail('"use_bidirectional_attention": true is not supported (causal attention only)');
    if (c.attention_bias === true) r.fail('"attention_bias": true is not supported');
    // save_pretrained writes every field; a config without head_dim would
    // mean Gemma3TextConfig's default 256, which the reader below cannot see
    if (!present(c.head_dim)) r.fail('"head_dim" is missing (Gemma3 configs name it)');
    const theta = ropeThetas(c, r);
    // the LLaMA-like sizes; the activation and RoPE were checked above in
    // Gemma's terms (r reads the original config: the bases are set below)
    const base = readLlamaHf({ ...c, hidden_act: 'silu', rope_scaling: null }, r, false, { explicitHeadDim: true });
    const { nLayer } = base.config;
    const layerTypes = layerTypesOf(c, r, nLayer);
    const config: FamilyConfig = {
      ...base.config,
      ropeTheta: theta.global,
      // Gemma3TextConfig's default is tied; save_pretrained leaves the default out
      tieWordEmbeddings: c.tie_word_embeddings !== false,
      layerTypes,
      ropeLocalTheta: theta.local,
      attnScale: 1 / Math.sqrt(r.positive('query_pre_attn_scalar', 256)),
    };
    if (layerTypes.includes('sliding')) config.slidingWindow = r.int('sliding_window', 'maxPositions');
    if (present(c.final_logit_softcapping)) config.finalSoftcap = r.positive('final_logit_softcapping');
    // attn_logit_softcapping is NOT read: transformers' Gemma3Attention stores
    // it but never passes it to the attention function (modeling_gemma3.py,
    // transformers 4.5x-5.x), so the scores are not capped; we match that.
    return { config, maxPositions: base.maxPositions, qkvBias: false };
  },
  hfFields: {
    ...LLAMA_HF_FIELDS,
    slidingWindow: '"sliding_window"',
    ropeLocalTheta: '"rope_local_base_freq"',
    attnScale: 'the attention scale (1 / sqrt("query_pre_attn_scalar"))',
    finalSoftcap: '"final_logit_softcapping"',
  },
  hfSizes: (c) =>
    `hidden_size ${c.nEmbd}, intermediate_size ${dimsOf(c).inner}, num_attention_heads ${c.nHead}, num_key_value_heads ${dimsOf(c).nKvHead}, head_dim ${dimsOf(c).headDim}, vocab_size ${c.vocabSize}`,
  isIgnoredTensor: (name) => /\.rotary_emb\.inv_freq$/.test(name),
  canonicalName: (name) => name,
  paramShapes: shapes,
  paramCount: count,
  // Gemma's norms multiply by 1 + w: a from-scratch identity norm stores 0
  initRule: (name) => (/norm\.weight$/.test(name) ? 'zeros' : /(o_proj|down_proj)\.weight$/.test(name) ? 'residual' : 'normal'),
  check(c, bad) {
    if (dimsOf(c).headDim % 2 !== 0) bad('headDim', `the head size ${dimsOf(c).headDim} must be even for RoPE`);
  },
  loraModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  defaultLoraTargets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
  weightLayout: 'out-in',
  embeddingName: 'model.embed_tokens.weight',
  blockPrefix: (i) => `${layer(i)}.`,
  embed(x, k, pLen, recompute) {
    const { headDim, ropeTheta, d } = dimsOf(k.c);
    setRope(k, ropeThetasOf(k.c, ropeTheta), pLen, x.shape[1], headDim, recompute);
    // Gemma3TextScaledWordEmbedding: * sqrt(hidden) as a float32 scalar
    return tf.mul(x, tf.scalar(Math.sqrt(d), 'float32'));
  },
  block,
  finalNorm: (x, k) => gemmaRms(x, k, 'model.norm.weight'),
  planBlock: planGemmaBlock,
  planFinal(c, n, seqLen, need, keep) {
    const { d, headDim } = dimsOf(c);
    need('RoPE cos, sin tables (global and local)', [seqLen, headDim], 4);
    need('embedding * sqrt(hidden)', [n, d]);
    keep('RMSNorm eps scalar, 1 + w', [d], 1);
    need('final norm input (the last block output)', [n, d]);
    keep('final norm x^2', [n, d]);
    keep('final norm mean(x^2)', [n]);
    need('final norm mean + eps, rstd', [n], 2);
    need('final norm x * rstd', [n, d]);
    need('final norm output (the head input)', [n, d]);
  },
  gguf: {
    arch: 'gemma3',
    refuse(c) {
      const types = c.layerTypes ?? Array.from({ length: c.nLayer }, (): AttentionKind => 'full');
      const want = types.map((_, i): AttentionKind => (i % LLAMA_CPP.swaPattern < LLAMA_CPP.swaPattern - 1 ? 'sliding' : 'full'));
      const at = types.findIndex((x, i) => x !== want[i]);
      if (at >= 0)
        return `layer_types: layer ${at} is ${types[at]}, but llama.cpp's gemma3 slides layer i exactly when i % 6 < 5 (it reads no layer_types or sliding_window_pattern)`;
      const { headDim, ropeTheta } = dimsOf(c);
      if (types.includes('sliding') && (c.ropeLocalTheta ?? ropeTheta) !== LLAMA_CPP.localTheta)
        return `rope_local_base_freq ${c.ropeLocalTheta ?? ropeTheta}: llama.cpp's gemma3 runs its sliding layers with RoPE base ${LLAMA_CPP.localTheta}`;
      const scale = c.nLayer === 62 ? 1 / Math.sqrt(c.nEmbd / c.nHead) : 1 / Math.sqrt(headDim);
      if (c.attnScale !== undefined && Math.abs(c.attnScale - scale) > 1e-7 * scale)
        return `query_pre_attn_scalar ${(1 / c.attnScale ** 2).toPrecision(6)}: llama.cpp's gemma3 scales q by 1/sqrt(${c.nLayer === 62 ? 'hidden / heads' : 'head_dim'}) = 1/sqrt(${(1 / scale ** 2).toPrecision(6)})`;
      if (c.attnSoftcap !== undefined) return "attn_logit_softcapping: llama.cpp's gemma3 applies no attention soft-cap";
      if (c.finalSoftcap !== undefined && types.includes('sliding'))
        return "final_logit_softcapping: llama.cpp's gemma3 graph with sliding-window layers applies no final soft-cap";
      return undefined;
    },
    tensors(c, take, add) {
      const { d, inner, tied, headDim } = dimsOf(c);
      const { q, kv } = widths(c);
      const V = c.vocabSize;
      // llama.cpp's graph runs plain RMSNorm (x * w): its converter stores
      // Gemma's 1 + w (convert_hf_to_gguf.py Gemma3Model.norm_shift)
      const norm = (name: string, n: number): Float32Array => take(name, [n]).map((w) => w + 1);
      add('token_embd.weight', [V, d], take('model.embed_tokens.weight', [V, d]));
      for (let i = 0; i < c.nLayer; i++) {
        const p = layer(i);
        const b = `blk.${i}`;
        add(`${b}.attn_norm.weight`, [d], norm(`${p}.input_layernorm.weight`, d));
        // NeoX rope in llama.cpp (rotate_half as is): no row permutation
        add(`${b}.attn_q.weight`, [q, d], take(`${p}.self_attn.q_proj.weight`, [q, d]));
        add(`${b}.attn_k.weight`, [kv, d], take(`${p}.self_attn.k_proj.weight`, [kv, d]));
        add(`${b}.attn_v.weight`, [kv, d], take(`${p}.self_attn.v_proj.weight`, [kv, d]));
        add(`${b}.attn_output.weight`, [d, q], take(`${p}.self_attn.o_proj.weight`, [d, q]));
        add(`${b}.attn_q_norm.weight`, [headDim], norm(`${p}.self_attn.q_norm.weight`, headDim));
        add(`${b}.attn_k_norm.weight`, [headDim], norm(`${p}.self_attn.k_norm.weight`, headDim));
        add(`${b}.post_attention_norm.weight`, [d], norm(`${p}.post_attention_layernorm.weight`, d));
        add(`${b}.ffn_norm.weight`, [d], norm(`${p}.pre_feedforward_layernorm.weight`, d));
        add(`${b}.ffn_gate.weight`, [inner, d], take(`${p}.mlp.gate_proj.weight`, [inner, d]));
        add(`${b}.ffn_up.weight`, [inner, d], take(`${p}.mlp.up_proj.weight`, [inner, d]));
        add(`${b}.ffn_down.weight`, [d, inner], take(`${p}.mlp.down_proj.weight`, [d, inner]));
        add(`${b}.post_ffw_norm.weight`, [d], norm(`${p}.post_feedforward_layernorm.weight`, d));
      }
      add('output_norm.weight', [d], norm('model.norm.weight', d));
      if (!tied) add('output.weight', [V, d], take('lm_head.weight', [V, d]));
    },
    hparams(c) {
      const { headDim, nKvHead, ropeTheta } = dimsOf(c);
      const out: [string, 'u32' | 'f32', number][] = [
        ['attention.head_count_kv', 'u32', nKvHead],
        ['attention.key_length', 'u32', headDim],
        ['attention.value_length', 'u32', headDim],
        ['rope.freq_base', 'f32', ropeTheta],
        ['rope.dimension_count', 'u32', headDim],
        ['attention.layer_norm_rms_epsilon', 'f32', c.layerNormEps],
      ];
      if (c.slidingWindow !== undefined) out.push(['attention.sliding_window', 'u32', c.slidingWindow]);
      if (c.finalSoftcap !== undefined) out.push(['final_logit_softcapping', 'f32', c.finalSoftcap]);
      return out;
    },
  },
});

/** The activations of block() as tfjs keeps them (the LLaMA-like block's
 * list with Gemma's extra norms, the q/k norms, the embedding scale and GELU). */
function planGemmaBlock(c: ModelConfig, n: number, att: number[], need: PlanAdd, keep: PlanAdd): void {
  const { d, nKvHead, inner: I } = dimsOf(c);
  const { q, kv } = widths(c);
  const rmsPlan = (name: string, w: number): void => {
    keep(`${name} x^2`, [n, w]);
    keep(`${name} mean(x^2)`, [n * (w === d ? 1 : w === q ? c.nHead : nKvHead)]);
    need(`${name} mean + eps, rstd`, [n * (w === d ? 1 : w === q ? c.nHead : nKvHead)], 2);
    need(`${name} x * rstd`, [n, w]);
    need(`${name} output`, [n, w]);
  };
  need('block input x', [n, d]);
  keep('RMSNorm eps scalars, 1 + w', [d], 6);
  rmsPlan('input_layernorm', d);
  keep('q product before the head transpose', [n, q]);
  keep('k, v products before the head transpose', [n, kv], 2);
  rmsPlan('q_norm', q);
  rmsPlan('k_norm', kv);
  planRopedAttention(c, n, att, need, keep);
  keep('o_proj output (Reshape)', [n, d]);
  rmsPlan('post_attention_layernorm', d);
  need('x + attention', [n, d]);
  rmsPlan('pre_feedforward_layernorm', d);
  need('gate, its GELU (x^3, inner, tanh)', [n, I], 5);
  need('up', [n, I]);
  need('MLP hidden gelu(gate) * up', [n, I]);
  keep('down_proj output (Reshape)', [n, d]);
  rmsPlan('post_feedforward_layernorm', d);
}
