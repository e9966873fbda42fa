// The student: a decoder-only transformer in one of two families, with
// Hugging Face's tensor names and math so that pretrained weights load as they
// are (see transformers' modeling_gpt2.py and modeling_llama.py):
//  - gpt2 (our from-scratch student, and GPT-2 / distilgpt2): pre-LayerNorm
//    blocks, learned positions, GELU MLP, Conv1D weights [in, out];
//  - llama / qwen2 (SmolLM2, TinyLlama, Qwen2.5): RMSNorm, RoPE (rotate_half),
//    grouped-query attention, SwiGLU MLP, nn.Linear weights [out, in]; Qwen2
//    adds q/k/v biases.
// Both share the attention core, the KV cache and the tied or untied head.
// With a LoRA config, every targeted projection adds (alpha / r) x A^T B^T.

import * as tf from '@tensorflow/tfjs-core';
import { archOf, dimsOf, loraShapes, paramShapes, type ModelConfig } from './config';
import type { TensorMap } from './state';
import { Rng } from '../shared/rng';
import { applyRope, gatherRows, gelu, layerNorm, matMul2d, rmsNorm, ropeTables, silu } from './ops';
import { fusedActive, fusedCausalSoftmax } from './fused/ops';

export type Params = Map<string, tf.Variable>;

const isNormWeight = (name: string): boolean => /(ln_\d|ln_f|layernorm|model\.norm)\.weight$/.test(name);

/** GPT-2-style initialization, drawn from our own RNG so that every backend
 * starts from the same weights: N(0, 0.02), GPT-2's residual projections
 * scaled by 1/sqrt(2 * nLayer), zero biases, unit norm gains. (A pretrained
 * student's weights come from its folder instead.) */
export function initParams(c: ModelConfig, seed: number): TensorMap {
  const rng = new Rng(seed);
  const out: TensorMap = {};
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('.bias')) {
      // zeros
    } else if (isNormWeight(name)) data.fill(1);
    else {
      const std = /c_proj\.weight$|o_proj\.weight$|down_proj\.weight$/.test(name) ? 0.02 / Math.sqrt(2 * c.nLayer) : 0.02;
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    }
    out[name] = { shape, data };
  }
  return out;
}

/** A new adapter as PEFT initialises one: A Kaiming-uniform with a = sqrt(5)
 * (uniform in +-1/sqrt(in)), B zeros, so the adapted model starts as the base. */
export function initLora(c: ModelConfig, seed: number): TensorMap {
  const rng = new Rng(seed);
  const out: TensorMap = {};
  for (const [name, shape] of loraShapes(c)) {
    const data = new Float32Array(shape[0] * shape[1]);
    if (name.endsWith('lora_A.weight')) {
      const bound = 1 / Math.sqrt(shape[1]);
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
    }
    out[name] = { shape, data };
  }
  return out;
}

/** One layer's key/value cache for incremental decoding (after RoPE, before
 * the grouped heads are repeated). */
export interface LayerCache {
  k: tf.Tensor4D; // [R, Hkv, P, hd]
  v: tf.Tensor4D; // [R, Hkv, P, hd]
}

/** What every block reads: the parameters, the config and per-call tables. */
interface Ctx {
  p: Params;
  c: ModelConfig;
  loraScale: number;
  rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D }; // [t, hd] for this call's positions
  ropeHost?: { cos: Float32Array; sin: Float32Array; t: number; hd: number }; // the same, on the host
}

/** A projection of x [N, in] by the module `pre` (Conv1D [in, out] for gpt2,
 * nn.Linear [out, in] otherwise), its bias when it has one, and its LoRA
 * update when the module is adapted. */
