// Tiny pretrained students (scripts/hf/make_tiny.py folders with a
// tokenizer.json from scripts/hf/tiny_tokenizer.py) LoRA-trained a few steps
// on the cpu backend and exported, for the GGUF tests: the unit test parses
// the files back, the browser test runs them in llama.cpp (wllama). Also our
// own greedy continuation and first-step log-probs, from the merged weights.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { forward, type Params } from '../../src/core/model';
import { Trainer } from '../../src/core/trainer';
import { exportModel, type ExportModel } from '../../src/export/source';
import { loadStudent } from '../../src/hf/student';
import { nodeFolder } from '../../src/node/folder';
import { registerNodeGradients } from '../../src/node/gradients';
import { tinyConfig, toyGroups } from '../unit/core-helpers';

import { PY } from '../../support/python';
export { PY };
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const hasPython = spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

/** The cases: a GPT-2, a LLaMA with grouped-query attention (Q/K permuted in
 * the file), a Qwen2 with q/k/v biases and a tied head, a Qwen3 with
 * per-head q/k norms and head_dim * heads != hidden (key_length / value_length
 * in the file; Qwen's tokenizers have no BOS, as the gpt2 style), and a
 * Gemma3 that llama.cpp computes as transformers does (sliding layers with a
 * window of 4 shorter than the prompt, q/k norms, 1 + w norms stored as
 * llama.cpp wants them). Gemma's own tokenizer is a SentencePiece model;
 * llama.cpp's converter writes a Gemma3 without tokenizer.model with the GPT-2
 * BPE vocabulary, which is what the byte-level tiny tokenizer gives. */
export const GGUF_CASES = [
  { name: 'gpt2-tiny', style: 'gpt2' },
  { name: 'llama-gqa', style: 'llama3' },
  { name: 'qwen2-tiny', style: 'gpt2' },
  { name: 'qwen3-tiny', style: 'gpt2' },
  { name: 'gemma3-gguf', style: 'gpt2' },
] as const;
export type CaseName = (typeof GGUF_CASES)[number]['name'];

function run(args: string[]): void {
  const r = spawnSync(PY, args, { encoding: 'utf8', env: ENV });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
}

/** make_tiny.py's folders in `dir`, each with its tokenizer. */
export function makeTinyFolders(dir: string): void {
  run([path.join(ROOT, 'scripts/hf/make_tiny.py'), dir, '--families', 'gpt2,llama,qwen2,qwen3,gemma3']);
  for (const c of GGUF_CASES) run([path.join(ROOT, 'scripts/hf/tiny_tokenizer.py'), path.join(dir, c.name), '--style', c.style]);
}

let ready = false;
async function cpu(): Promise<void> {
  if (ready) return;
  registerNodeGradients();
  await tf.setBackend('cpu');
  ready = true;
}

/** A case LoRA-trained `steps` steps (rank 4, alpha 8, the attention
 * projections; a high rate so that the adapter moves the outputs) and exported. */
export const PROMPT = 'Q: Ann has 3 apples and gets 4 more. How many apples does she have?\nA:';

export async function trainedExport(
  dir: string,
  name: string,
  o: { steps?: number; asciiHead?: boolean } = {},
): Promise<{ model: ExportModel; prompt: number[]; text: string; allowed: boolean[] }> {
  await cpu();
  const { student, folder } = await loadStudent(nodeFolder(path.join(dir, name)), name);
  // llama-server writes the text of each generated token, and of each token
  // in a probability list, into its JSON reply, and fails on bytes that are
  // not whole UTF-8 characters, which a random model readily ranks high. So
  // the head gives every token that is not printable ASCII (and every end or
  // special token: llama.cpp bans those when told to ignore the end token)
  // a zero row, i.e. logit 0, below the top ones; both sides also decode
  // greedily over the allowed tokens only.
  const mc = student.modelConfig;
  const special = new Set<number>(student.tokenizer.eosId !== undefined ? [student.tokenizer.eosId] : []);
  const tj = folder.tokenizerJson as { added_tokens?: { id: number }[] };
  for (const a of tj.added_tokens ?? []) special.add(a.id);
  const allowed: boolean[] = [];
  for (let id = 0; id < mc.vocabSize; id++) allowed.push(!special.has(id) && /^[\x20-\x7e\n]+$/.test(student.tokenizer.decode([id])));
  const steps = o.steps ?? 3;
  const head =
    student.weights['lm_head.weight'] ??
    student.weights[mc.arch === 'gpt2' || !mc.arch ? 'transformer.wte.weight' : 'model.embed_tokens.weight'];
  const d = mc.nEmbd;
  const rows = Float32Array.from(head.data);
  if (o.asciiHead !== false) allowed.forEach((a, id) => a || rows.fill(0, id * d, (id + 1) * d));
  head.data = rows;
  const groups = toyGroups(6);
  const t = await Trainer.create({
    groups,
    trainConfig: tinyConfig({ steps, lr: 3e-2, warmupSteps: 1 }),
    datasetFingerprint: 'gguf',
    student,
    lora: { rank: 4, alpha: 8, targets: [] },
  });
  try {
    for (let i = 0; i < steps; i++) await t.trainStep();
    const state = await t.snapshot();
    const model = exportModel(state, { base: { student, folder }, facts: { name } });
    return { model, prompt: student.tokenizer.encode(PROMPT), text: PROMPT, allowed };
  } finally {
    t.dispose();
  }
}

