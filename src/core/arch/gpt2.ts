// GPT-2 (GPT2LMHeadModel; our from-scratch student, GPT-2, distilgpt2), as
// transformers' modeling_gpt2.py computes it: pre-LayerNorm blocks, learned
// positions, fused q/k/v projection, GELU (tanh) MLP, Conv1D weights [in, out].

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../records';
import { attend, linear, mergeHeads, param, splitHeads, type Ctx, type LayerCache } from '../layers';
import { gelu, layerNorm } from '../ops';
import { dimsOf } from './dims';
import { defineFamily } from './family';
import { transposeRows } from './gguf';

const h = (i: number): string => `transformer.h.${i}`;

/** x + attn(ln_1(x)), then + mlp(ln_2(.)). */
function block(x: tf.Tensor3D, k: Ctx, i: number, past?: LayerCache): { x: tf.Tensor3D; cache: LayerCache } {
  const [r, t, d] = x.shape;
  const pre = h(i);
  const eps = k.c.layerNormEps;
  const hd = d / k.c.nHead;
  const ln1 = layerNorm(x, param(k, `${pre}.ln_1.weight`), param(k, `${pre}.ln_1.bias`), eps) as tf.Tensor3D;
  const qkv = linear(tf.reshape<tf.Rank.R2>(ln1, [r * t, d]), k, `${pre}.attn.c_attn`); // [R*t, d] @ [d, 3d] -> [R*t, 3d]
  const [q, k0, v0] = tf.split(qkv, 3, 1).map((m) => splitHeads(m as tf.Tensor2D, r, t, k.c.nHead, hd)); // 3 x [R, H, t, hd]
  const a = attend(q, k0, v0, { scale: 1 / Math.sqrt(hd) }, past);
  const attn = linear(mergeHeads(a.y), k, `${pre}.attn.c_proj`); // [R*t, d] @ [d, d]
  const x1 = tf.add(x, tf.reshape(attn, [r, t, d])) as tf.Tensor3D;
  const ln2 = layerNorm(x1, param(k, `${pre}.ln_2.weight`), param(k, `${pre}.ln_2.bias`), eps) as tf.Tensor3D;
  const hdn = gelu(linear(tf.reshape<tf.Rank.R2>(ln2, [r * t, d]), k, `${pre}.mlp.c_fc`)) as tf.Tensor2D; // [R*t, inner]
  const mlp = tf.reshape(linear(hdn, k, `${pre}.mlp.c_proj`), [r, t, d]); // [R*t, inner] @ [inner, d] -> [R, t, d]
  return { x: tf.add(x1, mlp), cache: a.cache };
}

function paramShapes(c: ModelConfig): [string, number[]][] {
  const { d, inner } = dimsOf(c);
  const out: [string, number[]][] = [
    ['transformer.wte.weight', [c.vocabSize, d]],
    ['transformer.wpe.weight', [c.blockSize, d]],
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const p = h(i);
    out.push(
      [`${p}.ln_1.weight`, [d]],
      [`${p}.ln_1.bias`, [d]],
      [`${p}.attn.c_attn.weight`, [d, 3 * d]],
      [`${p}.attn.c_attn.bias`, [3 * d]],
      [`${p}.attn.c_proj.weight`, [d, d]],
      [`${p}.attn.c_proj.bias`, [d]],
      [`${p}.ln_2.weight`, [d]],
      [`${p}.ln_2.bias`, [d]],
      [`${p}.mlp.c_fc.weight`, [d, inner]],
      [`${p}.mlp.c_fc.bias`, [inner]],
      [`${p}.mlp.c_proj.weight`, [inner, d]],
      [`${p}.mlp.c_proj.bias`, [d]],
    );
  }
  out.push(['transformer.ln_f.weight', [d]], ['transformer.ln_f.bias', [d]]);
  return out;
}