function linear(x: tf.Tensor2D, k: Ctx, pre: string): tf.Tensor2D {
  const w = k.p.get(`${pre}.weight`)! as tf.Tensor2D;
  let y = matMul2d(x, w, archOf(k.c) !== 'gpt2'); // [N, in] @ [in, out]  (or [N, in] @ [out, in]^T)
  const b = k.p.get(`${pre}.bias`);
  if (b) y = tf.add(y, b);
  const a = k.p.get(`${pre}.lora_A.weight`) as tf.Tensor2D | undefined;
  if (a) {
    const low = matMul2d(x, a, true); // [N, in] @ [r, in]^T -> [N, r]
    const up = matMul2d(low, k.p.get(`${pre}.lora_B.weight`)! as tf.Tensor2D, true); // [N, r] @ [out, r]^T -> [N, out]
    y = tf.add(y, tf.mul(up, k.loraScale));
  }
  return y;
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

/** Key/value heads repeated for grouped-query attention: kv head j serves
 * query heads j*rep .. j*rep+rep-1 (transformers' repeat_kv). */
function repeatKv(x: tf.Tensor4D, rep: number): tf.Tensor4D {
  if (rep === 1) return x;
  const [r, hkv, t, hd] = x.shape;
  const wide = tf.broadcastTo(tf.reshape(x, [r * hkv, 1, t * hd]), [r * hkv, rep, t * hd]); // [R*Hkv, rep, t*hd]
  return tf.reshape(wide, [r, hkv * rep, t, hd]); // [R, H, t, hd]
}

/** Causal self-attention over x [R, t, d], with optional cached keys/values
 * of P earlier positions; returns the output and this call's full k/v. */
function attention(x: tf.Tensor3D, k: Ctx, pre: string, past?: LayerCache): { y: tf.Tensor3D; cache: LayerCache } {
  const [r, t, d] = x.shape;
  const { headDim: hd, nKvHead } = dimsOf(k.c);
  const h = k.c.nHead;
  const x2 = tf.reshape<tf.Rank.R2>(x, [r * t, d]); // [R*t, d]
  const heads = (m: tf.Tensor2D, n: number): tf.Tensor4D => tf.transpose(tf.reshape(m, [r, t, n, hd]), [0, 2, 1, 3]); // [R*t, n*hd] -> [R, n, t, hd]
  let q: tf.Tensor4D, k0: tf.Tensor4D, v0: tf.Tensor4D;
  if (archOf(k.c) === 'gpt2') {
    const qkv = linear(x2, k, `${pre}.c_attn`); // [R*t, 3d]
    [q, k0, v0] = tf.split(qkv, 3, 1).map((m) => heads(m as tf.Tensor2D, h));
  } else {
    q = heads(linear(x2, k, `${pre}.q_proj`), h); // [R, H, t, hd]
    k0 = heads(linear(x2, k, `${pre}.k_proj`), nKvHead); // [R, Hkv, t, hd]
    v0 = heads(linear(x2, k, `${pre}.v_proj`), nKvHead);
    const { cos, sin } = k.rope!;
    q = applyRope(q, cos, sin);
    k0 = applyRope(k0, cos, sin);
  }
  const kAll = past ? (tf.concat([past.k, k0], 2) as tf.Tensor4D) : k0; // [R, Hkv, P+t, hd]
  const vAll = past ? (tf.concat([past.v, v0], 2) as tf.Tensor4D) : v0;
  const pLen = past ? past.k.shape[2] : 0;
  const rep = h / nKvHead;
  const scores = tf.matMul(q, repeatKv(kAll, rep), false, true) as tf.Tensor4D; // [R, H, t, hd] @ [R, H, hd, P+t] -> [R, H, t, P+t]
  const y = tf.matMul(causalSoftmax(scores, 1 / Math.sqrt(hd), pLen), repeatKv(vAll, rep)); // [R, H, t, P+t] @ [R, H, P+t, hd] -> [R, H, t, hd]
  const merged = tf.reshape<tf.Rank.R2>(tf.transpose(y, [0, 2, 1, 3]), [r * t, h * hd]); // [R*t, H*hd]
  const out = linear(merged, k, archOf(k.c) === 'gpt2' ? `${pre}.c_proj` : `${pre}.o_proj`); // [R*t, d]
  return { y: tf.reshape(out, [r, t, d]) as tf.Tensor3D, cache: { k: kAll, v: vAll } };
}

function mlp(x: tf.Tensor3D, k: Ctx, pre: string): tf.Tensor3D {
  const [r, t, d] = x.shape;
  const x2 = tf.reshape<tf.Rank.R2>(x, [r * t, d]); // [R*t, d]
  if (archOf(k.c) === 'gpt2') {
    const hdn = gelu(linear(x2, k, `${pre}.c_fc`)) as tf.Tensor2D; // [R*t, inner]
    return tf.reshape(linear(hdn, k, `${pre}.c_proj`), [r, t, d]); // [R, t, d]
  }
  const gated = tf.mul(silu(linear(x2, k, `${pre}.gate_proj`)), linear(x2, k, `${pre}.up_proj`)) as tf.Tensor2D; // [R*t, inner]
  return tf.reshape(linear(gated, k, `${pre}.down_proj`), [r, t, d]); // [R, t, d]
}

/** One pre-norm block: x + attn(norm1(x)), then + mlp(norm2(.)). */
function block(x: tf.Tensor3D, k: Ctx, i: number, past?: LayerCache): { x: tf.Tensor3D; cache: LayerCache } {
  const { p, c } = k;
  if (archOf(c) === 'gpt2') {
    const pre = `transformer.h.${i}`;
    const a = attention(layerNorm(x, p.get(`${pre}.ln_1.weight`)!, p.get(`${pre}.ln_1.bias`)!, c.layerNormEps) as tf.Tensor3D, k, `${pre}.attn`, past);
    const h = tf.add(x, a.y) as tf.Tensor3D;
    return { x: tf.add(h, mlp(layerNorm(h, p.get(`${pre}.ln_2.weight`)!, p.get(`${pre}.ln_2.bias`)!, c.layerNormEps) as tf.Tensor3D, k, `${pre}.mlp`)), cache: a.cache };
  }
  const pre = `model.layers.${i}`;
  const a = attention(rmsNorm(x, p.get(`${pre}.input_layernorm.weight`)!, c.layerNormEps) as tf.Tensor3D, k, `${pre}.self_attn`, past);
  const h = tf.add(x, a.y) as tf.Tensor3D;
  return { x: tf.add(h, mlp(rmsNorm(h, p.get(`${pre}.post_attention_layernorm.weight`)!, c.layerNormEps) as tf.Tensor3D, k, `${pre}.mlp`)), cache: a.cache };
}

export interface ForwardOptions {
  /** Key/value caches from earlier calls, one per layer (decoding). */
  past?: LayerCache[];
  /** Return the new caches (decoding). */
  wantCache?: boolean;
  /** Activation recomputation: keep only each block's input for the
   * backward and run the block again there (training without a cache). */
  recompute?: boolean;
}

/** tfjs's engine, for the one field recomputation must guard. */
interface EngineTape {
  state: { activeTape: unknown[] | null };
}

/** A block whose activations are not kept: the forward runs it in a tidy
 * and saves only its input; the backward runs it again and differentiates
 * that run. The block's trainable variables are the custom op's inputs (a
 * customGrad gives gradients to its inputs only); frozen weights and the
 * RoPE tables are read as constants. tfjs's engine keeps one tape: a
 * gradient taken inside a backward would replace the outer one and end it,
 * so the outer tape is put back afterwards. */
function recomputedBlock(x: tf.Tensor3D, k: Ctx, i: number): tf.Tensor3D {
  const prefix = archOf(k.c) === 'gpt2' ? `transformer.h.${i}.` : `model.layers.${i}.`;
  const names = [...k.p.keys()].filter((n) => n.startsWith(prefix) && k.p.get(n)!.trainable);
  // the forward's tensors (the RoPE tables among them) are gone by the time
  // the backward runs: each run makes its own tables from the host copy
  const run = (input: tf.Tensor3D, ws: tf.Tensor[]): tf.Tensor3D => {
    const p = new Map(k.p) as Params;
    names.forEach((n, j) => {
      p.set(n, ws[j] as tf.Variable);
    });
    const h = k.ropeHost;
    const rope = h ? { cos: tf.tensor2d(h.cos, [h.t, h.hd]), sin: tf.tensor2d(h.sin, [h.t, h.hd]) } : undefined;
    return block(input, { ...k, p, ...(rope ? { rope } : {}) }, i).x;
  };
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const ins = args.slice(0, -1) as tf.Tensor[];
    save(ins);
    return {
      value: tf.tidy(() => run(ins[0] as tf.Tensor3D, ins.slice(1))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const engine = tf.engine() as unknown as EngineTape;
        const outer = engine.state.activeTape;
        try {
          return tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(run(a[0] as tf.Tensor3D, a.slice(1)), dy)))(saved);
        } finally {
          engine.state.activeTape = outer;
        }
      },
    };
  });
  return f(x, ...names.map((n) => k.p.get(n)!)) as tf.Tensor3D;
}

