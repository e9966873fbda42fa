// The output head and the per-token cross-entropy without the [N, V] logits.
// A pretrained student's vocabulary is large (Qwen2.5: 151,936), and the
// plain path (logits = h @ w^T, then sparseCrossEntropy) keeps the whole
// [N, V] logits for the backward: 1.2 GB for 2,048 tokens. Here the forward
// computes C rows at a time, keeps each chunk's log-sum-exp and target logit
// and drops the chunk's logits; the backward recomputes them chunk by chunk.
// Peak memory is a few [C, V] tensors (see the comments in the loops), plus,
// when the head matrix trains, the [V, d] gradient being summed.
//
// The arithmetic per row is sparseCrossEntropy's (src/core/ops.ts):
// value = logSumExp(z) - z[target]; dz = (exp(z - lse) - onehot) * dy, then
// the product's gradients dh = dz @ w and dw = dz^T @ h (summed over chunks).

import * as tf from '@tensorflow/tfjs-core';
import { gatherRows, isFrozen, matMul2d, project } from './ops';
import { packedInputGrad, packedLinear, type PackedWeight } from './fused/packed';

/** One row block of the head [Vk, d]: a float32 matrix, or a packed base's
 * table (fused/packed.ts: f16 / int8 words, frozen), whose logits are the
 * packed projection hc E^T and whose share of dh the packed dX kernel. */
export type HeadPart = tf.Tensor2D | PackedWeight;

const isPacked = (w: HeadPart): w is PackedWeight => !(w instanceof tf.Tensor);
const partRows = (w: HeadPart): number => (isPacked(w) ? w.words.shape[0] : w.shape[0]);

/** The output head: its matrix [V, d] (whole, or as row blocks when larger
 * than one GPU binding, see model.ts) and the final logit soft-cap of the
 * families that have one (Gemma3's final_logit_softcapping). Every logit the
 * model produces (forward, generation, scoring, evaluation, the chunked
 * cross-entropy, the KL rows) is made here, by headLogits / the chunks of
 * headCrossEntropy / headLogitsRows, so the cap is applied in one place. */
export interface Head {
  parts: HeadPart[];
  /** logits -> tanh(z / cap) * cap */
  softcap?: number;
}

/** A head as the callers hold it: one matrix, its row blocks, or a Head. */
export type HeadLike = tf.Tensor2D | HeadPart[] | Head;

function asHead(h: HeadLike): Head {
  if (Array.isArray(h)) return { parts: h };
  if (h instanceof tf.Tensor) return { parts: [h] };
  return h;
}

/** The soft-cap tanh(z / cap) * cap (transformers' Gemma3ForCausalLM: divide,
 * tanh, multiply), or z itself without a cap. */
function capLogits(z: tf.Tensor2D, cap: number | undefined): tf.Tensor2D {
  return cap === undefined ? z : (tf.mul(tf.tanh(tf.div(z, cap)), cap) as tf.Tensor2D);
}

/** The logits h @ head^T [N, V] (soft-capped when the head says so), block by
 * block for a split head: what every caller outside the chunked loss reads. */
export function headLogits(h: tf.Tensor2D, head: HeadLike): tf.Tensor2D {
  const { parts, softcap } = asHead(head);
  return capLogits(
    partLogits(
      h,
      parts,
      parts.map(() => null),
    ),
    softcap,
  ); // [N, d] @ [V, d]^T -> [N, V]
}

interface HeadLossOptions {
  /** Whether w gets a gradient (default true). False for a frozen head (a
   * LoRA student's tied embedding): w is then no input of the custom op,
   * so the backward never builds the [V, d] gradient that tfjs would
   * otherwise compute and throw away. */
  trainHead?: boolean;
}

/** z = hc @ w^T for one chunk. tfjs-backend-wasm only sends untransposed 2-D
 * products to XNNPACK (matMul2d in ops.ts); there the caller passes w^T
 * [d, V] of a head that trains, transposed once per pass rather than once
 * per chunk (a [d, V] copy while the forward or the backward runs, on wasm
 * only). A frozen head is never copied: project takes the frozen op, which
 * transposes the chunk's activations instead (ops.ts frozenMatMul). */
function chunkLogits(hc: tf.Tensor2D, w: HeadPart, wT: tf.Tensor2D | null): tf.Tensor2D {
  if (isPacked(w)) return packedLinear(hc, w); // [c, d] @ [V, d]^T from the packed words
  return wT ? matMul2d(hc, wT) : project(hc, w, true); // [c, d] @ [d, V]
}

/** The head as row blocks of [V, d] (an embedding split because it is larger
 * than one GPU binding, see model.ts): z = hc @ w^T is the concatenation of
 * each block's logits; dh = g @ w the sum of each block's share of g. */
function partLogits(hc: tf.Tensor2D, parts: HeadPart[], partsT: (tf.Tensor2D | null)[]): tf.Tensor2D {
  if (parts.length === 1) return chunkLogits(hc, parts[0], partsT[0]);
  return tf.concat(
    parts.map((w, k) => chunkLogits(hc, w, partsT[k])),
    1,
  ) as tf.Tensor2D; // [c, V]
}

