// Our forward (gpt2, llama, qwen2) and LoRA on one backend, for the parity
// test against the PyTorch reference (test/unit/hf-parity.test.ts). Run in
// its own process: `tsx test/gpu/hf-parity.check.ts DIR BACKEND IDS CASE...`
// (Dawn needs LD_LIBRARY_PATH from process start). DIR holds the tiny models
// of scripts/hf/make_tiny.py --adapters. Prints one JSON Report.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '../../src/cli/setup';
import { watchGpuErrors } from './gpu-errors';
import { paramShapes, loraShapes, type BackendName, type ModelConfig } from '../../src/core/config';
import { createVariables, forward } from '../../src/core/model';
import { scoreIds } from '../../src/core/score';
import { readHfFolder } from '../../src/hf/folder';
import { studentConfig } from '../../src/hf/config';
import { readPeftAdapter, PEFT_PREFIX } from '../../src/hf/peft';
import { nodeFolder } from '../../src/node/folder';

export interface CaseReport {
  base: (number | null)[]; // logprobs of the base model
  lora: (number | null)[]; // logprobs with the adapter
  loss: number; // mean over i >= 1 of -lora[i]
  grads: Record<string, number[]>; // d loss / d LoRA tensor, PEFT names
  split: (number | null)[]; // logprobs with the adapter, the embedding and head held in 3 row blocks
  recomputeDiff: number; // max |grad with activation recomputation - grad without|
  leaked: number; // tensors left over after the case
}
export interface Report {
  /** WebGPU errors nobody caught (gpu-errors.ts): the figures count only when empty. */
  gpuErrors: string[];
  backend: string;
  cases: Record<string, CaseReport>;
}

const [dir, backend, idsArg, ...cases] = process.argv.slice(2);
const ids = idsArg.split(',').map(Number);
await setupBackend(backend as BackendName);
const report: Report = { backend: tf.getBackend(), gpuErrors: watchGpuErrors(), cases: {} };
for (const name of cases) {
  const before = tf.memory().numTensors;
  const f = await readHfFolder(nodeFolder(`${dir}/${name}`));
  const base = studentConfig(f.spec);
  const adapter = await readPeftAdapter(nodeFolder(`${dir}/${name}.lora`), base);
  const mc: ModelConfig = { ...base, lora: adapter.lora };
  const params = createVariables(f.weights, paramShapes(mc), false);
  const lora = createVariables(adapter.weights, loraShapes(mc), true);
  const baseScores = await scoreIds(params, base, ids);
  const all = new Map([...params, ...lora]);
  const loraScores = await scoreIds(all, mc, ids);
  // the frozen tables in row blocks, as on a GPU whose binding limit they exceed
  const emb = f.weights[base.arch === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight'];
  const splitParams = createVariables(f.weights, paramShapes(mc), false, { partBytes: Math.ceil((emb.data.length * 4) / 3) });
  const split = await scoreIds(new Map([...splitParams, ...lora]), mc, ids);
  for (const v of splitParams.values()) v.dispose();
  const n = ids.length - 1;
  const nll = (recompute: boolean) =>
    tf.variableGrads(() => {
      const { logits } = forward(all, mc, tf.tensor2d([ids], [1, ids.length], 'int32'), { recompute });
      const ls = tf.logSoftmax(tf.slice(logits, [0, 0], [n, mc.vocabSize])); // [n, V]
      const picked = tf.sum(tf.mul(ls, tf.oneHot(tf.tensor1d(ids.slice(1), 'int32'), mc.vocabSize)), 1); // [n]
      return tf.neg(tf.mean(picked)) as tf.Scalar;
    }, [...lora.values()]);
  const { value, grads } = nll(false);
  const again = nll(true);
  let recomputeDiff = 0;
  for (const v of lora.values()) {
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(grads[v.name], again.grads[v.name]))));
    recomputeDiff = Math.max(recomputeDiff, (await d.data())[0]); // no dataSync on WebGPU in Node
    d.dispose();
  }
  tf.dispose([again.value, ...Object.values(again.grads)]);
  const g: Record<string, number[]> = {};
  for (const [n2, v] of lora) g[PEFT_PREFIX + n2] = Array.from(await grads[v.name].data());
  const loss = (await value.data())[0];
  tf.dispose([value, ...Object.values(grads)]);
  for (const v of all.values()) v.dispose();
  report.cases[name] = {
    base: baseScores,
    lora: loraScores,
    split,
    loss,
    grads: g,
    recomputeDiff,
    leaked: tf.memory().numTensors - before,
  };
}
process.stdout.write(`${JSON.stringify(report)}\n`);