/** The token embedding's name in the architecture's table. */
export const embeddingName = (c: ModelConfig): string => (archOf(c) === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight');

/** Separates a table's name from the index of one of its row blocks. */
const PART = '@';

/** A [V, d] table as held: itself, or its row blocks `name@0`, `name@1`, ...
 * when it was larger than one GPU binding (createVariables' partBytes). */
export function tableParts(p: Params, name: string): tf.Tensor2D[] {
  const whole = p.get(name);
  if (whole) return [whole as tf.Tensor2D];
  const parts: tf.Tensor2D[] = [];
  for (let k = 0; p.has(`${name}${PART}${k}`); k++) parts.push(p.get(`${name}${PART}${k}`)! as tf.Tensor2D);
  if (parts.length === 0) throw new Error(`missing parameter ${name}`);
  return parts;
}

/** The output head [V, d] (lm_head when untied, else the token embedding),
 * as row blocks when it is split. */
export function headParts(p: Params, c: ModelConfig): tf.Tensor2D[] {
  return tableParts(p, p.has('lm_head.weight') || p.has(`lm_head.weight${PART}0`) ? 'lm_head.weight' : embeddingName(c));
}

/** h [N, d] @ head^T -> logits [N, V], block by block for a split head. */
export function headLogits(h: tf.Tensor2D, parts: tf.Tensor2D[]): tf.Tensor2D {
  if (parts.length === 1) return matMul2d(h, parts[0], true); // [N, d] @ [V, d]^T -> [N, V]
  return tf.concat(parts.map((w) => matMul2d(h, w, true)), 1) as tf.Tensor2D; // [N, Vk] each -> [N, V]
}

/** Rows `ids` of a table held whole or in row blocks: a block serves the ids
 * in its range and zeros elsewhere (only frozen tables are split, so this
 * path needs no gradient to the table). */
function tableRows(parts: tf.Tensor2D[], ids: tf.Tensor1D): tf.Tensor2D {
  if (parts.length === 1) return gatherRows(parts[0], ids);
  let off = 0;
  let out: tf.Tensor2D | null = null;
  for (const w of parts) {
    const local = tf.sub(ids, tf.scalar(off, 'int32'));
    const inside = tf.logicalAnd(tf.greaterEqual(local, 0), tf.less(local, w.shape[0])); // [N]
    const rows = tf.mul(tf.gather(w, tf.where(inside, local, tf.zerosLike(local))), tf.expandDims(tf.cast(inside, 'float32'), 1)); // [N, d]
    out = out ? (tf.add(out, rows) as tf.Tensor2D) : (rows as tf.Tensor2D);
    off += w.shape[0];
  }
  return out!;
}

/** ids [R, t] int32 -> the final normed hidden states [R*t, d] (the head's
 * input) and, when asked, the layer caches. */
export function forwardHidden(p: Params, c: ModelConfig, ids: tf.Tensor2D, o: ForwardOptions = {}): { hidden: tf.Tensor2D; cache?: LayerCache[] } {
  const [r, t] = ids.shape;
  const d = c.nEmbd;
  const pLen = o.past ? o.past[0].k.shape[2] : 0;
  if (pLen + t > c.blockSize) throw new Error(`sequence of ${pLen + t} tokens exceeds the model's ${c.blockSize} positions`);
  const gpt2 = archOf(c) === 'gpt2';
  let x = tf.reshape(tableRows(tableParts(p, embeddingName(c)), tf.reshape(ids, [r * t])), [r, t, d]) as tf.Tensor3D; // [R, t, d]
  const k: Ctx = { p, c, loraScale: c.lora ? c.lora.alpha / c.lora.rank : 0 };
  const recompute = o.recompute && !o.past && !o.wantCache;
  if (gpt2) {
    x = tf.add(x, tf.slice(p.get('transformer.wpe.weight')! as tf.Tensor2D, [pLen, 0], [t, d])); // + [t, d]
  } else {
    const { headDim, ropeTheta } = dimsOf(c);
    const tables = ropeTables(pLen, t, headDim, ropeTheta);
    // recomputed blocks make their own tables (the forward's are gone by the backward)
    if (recompute) k.ropeHost = { ...tables, t, hd: headDim };
    else k.rope = { cos: tf.tensor2d(tables.cos, [t, headDim]), sin: tf.tensor2d(tables.sin, [t, headDim]) };
  }
  const caches: LayerCache[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    if (recompute) {
      x = recomputedBlock(x, k, i);
      continue;
    }
    const b = block(x, k, i, o.past?.[i]);
    x = b.x;
    if (o.wantCache) caches.push(b.cache);
  }
  x = (gpt2
    ? layerNorm(x, p.get('transformer.ln_f.weight')!, p.get('transformer.ln_f.bias')!, c.layerNormEps)
    : rmsNorm(x, p.get('model.norm.weight')!, c.layerNormEps)) as tf.Tensor3D;
  const hidden = tf.reshape(x, [r * t, d]) as tf.Tensor2D; // [R*t, d]
  return o.wantCache ? { hidden, cache: caches } : { hidden };
}

/** ids [R, t] int32 -> logits [R*t, V] and, when asked, the layer caches. */
export function forward(p: Params, c: ModelConfig, ids: tf.Tensor2D, o: ForwardOptions = {}): { logits: tf.Tensor2D; cache?: LayerCache[] } {
  const f = forwardHidden(p, c, ids, o);
  const logits = headLogits(f.hidden, headParts(p, c)); // [R*t, d] @ [V, d]^T -> [R*t, V]
  return o.wantCache ? { logits, cache: f.cache } : { logits };
}

/** Tables that may be held in row blocks: the embedding and the head. */
const SPLITTABLE = /(^|\.)(wte|embed_tokens)\.weight$|^lm_head\.weight$/;

/** Variables for a table of tensors; `trainable` false freezes them (a LoRA
 * run's base). Shapes are checked against the table. A frozen embedding or
 * head larger than `partBytes` (the GPU's maxStorageBufferBindingSize: tfjs
 * binds every tensor whole, and computes wrong numbers past the limit) is
 * held as row blocks `name@k` (tableParts). */
export function createVariables(weights: TensorMap, table: [string, number[]][], trainable = true, o: { partBytes?: number } = {}): Params {
  const p: Params = new Map();
  for (const [name, shape] of table) {
    const w = weights[name];
    if (!w) throw new Error(`missing parameter ${name}`);
    if (w.shape.length !== shape.length || w.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`parameter ${name} has shape [${w.shape}], the config needs [${shape}]`);
    }
    const bytes = w.data.length * 4;
    if (!trainable && o.partBytes !== undefined && bytes > o.partBytes && SPLITTABLE.test(name)) {
      const [rows, cols] = shape;
      const per = Math.max(1, Math.floor(o.partBytes / (cols * 4))); // rows a block
      for (let k = 0, start = 0; start < rows; k++, start += per) {
        const n = Math.min(per, rows - start);
        const init = tf.tensor(w.data.subarray(start * cols, (start + n) * cols), [n, cols], 'float32');
        p.set(`${name}${PART}${k}`, tf.variable(init, false, `${name}${PART}${k}#${Math.random().toString(36).slice(2)}`));
        init.dispose();
      }
      continue;
    }
    const init = tf.tensor(w.data, shape, 'float32');
    // tfjs variable names are global: two trainers (a comparison) must not clash
    p.set(name, tf.variable(init, trainable, `${name}#${Math.random().toString(36).slice(2)}`));
    init.dispose();
  }
  return p;
}

export async function readVariables(p: ReadonlyMap<string, tf.Variable>): Promise<TensorMap> {
  const out: TensorMap = {};
  for (const [name, v] of p) out[name] = { shape: v.shape.slice(), data: (await v.data()) as Float32Array };
  return out;
}