function partDh(g: tf.Tensor2D, parts: HeadPart[], d: number): tf.Tensor2D {
  // [c, Vk] @ [Vk, d]
  const times = (gk: tf.Tensor2D, w: HeadPart): tf.Tensor2D => (isPacked(w) ? packedInputGrad(gk, w, d) : project(gk, w));
  if (parts.length === 1) return times(g, parts[0]); // [c, V] @ [V, d]
  let off = 0;
  let dh: tf.Tensor2D | null = null;
  for (const w of parts) {
    const share = times(tf.slice(g, [0, off], [g.shape[0], partRows(w)]), w); // [c, Vk] @ [Vk, d]
    dh = dh ? (tf.add(dh, share) as tf.Tensor2D) : share;
    off += partRows(w);
  }
  return dh!;
}

/** w^T of a head that trains, on wasm (chunkLogits); none for a frozen one. */
const transposes = (parts: HeadPart[]): (tf.Tensor2D | null)[] =>
  parts.map((w) => (!isPacked(w) && tf.getBackend() === 'wasm' && !isFrozen(w) ? (tf.transpose(w) as tf.Tensor2D) : null));

/** g^T @ hc [V, d]: transposeA natively, an explicit transpose on wasm. */
function productTA(g: tf.Tensor2D, hc: tf.Tensor2D): tf.Tensor2D {
  return tf.getBackend() === 'wasm' ? matMul2d(tf.transpose(g), hc) : tf.matMul(g, hc, true, false); // [V, c] @ [c, d]
}

/** The chunks' pieces as one tensor; the pieces are disposed at once rather
 * than when the surrounding scope ends. */
function joinParts<T extends tf.Tensor>(parts: T[]): T {
  if (parts.length === 1) return parts[0];
  const out = tf.concat(parts) as T;
  tf.dispose(parts);
  return out;
}

function checkArgs(h: tf.Tensor2D, parts: HeadPart[], targets: tf.Tensor1D, chunk: number): void {
  if (!Number.isSafeInteger(chunk) || chunk < 1) throw new Error(`head chunk size must be a positive integer, got ${chunk}`);
  for (const w of parts)
    if (isPacked(w)) {
      if (h.rank !== 2) throw new Error(`head: hidden states [${h.shape}] must be [N, d]`); // packedLinear checks d
    } else if (h.rank !== 2 || w.rank !== 2 || h.shape[1] !== w.shape[1])
      throw new Error(`head: hidden states [${h.shape}] and head matrix [${w.shape}] do not match (need [N, d] and [V, d])`);
  if (targets.rank !== 1 || targets.shape[0] !== h.shape[0])
    throw new Error(`head: targets [${targets.shape}] do not match hidden states [${h.shape}]`);
  if (targets.dtype !== 'int32') throw new Error(`head: targets must be int32, got ${targets.dtype}`);
}

/** Per-token cross-entropy [N] of the logits h @ w^T (h [N, d] float32, w
 * [V, d], targets [N] int32), computed `chunk` rows at a time; the [N, V]
 * logits never exist. Gradients flow to h and (unless trainHead is false)
 * to w; targets get zeros. */
