// The student: a decoder-only transformer of one of the registry's families
// (src/core/arch), with Hugging Face's tensor names and math so that
// pretrained weights load as they are. The family supplies the tensor table,
// the init rules, the embedding's positions, the block and the final norm;
// the attention core and KV cache (layers.ts), the tied or untied head, LoRA
// and activation recomputation are shared. With a LoRA config, every targeted
// projection adds (alpha / r) x A^T B^T.

import * as tf from '@tensorflow/tfjs-core';
import { FAMILIES, familyOf } from './arch';
import { loraShapes, paramShapes, type ModelConfig } from './config';
import type { TensorMap } from './state';
import { Rng } from '../shared/rng';
import { gatherRows } from './ops';
import { headLogits, type Head, type HeadPart } from './headLoss';
import { packedGather, packedTable, type PackedWeight } from './fused/packed';
import { ropeTensors, type Ctx, type LayerCache, type Params } from './layers';

export type { LayerCache, Params } from './layers';
/** GPT-2-style initialization, drawn from our own RNG so that every backend
 * starts from the same weights: N(0, 0.02), residual projections scaled by
 * 1/sqrt(2 * nLayer), zero biases, unit norm gains (the family's rules say
 * which parameter is which). A pretrained student's weights come from its
 * folder instead. */
