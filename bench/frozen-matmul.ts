// The frozen projection's cost on wasm, one product's forward + input
// gradient at the pretrained rows' shapes (256 tokens), side by side with
// what it replaces: matMul2d, which transposes the weight explicitly and
// computes its gradient too. Both layouts: GPT-2's Conv1D [in, out] and
// nn.Linear's [out, in]. Medians of interleaved repetitions.
//
//   npx tsx bench/frozen-matmul.ts [REPS]
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { frozenMatMul, matMul2d } from '../src/core/ops';
import { registerNodeGradients } from '../src/node/gradients';
import { median } from '../support/synthetic';

registerNodeGradients();
await tf.setBackend('wasm');
await tf.ready();
const reps = Number(process.argv[2] ?? 5);

/** ms of one forward + input gradient of sum(mm(x) * r) (matMul2d's custom
 * gradient computes the weight's gradient as well, wanted or not). */
function timeStep(x: tf.Tensor2D, r: tf.Tensor2D, mm: (a: tf.Tensor2D) => tf.Tensor2D): number {
  const t0 = performance.now();
  tf.tidy(() => {
    tf.grad((a: tf.Tensor) => tf.sum(tf.mul(mm(a as tf.Tensor2D), r)))(x).dataSync(); // dx
  });
  return performance.now() - t0;
}

const n = 256;
for (const [k, m] of [
  [768, 2304], // GPT-2 c_attn
  [768, 3072], // GPT-2 c_fc
  [576, 1536], // SmolLM2 gate/up
]) {
  for (const layout of ['in-out', 'out-in'] as const) {
    const x = tf.randomNormal([n, k]) as tf.Tensor2D;
    const r = tf.randomNormal([n, m]) as tf.Tensor2D;
    const init = tf.randomNormal(layout === 'in-out' ? [k, m] : [m, k]);
    const tb = layout === 'out-in';
    const frozen = tf.variable(init, false) as tf.Variable<tf.Rank.R2>;
    const ms: Record<string, number[]> = { 'frozenMatMul (new)': [], 'matMul2d (old)': [] };
    for (let i = 0; i < reps; i++) {
      ms['frozenMatMul (new)'].push(timeStep(x, r, (a) => frozenMatMul(a, frozen, tb)));
      ms['matMul2d (old)'].push(timeStep(x, r, (a) => matMul2d(a, frozen, tb)));
    }
    const [nw, old] = Object.values(ms).map(median);
    console.log(
      `[${n}, ${k}] x ${layout} [${init.shape}]: new ${nw.toFixed(0)} ms, old ${old.toFixed(0)} ms, new/old ${(nw / old).toFixed(2)} (forward + dx, median of ${reps})`,
    );
    tf.dispose([x, r, init, frozen]);
  }
}
