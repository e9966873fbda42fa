// AdamW with decoupled weight decay (none on biases, LayerNorm gains and
// embeddings) and global-norm clipping, written as tensor ops so the whole
// update runs inside the training step's tf.tidy. Same arithmetic as
// torch.optim.AdamW and torch.nn.utils.clip_grad_norm_ (support/torch_ref.py).

import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerState } from './state';
import { readVariables } from './model';
import { MAX_PROGRAM_INPUTS, fusedActive, fusedAdamW, fusedSumSquareParts } from './fused/ops';

interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number; // 0 disables
}

/** Decay only matrices that are not embeddings (GPT-2 / nanoGPT practice). */
function decays(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && !name.includes('.wte.') && !name.includes('.wpe.');
}

/** tf.addN in groups: WebGPU binds one storage buffer per input, so addN
 * over every parameter fails there. */
function addMany(xs: tf.Tensor[], group = MAX_PROGRAM_INPUTS): tf.Tensor {
  let level = xs;
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += group) {
      const part = level.slice(i, i + group);
      next.push(part.length === 1 ? part[0] : tf.addN(part));
    }
    level = next;
  }
  return level[0];
}

export class AdamW {
  step = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  /** Steps skipped because the loss or the gradient norm was not finite,
   * counted on the device so that no step has to read a value back. */
  readonly skipped = tf.tidy(() => tf.variable(tf.scalar(0), false));

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly c: AdamWConfig,
    state?: OptimizerState,
  ) {
    for (const [name, p] of params) {
      const m0 = state?.m[name];
      const v0 = state?.v[name];
      this.m.set(
        name,
        tf.tidy(() => tf.variable(m0 ? tf.tensor(m0.data, p.shape) : tf.zerosLike(p), false)),
      );
      this.v.set(
        name,
        tf.tidy(() => tf.variable(v0 ? tf.tensor(v0.data, p.shape) : tf.zerosLike(p), false)),
      );
    }
    if (state) this.step = state.step;
  }

  /** Applies one update; call inside tf.tidy. Returns the pre-clip global norm.
   * A step whose loss (when given) or gradient norm is not finite changes
   * nothing (parameters and moments keep their values; `skipped` counts it):
   * one bad batch must not turn every weight into NaN. */
  apply(grads: tf.NamedTensorMap, lr: number, loss?: tf.Scalar): tf.Scalar {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd, gradClip } = this.c;
    const names = [...this.params.keys()];
    const fused = fusedActive();
    const squares = fused ? fusedSumSquareParts(names.map((n) => grads[n])) : names.map((n) => tf.sum(tf.square(grads[n])));
    const norm = tf.sqrt(addMany(squares)) as tf.Scalar;
    const finite = loss ? tf.logicalAnd(tf.isFinite(norm), tf.isFinite(loss)) : tf.isFinite(norm);
    this.skipped.assign(tf.add(this.skipped, tf.sub(1, tf.cast(finite, 'float32'))));
    // torch: coef = max_norm / (norm + 1e-6), applied only when below 1; a
    // scale of 0 marks a skipped step (the fused kernel keeps the old values)
    const clip = gradClip > 0 ? tf.minimum(1, tf.div(gradClip, tf.add(norm, 1e-6))) : tf.scalar(1);
    const scale = tf.where(finite, clip, tf.scalar(0));
    this.step++;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    const scale1 = fused ? (tf.reshape(scale, [1]) as tf.Tensor1D) : undefined; // the fused kernel's [1] input
    for (const n of names) {
      const p = this.params.get(n)!;
      const decay = decays(n, p.shape) && wd > 0 ? 1 - lr * wd : 1;
      if (scale1) {
        // one dispatch per output instead of about fifteen small kernels
        const [p2, m2, v2] = fusedAdamW(p, this.m.get(n)!, this.v.get(n)!, grads[n], scale1, { lr, b1, b2, bc1, bc2, eps, decay });
        this.m.get(n)!.assign(m2);
        this.v.get(n)!.assign(v2);
        p.assign(p2);
        continue;
      }
      const g = tf.mul(grads[n], scale);
      const m = tf.add(tf.mul(this.m.get(n)!, b1), tf.mul(g, 1 - b1));
      const v = tf.add(tf.mul(this.v.get(n)!, b2), tf.mul(tf.square(g), 1 - b2));
      const decayed = decay !== 1 ? tf.mul(p, decay) : p;
      const upd = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
      const p2 = tf.sub(decayed, tf.mul(upd, lr));
      this.m.get(n)!.assign(tf.where(finite, m, this.m.get(n)!));
      this.v.get(n)!.assign(tf.where(finite, v, this.v.get(n)!));
      p.assign(tf.where(finite, p2, p));
    }
    return norm;
  }

  /** Skipped steps so far (a read-back: call on logging steps only). */
  async skippedSteps(): Promise<number> {
    return (await this.skipped.data())[0];
  }

  async state(): Promise<OptimizerState> {
    return { step: this.step, m: await readVariables(this.m), v: await readVariables(this.v) };
  }

  dispose(): void {
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
    this.skipped.dispose();
  }
}