export function initParams(c: ModelConfig, seed: number): TensorMap {
  const rng = new Rng(seed);
  const fam = familyOf(c);
  const out: TensorMap = {};
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    // lm_head (untied) is no family's: drawn like the embedding
    const rule = name === 'lm_head.weight' ? 'normal' : fam.initRule(name);
    if (rule === 'ones') data.fill(1);
    else if (rule !== 'zeros') {
      const std = rule === 'residual' ? 0.02 / Math.sqrt(2 * c.nLayer) : 0.02;
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
  const fam = familyOf(k.c);
  const prefix = fam.blockPrefix(i);
  const names = [...k.p.keys()].filter((n) => n.startsWith(prefix) && k.p.get(n)!.trainable);
  // the forward's tensors (the RoPE tables among them) are gone by the time
  // the backward runs: each run makes its own tables from the host copy
  const run = (input: tf.Tensor3D, ws: tf.Tensor[]): tf.Tensor3D => {
    const p = new Map(k.p) as Params;
    names.forEach((n, j) => {
      p.set(n, ws[j] as tf.Variable);
    });
    const rope = k.ropeHost ? ropeTensors(k.ropeHost) : undefined;
    return fam.block(input, { ...k, p, ...(rope ? { rope } : {}) }, i).x;
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
const embeddingName = (c: ModelConfig): string => familyOf(c).embeddingName;

/** Separates a table's name from the index of one of its row blocks. */
const PART = '@';

/** A [V, d] table as held: itself, or its row blocks `name@0`, `name@1`, ...
 * when it was larger than one GPU binding (createVariables' partBytes). */
function tableParts(p: Params, name: string): tf.Tensor2D[] {
  const whole = p.get(name);
  if (whole) return [whole as tf.Tensor2D];
  const parts: tf.Tensor2D[] = [];
  for (let k = 0; p.has(`${name}${PART}${k}`); k++) parts.push(p.get(`${name}${PART}${k}`)! as tf.Tensor2D);
  if (parts.length === 0) throw new Error(`missing parameter ${name}`);
  return parts;
}

/** The output head: [V, d] (lm_head when untied, else the token embedding),
 * as row blocks when it is split, with the config's final logit soft-cap.
 * Every logit is made from this (headLoss.ts headLogits and the chunked
 * loss), so a family's soft-cap reaches all of them. */
export function headParts(p: Params, c: ModelConfig): Head {
  const untied = p.has('lm_head.weight') || p.has(`lm_head.weight${PART}0`) || packedTable(p, 'lm_head.weight') !== undefined;
  const name = untied ? 'lm_head.weight' : embeddingName(c);
  // a packed base's table (base-dtype.ts): the tied head reads the
  // embedding's own packed storage, no second copy
  const parts: HeadPart[] = packedTable(p, name) ?? tableParts(p, name);
  return c.finalSoftcap === undefined ? { parts } : { parts, softcap: c.finalSoftcap };
}

/** h [N, d] @ head^T -> logits [N, V] (soft-capped when the head has a cap). */
export { headLogits } from './headLoss';

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

/** Rows `ids` of a packed table (base-dtype.ts), whole or in row blocks:
 * each block gathers its own ids' rows and zeros for the others. */
function packedRows(blocks: PackedWeight[], ids: tf.Tensor1D, d: number): tf.Tensor2D {
  let off = 0;
  let out: tf.Tensor2D | null = null;
  for (const b of blocks) {
    const rows = packedGather(ids, b, d, off); // [N, d]
    out = out ? (tf.add(out, rows) as tf.Tensor2D) : rows;
    off += b.words.shape[0];
  }
  return out!;
}

/** ids [R, t] int32 -> the final normed hidden states [R*t, d] (the head's
 * input) and, when asked, the layer caches. */
export function forwardHidden(
  p: Params,
  c: ModelConfig,
  ids: tf.Tensor2D,
  o: ForwardOptions = {},
): { hidden: tf.Tensor2D; cache?: LayerCache[] } {
  const [r, t] = ids.shape;
  const d = c.nEmbd;
  const pLen = o.past ? o.past[0].k.shape[2] : 0;
  if (pLen + t > c.blockSize) throw new Error(`sequence of ${pLen + t} tokens exceeds the model's ${c.blockSize} positions`);
  const fam = familyOf(c);
  const k: Ctx = { p, c, loraScale: c.lora ? c.lora.alpha / c.lora.rank : 0, layout: fam.weightLayout };
  const recompute = o.recompute === true && !o.past && !o.wantCache;
  const flat = tf.reshape(ids, [r * t]) as tf.Tensor1D;
  const packed = packedTable(p, fam.embeddingName);
  const rows = packed ? packedRows(packed, flat, d) : tableRows(tableParts(p, fam.embeddingName), flat);
  const emb = tf.reshape(rows, [r, t, d]) as tf.Tensor3D; // [R, t, d]
  let x = fam.embed(emb, k, pLen, recompute); // positions: added (learned) or RoPE tables set on k
  const caches: LayerCache[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    if (recompute) {
      x = recomputedBlock(x, k, i);
      continue;
    }
    const b = fam.block(x, k, i, o.past?.[i]);
    x = b.x;
    if (o.wantCache) caches.push(b.cache);
  }
  x = fam.finalNorm(x, k);
  const hidden = tf.reshape(x, [r * t, d]) as tf.Tensor2D; // [R*t, d]
  return o.wantCache ? { hidden, cache: caches } : { hidden };
}

/** ids [R, t] int32 -> logits [R*t, V] and, when asked, the layer caches. */
export function forward(
  p: Params,
  c: ModelConfig,
  ids: tf.Tensor2D,
  o: ForwardOptions = {},
): { logits: tf.Tensor2D; cache?: LayerCache[] } {
  const f = forwardHidden(p, c, ids, o);
  const logits = headLogits(f.hidden, headParts(p, c)); // [R*t, d] @ [V, d]^T -> [R*t, V]
  return o.wantCache ? { logits, cache: f.cache } : { logits };
}

/** Tables that may be held in row blocks: an embedding and the head. */
const splittable = (name: string): boolean => name === 'lm_head.weight' || FAMILIES.some((f) => f.embeddingName === name);

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
    const data = w.data; // once: a weight held in 16-bit patterns is decoded on each read (half-tensor.ts)
    const bytes = data.length * 4;
    if (!trainable && o.partBytes !== undefined && bytes > o.partBytes && splittable(name)) {
      const [rows, cols] = shape;
      const per = Math.max(1, Math.floor(o.partBytes / (cols * 4))); // rows a block
      for (let k = 0, start = 0; start < rows; k++, start += per) {
        const n = Math.min(per, rows - start);
        const init = tf.tensor(data.subarray(start * cols, (start + n) * cols), [n, cols], 'float32');
        p.set(`${name}${PART}${k}`, tf.variable(init, false, `${name}${PART}${k}#${Math.random().toString(36).slice(2)}`));
        init.dispose();
      }
      continue;
    }
    const init = tf.tensor(data, shape, 'float32');
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
