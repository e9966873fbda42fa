// The trainer on a pretrained student (random LLaMA / Qwen2 / GPT-2 weights
// here; real folders in hf-parity and cli-student): LoRA trains only the
// adapter, the base never moves, snapshots hold the adapter and the base's
// fingerprint, resume continues exactly and refuses another base, and the
// chunked head gives the loss and gradients of the whole logits.
// On the wasm backend: the cpu backend's numbers (core-wasm.test.ts), several
// times faster a step here.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudentModel, type PretrainedStudent } from '../../src/core/inference';
import { Trainer } from '../../src/core/trainer';
import { initParams } from '../../src/core/model';
import { safetensorsToState, stateToSafetensors } from '../../src/checkpoint/format';
import type { ModelConfig } from '../../src/core/config';
import type { MetricPoint } from '../../src/core/state';
import { buildBatch } from '../../src/core/batch';
import { toyGroups, tinyConfig, toyTokenizer } from './core-helpers';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

const groups = toyGroups(6);
const tok = toyTokenizer(groups);

function student(arch: 'llama' | 'qwen2' | 'gpt2', seed = 1): PretrainedStudent {
  const mc: ModelConfig =
    arch === 'gpt2'
      ? { arch, vocabSize: tok.vocabSize, blockSize: 96, nLayer: 1, nHead: 2, nEmbd: 32, layerNormEps: 1e-5, tieWordEmbeddings: true }
      : {
          arch,
          vocabSize: tok.vocabSize,
          blockSize: 96,
          nLayer: 2,
          nHead: 4,
          nKvHead: 2,
          nEmbd: 32,
          intermediateSize: 48,
          ropeTheta: 10000,
          layerNormEps: 1e-6,
          tieWordEmbeddings: arch === 'qwen2',
        };
  const weights = initParams(mc, seed);
  // a pretrained head is far from GPT-2's 0.02 init: with a frozen norm and
  // a head that small, no adapter could make a token likely
  for (const name of ['lm_head.weight', 'model.embed_tokens.weight', 'transformer.wte.weight'])
    weights[name]?.data.forEach((x, i, a) => (a[i] = x * 25));
  return { modelConfig: mc, weights, tokenizer: tok, base: { arch, name: `rand-${arch}`, fingerprint: `0000000${seed}-1` } };
}

const lora = { rank: 4, alpha: 8, targets: [] as string[] };

async function steps(t: Trainer, n: number): Promise<MetricPoint[]> {
  const out: MetricPoint[] = [];
  for (let i = 0; i < n; i++) {
    const m = await t.trainStep();
    if (m) out.push(m);
  }
  return out;
}