export const GPT2 = defineFamily({
  name: 'gpt2',
  hfArchitecture: 'GPT2LMHeadModel',
  modelType: 'gpt2',
  readHf(c, r) {
    const act = c.activation_function ?? 'gelu_new';
    if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh')
      r.fail(`"activation_function" ${JSON.stringify(act)} is not supported (only gelu_new)`);
    if (c.n_inner !== undefined && c.n_inner !== null && c.n_inner !== 4 * (c.n_embd as number))
      r.fail(`"n_inner" ${JSON.stringify(c.n_inner)} is not supported (only null, 4 * n_embd)`);
    for (const key of ['scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn', 'add_cross_attention'])
      if (c[key] === true) r.fail(`"${key}": true is not supported`);
    if (c.scale_attn_weights === false) r.fail('"scale_attn_weights": false is not supported');
    const nEmbd = r.int('n_embd', 'hiddenSize');
    const nHead = r.int('n_head', 'nHead');
    if (nEmbd % nHead !== 0) r.fail(`"n_embd" ${nEmbd} is not divisible by "n_head" ${nHead}`);
    const nLayer = r.int('n_layer', 'nLayer');
    const maxPositions = r.int('n_positions', 'maxPositions');
    // GPT-2 keeps all its learned positions (wpe is stored)
    const config = {
      blockSize: maxPositions,
      nLayer,
      nHead,
      nEmbd,
      layerNormEps: r.positive('layer_norm_epsilon', 1e-5),
      tieWordEmbeddings: c.tie_word_embeddings !== false,
    };
    return { config, maxPositions, qkvBias: true };
  },
  hfFields: {
    vocabSize: '"vocab_size"',
    blockSize: '"n_positions"',
    nLayer: '"n_layer"',
    nHead: '"n_head"',
    nEmbd: '"n_embd"',
    layerNormEps: '"layer_norm_epsilon"',
  },
  hfSizes: (c) => `n_embd ${c.nEmbd}, n_positions ${c.blockSize}, vocab_size ${c.vocabSize}`,
  isIgnoredTensor: (name) => /(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(name), // the attention-mask buffers
  // folders saved from the base model (as the hub's gpt2) lack the prefix
  canonicalName: (name) => (!name.startsWith('transformer.') && name !== 'lm_head.weight' ? `transformer.${name}` : name),
  paramShapes,
  // per block: two LayerNorms (4d), c_attn (3d^2 + 3d), attn.c_proj (d^2 + d), mlp.c_fc (d*inner + inner), mlp.c_proj (inner*d + d)
  paramCount(c) {
    const { d, inner } = dimsOf(c);
    return c.vocabSize * d + c.blockSize * d + c.nLayer * (4 * d * d + 9 * d + 2 * d * inner + inner) + 2 * d;
  },
  // GPT-2's init: residual projections scaled by 1/sqrt(2 * nLayer)
  initRule: (name) =>
    name.endsWith('.bias') ? 'zeros' : /(ln_\d|ln_f)\.weight$/.test(name) ? 'ones' : /c_proj\.weight$/.test(name) ? 'residual' : 'normal',
  check(c, bad) {
    if (c.headDim !== undefined && c.headDim * c.nHead !== c.nEmbd) bad('headDim', "a gpt2 model's head size is nEmbd / nHead");
    if ((c.nKvHead ?? c.nHead) !== c.nHead) bad('nKvHead', 'a gpt2 model has no grouped-query attention (nKvHead must equal nHead)');
    // its block reads none of the per-layer attention fields: refused rather than ignored
    for (const f of ['layerTypes', 'slidingWindow', 'ropeLocalTheta', 'attnScale', 'attnSoftcap'] as const)
      if (c[f] !== undefined) bad(f, `a gpt2 model has no ${f}`);
  },
  loraModules: ['c_attn', 'c_proj', 'c_fc'],
  defaultLoraTargets: ['c_attn', 'c_proj'],
  weightLayout: 'in-out',
  embeddingName: 'transformer.wte.weight',
  blockPrefix: (i) => `${h(i)}.`,
  embed(x, k, pLen) {
    const [, t, d] = x.shape;
    return tf.add(x, tf.slice(param(k, 'transformer.wpe.weight') as tf.Tensor2D, [pLen, 0], [t, d])); // [R, t, d] + [t, d]
  },
  block,
  finalNorm: (x, k) =>
    layerNorm(x, param(k, 'transformer.ln_f.weight'), param(k, 'transformer.ln_f.bias'), k.c.layerNormEps) as tf.Tensor3D,
  planBlock(c, n, att, need, keep) {
    const { d, inner: I } = dimsOf(c);
    need('block input x', [n, d]);
    need('ln_1 output', [n, d]);
    keep('c_attn product before its bias', [n, 3 * d]);
    keep('q, k, v before the head transpose', [n, d], 3);
    need('q, k, v heads', [n, d], 3);
    keep('attention scores (Reshape before the fused softmax)', att);
    need('attention probabilities', att);
    need('merged heads', [n, d]);
    keep('attn.c_proj product before its bias', [n, d]);
    keep('attention output (Reshape, residual Add)', [n, d]);
    need('x + attention', [n, d]);
    need('ln_2 output', [n, d]);
    keep('c_fc product before its bias', [n, I]);
    need('c_fc output (GELU input)', [n, I]);
    need('MLP hidden (GELU output)', [n, I]);
    keep('mlp.c_proj product before its bias', [n, d]);
    keep('MLP output (residual Add)', [n, d]);
  },
  // plain LayerNorm (ops.ts layerNorm: moments, x - mean, rsqrt, two Muls,
  // the Add) and tanh GELU keep these beyond the fused kernels' input and
  // output; counted on cpu at 4 x 24 tokens, d 32, the block 2 layers less 1
  planUnfused(c, n, keep, where) {
    const { d, inner: I } = dimsOf(c);
    const norms = where === 'block' ? 2 : 1; // ln_1, ln_2; ln_f
    keep('plain LayerNorm intermediates (x - mean, normalised, scaled, ...)', [n, d], 5 * norms);
    keep('plain LayerNorm row statistics (mean, variance, + eps, rsqrt)', [n], 4 * norms);
    if (where === 'block') keep('plain tanh GELU intermediates (x^3, its scaled sum, tanh, 1 + tanh, ...)', [n, I], 6);
  },
  planFinal(c, n, seqLen, need, keep) {
    keep('token embedding rows (the position Add)', [n, c.nEmbd]);
    keep('position rows (the position Add)', [seqLen, c.nEmbd]);
    need('ln_f input (the last block output)', [n, c.nEmbd]);
    need('ln_f output (the head input)', [n, c.nEmbd]);
  },
  gguf: {
    arch: 'gpt2',
    tensors(c, take, add) {
      const { d, inner, tied } = dimsOf(c);
      const V = c.vocabSize;
      const conv = (n: string, i: number, o: number): Float32Array => transposeRows(take(n, [i, o]), i, o); // Conv1D [in, out] -> [out, in]
      const wte = take('transformer.wte.weight', [V, d]);
      add('token_embd.weight', [V, d], wte);
      add('position_embd.weight', [c.blockSize, d], take('transformer.wpe.weight', [c.blockSize, d]));
      for (let l = 0; l < c.nLayer; l++) {
        const p = h(l);
        const b = `blk.${l}`;
        add(`${b}.attn_norm.weight`, [d], take(`${p}.ln_1.weight`, [d]));
        add(`${b}.attn_norm.bias`, [d], take(`${p}.ln_1.bias`, [d]));
        add(`${b}.attn_qkv.weight`, [3 * d, d], conv(`${p}.attn.c_attn.weight`, d, 3 * d)); // rows: q, k, v as c_attn's columns
        add(`${b}.attn_qkv.bias`, [3 * d], take(`${p}.attn.c_attn.bias`, [3 * d]));
        add(`${b}.attn_output.weight`, [d, d], conv(`${p}.attn.c_proj.weight`, d, d));
        add(`${b}.attn_output.bias`, [d], take(`${p}.attn.c_proj.bias`, [d]));
        add(`${b}.ffn_norm.weight`, [d], take(`${p}.ln_2.weight`, [d]));
        add(`${b}.ffn_norm.bias`, [d], take(`${p}.ln_2.bias`, [d]));
        add(`${b}.ffn_up.weight`, [inner, d], conv(`${p}.mlp.c_fc.weight`, d, inner));
        add(`${b}.ffn_up.bias`, [inner], take(`${p}.mlp.c_fc.bias`, [inner]));
        add(`${b}.ffn_down.weight`, [d, inner], conv(`${p}.mlp.c_proj.weight`, inner, d));
        add(`${b}.ffn_down.bias`, [d], take(`${p}.mlp.c_proj.bias`, [d]));
      }
      add('output_norm.weight', [d], take('transformer.ln_f.weight', [d]));
      add('output_norm.bias', [d], take('transformer.ln_f.bias', [d]));
      // The converter writes GPT-2's tied head as its own copy of the
      // embedding (output.weight); llama.cpp would also fall back to
      // token_embd, but the copy loads the same in older builds too.
      add('output.weight', [V, d], tied ? wte : take('lm_head.weight', [V, d]));
    },
    hparams: (c) => [['attention.layer_norm_epsilon', 'f32', c.layerNormEps]],
  },
});