export function headCrossEntropy(
  h: tf.Tensor2D,
  head: HeadLike,
  targets: tf.Tensor1D,
  chunk: number,
  o: HeadLossOptions = {},
): tf.Tensor1D {
  const { parts, softcap } = asHead(head);
  checkArgs(h, parts, targets, chunk);
  const [n, d] = h.shape;
  const v = parts.reduce((s, w) => s + partRows(w), 0);
  const trainHead = o.trainHead ?? true;
  if (trainHead && parts.length > 1) throw new Error('a head split in row blocks is frozen: it cannot train');
  if (trainHead && isPacked(parts[0])) throw new Error('a packed head (f16 / int8 base) is frozen: it cannot train');
  const starts: number[] = [];
  for (let s = 0; s < n; s += chunk) starts.push(s);

  // The forward runs inside the custom op, with the tape off: nothing it
  // makes is recorded, and everything but the outputs and `save`d tensors is
  // disposed when it returns. `save` keeps h, w, targets (clones that share
  // their buffers: no copies) and lse [N].
  const forward = (hs: tf.Tensor2D, ws: HeadPart[], ts: tf.Tensor1D): { lse: tf.Tensor1D; value: tf.Tensor1D } => {
    const wT = transposes(ws);
    const lses: tf.Tensor1D[] = [];
    const picks: tf.Tensor1D[] = [];
    for (const s of starts) {
      const c = Math.min(chunk, n - s);
      // per chunk: z [c, V], and logSumExp's z - max and exp [c, V] (3 [c, V]
      // at most), all disposed when the chunk's tidy ends
      const [l, picked] = tf.tidy(() => {
        const z = capLogits(partLogits(tf.slice(hs, [s, 0], [c, d]), ws, wT), softcap);
        const tc = tf.slice(ts, [s], [c]);
        const flat = tf.add(tf.mul(tf.range(0, c, 1, 'int32'), tf.scalar(v, 'int32')), tc); // index of z[i, t_i] in z.flatten()
        return [tf.logSumExp(z, 1), tf.gather(tf.reshape(z, [c * v]), flat)] as tf.Tensor1D[];
      });
      lses.push(l);
      picks.push(picked);
    }
    const lse = joinParts(lses);
    const value = tf.sub(lse, joinParts(picks)) as tf.Tensor1D;
    return { lse, value };
  };

  // The backward, chunk by chunk: recompute z, form dz, and accumulate.
  const backward = (
    dy: tf.Tensor1D,
    hs: tf.Tensor2D,
    ws: HeadPart[],
    ts: tf.Tensor1D,
    lse: tf.Tensor1D,
    wantDw: boolean,
  ): { dh: tf.Tensor2D; dw: tf.Tensor2D | null } => {
    const wT = transposes(ws);
    const dhs: tf.Tensor2D[] = [];
    let dw: tf.Tensor2D | null = null;
    for (const s of starts) {
      const c = Math.min(chunk, n - s);
      const prev: tf.Tensor2D | null = dw;
      // [dh chunk] or [dh chunk, the new running sum of dw]
      const [dhc, dwNext] = tf.tidy((): tf.Tensor2D[] => {
        const hc = tf.slice(hs, [s, 0], [c, d]);
        const g = tf.tidy(() => {
          // softmax, as sparseCrossEntropy: exp(z - lse); z, z - lse, p: 3 [c, V]
          // (with a soft-cap, z is the capped logits, kept for its derivative: one more [c, V])
          const z = softcap === undefined ? null : capLogits(partLogits(hc, ws, wT), softcap);
          const p = tf.tidy(() => tf.exp(tf.sub(z ?? partLogits(hc, ws, wT), tf.expandDims(tf.slice(lse, [s], [c]), 1))));
          // float one-hot, the int32 one dropped at once (the sub would cast a
          // copy of it); not oneHot(..., 'float32'): tfjs-backend-wasm 4.22's
          // OneHot writes zeros for a float32 dtype
          const oh = tf.tidy(() => tf.cast(tf.oneHot(tf.slice(ts, [s], [c]) as tf.Tensor1D, v), 'float32'));
          const diff = tf.sub(p, oh); // p, oh, diff: 3 [c, V]
          p.dispose();
          oh.dispose();
          const gz = tf.mul(diff, tf.expandDims(tf.slice(dy, [s], [c]), 1)) as tf.Tensor2D; // diff, g: 2 [c, V]
          if (!z) return gz;
          // through the cap: d(cap * tanh(u / cap)) / du = 1 - tanh^2 = 1 - (z / cap)^2
          return tf.mul(gz, tf.sub(1, tf.square(tf.div(z, softcap!)))) as tf.Tensor2D;
        });
        const dhc = partDh(g, ws, d); // [c, V] @ [V, d]: untransposed, XNNPACK's path on wasm
        if (!wantDw) return [dhc];
        const part = productTA(g, hc); // [V, d]
        // the running sum: prev, part and the new sum are 3 [V, d] for an instant
        return [dhc, prev ? (tf.add(prev, part) as tf.Tensor2D) : part];
      });
      dhs.push(dhc);
      if (dwNext) {
        prev?.dispose();
        dw = dwNext;
      }
    }
    return { dh: joinParts(dhs), dw };
  };

  if (trainHead) {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [hs, ws, ts, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
      const { lse, value } = forward(hs, [ws], ts);
      save([hs, ws, ts, lse]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sh, sw, st, sl] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
          const { dh, dw } = backward(dy as tf.Tensor1D, sh, [sw], st, sl, true);
          return [dh, dw!, tf.zerosLike(st)];
        },
      };
    });
    return f(h, parts[0] as tf.Tensor2D, targets) as tf.Tensor1D;
  }
  // A frozen head: w is captured, not an input, so it gets no gradient. The
  // closure must keep w alive until the backward (the caller's variable).
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [hs, ts, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const { lse, value } = forward(hs, parts, ts);
    save([hs, ts, lse]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, st, sl] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        return [backward(dy as tf.Tensor1D, sh, parts, st, sl, false).dh, tf.zerosLike(st)];
      },
    };
  });
  return f(h, targets) as tf.Tensor1D;
}

/** Logits of a few rows, h[rows] @ w^T [M, V] (the KL rows): the rows are
 * gathered first, so only [M, V] is computed. Differentiable in h and w. */
export function headLogitsRows(h: tf.Tensor2D, head: HeadLike, rows: tf.Tensor1D): tf.Tensor2D {
  return headLogits(gatherRows(h, rows), head); // [M, d] @ [V, d]^T -> [M, V]
}