describe('pretrained students in the trainer', () => {
  it('LoRA trains the adapter only: the base never moves, the loss falls, no tensor grows', async () => {
    const s = student('llama');
    const all = { ...lora, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] };
    const t = await Trainer.create({
      groups,
      trainConfig: tinyConfig({ steps: 30, lr: 3e-2, warmupSteps: 2 }),
      datasetFingerprint: 'x',
      student: s,
      lora: all,
    });
    expect([...t.trainableVariables.keys()].every((n) => /\.lora_[AB]\.weight$/.test(n))).toBe(true);
    expect(t.trainableVariables.size).toBe(2 * 7 * 2); // 7 projections in 2 layers, A and B
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const before = Array.from(await t.variables.get(q)!.data());
    await steps(t, 2);
    const n0 = tf.memory().numTensors;
    const ms = await steps(t, 28);
    expect(tf.memory().numTensors).toBe(n0);
    expect(Array.from(await t.variables.get(q)!.data())).toEqual(before);
    expect(ms[ms.length - 1].ce).toBeLessThan(ms[0].ce - 0.5);
    t.dispose();
  });

  it('the adapter starts as the base (B = 0) and full fine-tuning (no lora) trains every weight', async () => {
    const s = student('qwen2');
    const a = await Trainer.create({ groups, trainConfig: tinyConfig({ steps: 3 }), datasetFingerprint: 'x', student: s, lora });
    expect(a.trainableVariables.size).toBe(2 * 4 * 2); // default targets: q, k, v, o in 2 layers, A and B
    const b = await Trainer.create({ groups, trainConfig: tinyConfig({ steps: 3 }), datasetFingerprint: 'x', student: s });
    expect(b.trainableVariables.size).toBe(b.variables.size);
    const [ma] = await steps(a, 1);
    const [mb] = await steps(b, 1);
    expect(ma.loss).toBeCloseTo(mb.loss, 5); // same weights before the first update
    a.dispose();
    b.dispose();
  });

  it('the chunked head gives the loss and gradients of the whole logits', async () => {
    for (const arch of ['gpt2', 'llama'] as const) {
      const t = await Trainer.create({
        groups,
        trainConfig: tinyConfig({ steps: 3, alpha: 0.5 }),
        datasetFingerprint: 'x',
        student: student(arch),
      });
      const enc = (t as unknown as { data: { rationales: Parameters<typeof buildBatch>[0][number]['a'][] }[] }).data;
      const b = buildBatch(
        enc.slice(0, 3).map((g) => ({ a: g.rationales[0], b: g.rationales[1] })),
        { blockSize: 96, padId: tok.padId },
      );
      const vars = [...t.trainableVariables.values()];
      const run = (budget: number): { loss: number; kl: number; grads: Float32Array[] } => {
        const { value, grads } = tf.variableGrads(() => t.lossTensors(b, { headBudget: budget }).loss, vars);
        const kl = tf.tidy(() => t.lossTensors(b, { headBudget: budget }).kl.dataSync()[0]);
        const out = { loss: value.dataSync()[0], kl, grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const whole = run(Infinity);
      const chunked = run(tok.vocabSize * 4 * 7); // 7 rows a chunk
      expect(whole.kl).toBeGreaterThan(0);
      expect(Math.abs(chunked.loss - whole.loss)).toBeLessThan(1e-5);
      expect(Math.abs(chunked.kl - whole.kl)).toBeLessThan(1e-5);
      whole.grads.forEach((g, i) => g.forEach((x, j) => expect(Math.abs(chunked.grads[i][j] - x)).toBeLessThan(1e-5)));
      t.dispose();
    }
  });

  it('activation recomputation gives the same loss and gradients (LoRA and full, every architecture), and no tensor grows', async () => {
    for (const arch of ['gpt2', 'llama', 'qwen2'] as const) {
      for (const l of [lora, undefined]) {
        const t = await Trainer.create({
          groups,
          trainConfig: tinyConfig({ steps: 3, alpha: 0.5 }),
          datasetFingerprint: 'x',
          student: student(arch),
          ...(l ? { lora: l } : {}),
        });
        const r = await Trainer.create({
          groups,
          trainConfig: tinyConfig({ steps: 3, alpha: 0.5, recompute: true }),
          datasetFingerprint: 'x',
          student: student(arch),
          ...(l ? { lora: l } : {}),
        });
        const [a] = await steps(t, 1); // moves B off zero
        const [b] = await steps(r, 1);
        expect(b.loss).toBeCloseTo(a.loss, 6);
        const enc = (t as unknown as { data: { rationales: Parameters<typeof buildBatch>[0][number]['a'][] }[] }).data;
        const batch = buildBatch(
          enc.slice(0, 2).map((g) => ({ a: g.rationales[0], b: g.rationales[1] })),
          { blockSize: 96, padId: tok.padId },
        );
        const grads = (x: Trainer): Float32Array[] => {
          const vars = [...x.trainableVariables.values()];
          const { value, grads: g } = tf.variableGrads(() => x.lossTensors(batch, { headBudget: tok.vocabSize * 4 * 9 }).loss, vars);
          const out = vars.map((v) => g[v.name].dataSync() as Float32Array);
          tf.dispose([value, ...Object.values(g)]);
          return out;
        };
        const n0 = tf.memory().numTensors;
        const ga = grads(t);
        const gb = grads(r);
        expect(tf.memory().numTensors).toBe(n0);
        ga.forEach((g, i) => g.forEach((x, j) => expect(Math.abs(gb[i][j] - x)).toBeLessThan(1e-6)));
        t.dispose();
        r.dispose();
      }
    }
  });

  it('a frozen embedding and head larger than a GPU binding are held in row blocks, with the same loss and gradients', async () => {
    for (const arch of ['qwen2', 'llama'] as const) {
      const s = student(arch);
      const bytes = tok.vocabSize * 32 * 4;
      const whole = await Trainer.create({
        groups,
        trainConfig: tinyConfig({ steps: 3, alpha: 0.5 }),
        datasetFingerprint: 'x',
        student: s,
        lora,
        tablePartBytes: Infinity,
      });
      const split = await Trainer.create({
        groups,
        trainConfig: tinyConfig({ steps: 3, alpha: 0.5 }),
        datasetFingerprint: 'x',
        student: s,
        lora,
        tablePartBytes: Math.ceil(bytes / 3),
      });
      const names = [...split.variables.keys()].filter((n) => n.includes('@'));
      // qwen2 here is tied (one table), llama untied (embedding and lm_head): 3 blocks each
      expect(names.length, arch).toBe(arch === 'qwen2' ? 3 : 6);
      expect(split.variables.has('model.embed_tokens.weight')).toBe(false);
      const [a] = await steps(whole, 1);
      const [b] = await steps(split, 1);
      expect(b.loss).toBeCloseTo(a.loss, 6);
      expect(b.kl).toBeCloseTo(a.kl, 6);
      const [a2] = await steps(whole, 1);
      const [b2] = await steps(split, 1);
      expect(b2.loss).toBeCloseTo(a2.loss, 5);
      // inference (score, generate) reads the blocks too
      const inf = StudentModel.fromStudent(s, { tablePartBytes: Math.ceil(bytes / 2) });
      const ids = tok.promptIds('Q: Ann has 3 apples.\nA: ');
      const { scoreIds } = await import('../../src/core/score');
      const x = await scoreIds(inf.variables as never, inf.modelConfig, ids);
      const base = StudentModel.fromStudent(s, { tablePartBytes: Infinity });
      const y = await scoreIds(base.variables as never, base.modelConfig, ids);
      x.slice(1).forEach((v, i) => expect(Math.abs((v as number) - (y[i + 1] as number))).toBeLessThan(1e-5));
      [whole, split, inf, base].forEach((t) => t.dispose());
    }
  });

  it('a snapshot holds the adapter and the base; resume continues exactly and refuses another base', async () => {
    const s = student('llama');
    const cfg = tinyConfig({ steps: 8, lr: 5e-3 });
    const straight = await Trainer.create({ groups, trainConfig: cfg, datasetFingerprint: 'x', student: s, lora });
    const ms = await steps(straight, 8);
    const first = await Trainer.create({ groups, trainConfig: cfg, datasetFingerprint: 'x', student: s, lora });
    await steps(first, 4);
    const snap = await first.snapshot();
    expect(Object.keys(snap.params).every((n) => n.includes('.lora_'))).toBe(true);
    expect(snap.tokenizer).toBeNull();
    expect(snap.base).toEqual(s.base);
    // through the checkpoint file and back
    const loaded = safetensorsToState(stateToSafetensors(snap)).state;
    expect(loaded.base).toEqual(s.base);
    expect(loaded.modelConfig).toEqual(snap.modelConfig);
    const resumed = await Trainer.restore({ ...loaded, metrics: snap.metrics }, groups, s);
    const rest = await steps(resumed, 4);
    expect(rest.map((m) => m.loss)).toEqual(ms.slice(4).map((m) => m.loss));
    await expect(Trainer.restore(loaded, groups)).rejects.toThrow(/fine-tunes the pretrained model "rand-llama": give its folder/);
    await expect(Trainer.restore(loaded, groups, student('llama', 2))).rejects.toThrow(
      /trained on "rand-llama" \(weights 00000001-1\), not on "rand-llama" \(weights 00000002-1\)/,
    );
    [straight, first, resumed].forEach((t) => t.dispose());
  });
});