/** Our from-scratch GPT-2 student (own BPE, tied head) trained a few steps.
 * Its embedding (= head) is scaled up afterwards: at GPT-2's init scale the
 * logits are nearly flat and greedy ids would hang on ties; and as above,
 * tokens that are not printable ASCII get zero head rows. */
export async function scratchExport(steps = 3): Promise<{ model: ExportModel; prompt: number[]; text: string; allowed: boolean[] }> {
  await cpu();
  const t = await Trainer.create({ groups: toyGroups(6), trainConfig: tinyConfig({ steps }), datasetFingerprint: 'gguf' });
  try {
    for (let i = 0; i < steps; i++) await t.trainStep();
    const state = await t.snapshot();
    const tok = t.tokenizer;
    const V = state.modelConfig.vocabSize;
    const d = state.modelConfig.nEmbd;
    const allowed: boolean[] = [];
    for (let id = 0; id < V; id++) allowed.push(id !== tok.eosId && id !== tok.padId && /^[\x20-\x7e\n]+$/.test(tok.decode([id])));
    const wte = state.params['transformer.wte.weight'];
    wte.data = Float32Array.from(wte.data, (x, i) => (allowed[Math.floor(i / d)] ? 25 * x : 0));
    const model = exportModel(state, { facts: { name: 'scratch' } });
    return { model, prompt: tok.encode(PROMPT), text: PROMPT, allowed };
  } finally {
    t.dispose();
  }
}

export interface Reference {
  /** Greedy continuation over the allowed ids (see trainedExport), no end token stop. */
  tokens: number[];
  /** log-softmax of the logits after the prompt, every id. */
  logprobs: number[];
}

/** Our forward on the export's merged weights: greedy ids and the first
 * step's log-probs. `round` stores the matrices as F16 would (for the F16 file). */
export async function reference(
  m: ExportModel,
  prompt: readonly number[],
  n: number,
  allowed: readonly boolean[],
  round?: (x: Float32Array) => Float32Array,
): Promise<Reference> {
  await cpu();
  const p: Params = new Map();
  for (const [k, t] of Object.entries(m.weights)) {
    const data = round && t.shape.length > 1 ? round(Float32Array.from(t.data)) : Float32Array.from(t.data);
    p.set(k, tf.variable(tf.tensor(data, t.shape), false));
  }
  const mask = tf.tensor2d(
    allowed.map((a) => (a ? 0 : -1e30)),
    [1, allowed.length],
  );
  try {
    const seq = prompt.slice();
    let logprobs: number[] = [];
    const tokens: number[] = [];
    for (let i = 0; i < n; i++) {
      const [id, lp] = tf.tidy(() => {
        const { logits } = forward(p, m.modelConfig, tf.tensor2d(seq, [1, seq.length], 'int32'));
        const last = tf.slice(logits, [seq.length - 1, 0], [1, -1]);
        return [tf.argMax(tf.add(last, mask), 1), tf.logSoftmax(last)] as const;
      });
      tokens.push((await id.data())[0]);
      if (i === 0) logprobs = Array.from(await lp.data());
      id.dispose();
      lp.dispose();
      seq.push(tokens[i]);
    }
    return { tokens, logprobs };
  } finally {
    mask.dispose();
    for (const v of p.values()) v.dispose();
  }
}
