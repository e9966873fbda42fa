// The test foundation of pretrained students (issue 12): tiny random models in
// exact Hugging Face layout (scripts/hf/make_tiny.py), broken ones
// (scripts/hf/make_hostile.py), and the PyTorch reference of the Hugging Face
// math (support/hf_ref.py). Checks the folders' layout from TypeScript, proves
// the reference's GPT-2 path against our own GPT (same layout: Conv1D [in, out],
// tied head, GELU tanh), checks the LLaMA / Qwen2 paths for self-consistency
// (sharded = unsharded, BF16 ~ F32, tied = explicit head, GQA = repeated MHA),
// and that the reference refuses every hostile folder by name. Skipped when
// Debian's python3 cannot import torch (.ci/run's .venv, or MCCKD_PYTHON: support/python.ts).
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode } from '../../src/checkpoint/safetensors';
import { createVariables, forward } from '../../src/core/model';
import { paramShapes, type ModelConfig } from '../../src/core/config';
import type { TensorMap } from '../../src/core/state';

import { closeHfRef, hfRef } from '../../support/hf-ref';
import { PY } from '../../support/python';
// no __pycache__ next to the scripts
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAKE_TINY = path.join(ROOT, 'scripts/hf/make_tiny.py');
const MAKE_HOSTILE = path.join(ROOT, 'scripts/hf/make_hostile.py');

const hasTorch = spawnSync(PY, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) {
  console.warn(`hf-fixtures: skipped, ${PY} cannot import torch (.ci/run's .venv, or MCCKD_PYTHON: support/python.ts)`);
}

type Json = Record<string, unknown>;
const readJson = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The raw header of a .safetensors file, with its byte layout facts. */
function readHeader(file: string): {
  headerLen: number;
  raw: string;
  entries: Record<string, HeaderEntry>;
  metadata?: Json;
  dataLen: number;
} {
  const bytes = readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const raw = bytes.subarray(8, 8 + headerLen).toString('utf8');
  const parsed = JSON.parse(raw) as Record<string, unknown>;
  const { __metadata__: metadata, ...entries } = parsed;
  return {
    headerLen,
    raw,
    entries: entries as Record<string, HeaderEntry>,
    metadata: metadata as Json | undefined,
    dataLen: bytes.length - 8 - headerLen,
  };
}

interface RefResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runRef(folder: string, ids: number[], extra: string[] = []): Promise<RefResult> {
  return hfRef([folder, '--ids', ids.join(','), ...extra]);
}

async function refLogprobs(folder: string, ids: number[]): Promise<number[]> {
  const r = await runRef(folder, ids);
  if (r.status !== 0) throw new Error(`hf_ref.py failed on ${folder}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  expect(lines.length).toBe(1);
  const out = JSON.parse(lines[0]) as { ids: number[]; logprobs: (number | null)[] };
  expect(out.ids).toEqual(ids);
  expect(out.logprobs.length).toBe(ids.length);
  expect(out.logprobs[0]).toBeNull();
  return out.logprobs.slice(1) as number[];
}

/** Deterministic ids below `vocab` (a small LCG). */
function someIds(n: number, vocab: number, seed = 7): number[] {
  const out: number[] = [];
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out.push(s % vocab);
  }
  return out;
}

const maxDiff = (a: number[], b: number[]): number => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

const MAIN_CASES = ['gpt2-tiny', 'gpt2-noprefix', 'gpt2-f16', 'llama-gqa', 'llama-tied', 'qwen2-tiny', 'llama-sharded'];

describe.skipIf(!hasTorch)('Hugging Face fixtures and the PyTorch reference', () => {
  let dir = '';
  let tiny = '';
  let hostile = '';

  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(path.join(tmpdir(), 'hf-fixtures-'));
    tiny = path.join(dir, 'tiny');
    hostile = path.join(dir, 'hostile');
    for (const [script, out, args] of [
      [MAKE_TINY, tiny, ['--variants']],
      [MAKE_HOSTILE, hostile, []],
    ] as const) {
      const r = spawnSync(PY, [script, out, ...args], { encoding: 'utf8', env: ENV });
      if (r.status !== 0) throw new Error(`${path.basename(script)} failed: ${r.stderr}`);
    }
  });

  afterAll(() => {
    closeHfRef();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes every case with its files', () => {
    const manifest = readJson(path.join(tiny, 'manifest.json')) as { cases: Record<string, { files: string[] }> };
    for (const c of MAIN_CASES) expect(Object.keys(manifest.cases)).toContain(c);
    for (const [name, m] of Object.entries(manifest.cases)) {
      expect(readdirSync(path.join(tiny, name)).sort()).toEqual([...m.files].sort());
    }
    expect(readdirSync(path.join(tiny, 'llama-sharded')).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
  });

  it("configs carry the architectures' own keys", () => {
    const g = readJson(path.join(tiny, 'gpt2-tiny/config.json'));
    expect(g).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_inner: null,
      activation_function: 'gelu_new',
      tie_word_embeddings: true,
      n_layer: 2,
      n_head: 4,
      n_embd: 32,
      n_positions: 128,
      vocab_size: 320,
      layer_norm_epsilon: 1e-5,
    });
    const l = readJson(path.join(tiny, 'llama-gqa/config.json'));
    expect(l).toMatchObject({
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      hidden_act: 'silu',
      rope_scaling: null,
      tie_word_embeddings: false,
      attention_bias: false,
      mlp_bias: false,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
    });
    expect(readJson(path.join(tiny, 'llama-tied/config.json'))).toMatchObject({ tie_word_embeddings: true, torch_dtype: 'bfloat16' });
    const q = readJson(path.join(tiny, 'qwen2-tiny/config.json'));
    expect(q).toMatchObject({
      model_type: 'qwen2',
      architectures: ['Qwen2ForCausalLM'],
      use_sliding_window: false,
      tie_word_embeddings: true,
      rope_theta: 1e6,
    });
    expect(q).toHaveProperty('max_window_layers');
    expect(q).toHaveProperty('sliding_window');
    for (const c of MAIN_CASES) {
      const gen = readJson(path.join(tiny, c, 'generation_config.json'));
      expect(gen._from_model_config).toBe(true);
      expect(readJson(path.join(tiny, c, 'config.json')).vocab_size as number).toBeGreaterThanOrEqual(300);
    }
  });

  it('safetensors headers: padded, sorted, names, shapes and dtypes as transformers saves them', () => {
    for (const c of ['gpt2-tiny', 'gpt2-noprefix', 'gpt2-f16', 'llama-gqa', 'llama-tied', 'qwen2-tiny']) {
      const h = readHeader(path.join(tiny, c, 'model.safetensors'));
      expect(h.headerLen % 8).toBe(0);
      expect(h.raw.startsWith('{"__metadata__":{"format":"pt"},')).toBe(true);
      expect(h.raw.trimEnd().length).toBeGreaterThan(h.headerLen - 8);
      const names = Object.keys(h.entries);
      expect(names).toEqual([...names].sort());
      // offsets tile the data section in name order
      let pos = 0;
      for (const n of names) {
        expect(h.entries[n].data_offsets[0]).toBe(pos);
        pos = h.entries[n].data_offsets[1];
      }
      expect(pos).toBe(h.dataLen);
    }
    const g = readHeader(path.join(tiny, 'gpt2-tiny/model.safetensors')).entries;
    expect(g['transformer.h.0.attn.c_attn.weight']).toMatchObject({ dtype: 'F32', shape: [32, 96] }); // Conv1D [in, out]
    expect(g['transformer.h.1.mlp.c_fc.weight'].shape).toEqual([32, 128]);
    expect(g['transformer.h.1.mlp.c_proj.weight'].shape).toEqual([128, 32]);
    expect(g['transformer.wte.weight'].shape).toEqual([320, 32]);
    expect(g['transformer.wpe.weight'].shape).toEqual([128, 32]);
    expect(g).not.toHaveProperty('lm_head.weight');
    expect(Object.keys(g).length).toBe(2 + 2 * 12 + 2);

    const np = readHeader(path.join(tiny, 'gpt2-noprefix/model.safetensors')).entries;
    expect(Object.keys(np).some((n) => n.startsWith('transformer.'))).toBe(false);
    expect(np['h.0.attn.bias'].shape).toEqual([1, 1, 128, 128]);
    expect(np['h.1.attn.masked_bias'].shape).toEqual([]);
    expect(np['wte.weight'].shape).toEqual([300, 48]);

    expect(readHeader(path.join(tiny, 'gpt2-f16/model.safetensors')).entries['transformer.wte.weight'].dtype).toBe('F16');

    const l = readHeader(path.join(tiny, 'llama-gqa/model.safetensors')).entries;
    expect(l['model.layers.0.self_attn.q_proj.weight'].shape).toEqual([64, 64]); // nn.Linear [out, in]
    expect(l['model.layers.0.self_attn.k_proj.weight'].shape).toEqual([32, 64]); // 2 kv heads x 16
    expect(l['model.layers.0.self_attn.v_proj.weight'].shape).toEqual([32, 64]);
    expect(l['model.layers.1.mlp.gate_proj.weight'].shape).toEqual([128, 64]);
    expect(l['model.layers.1.mlp.down_proj.weight'].shape).toEqual([64, 128]);
    expect(l['lm_head.weight'].shape).toEqual([384, 64]);
    expect(l).not.toHaveProperty('model.layers.0.self_attn.q_proj.bias');

    const t = readHeader(path.join(tiny, 'llama-tied/model.safetensors')).entries;
    expect(t).not.toHaveProperty('lm_head.weight');
    expect(new Set(Object.values(t).map((e) => e.dtype))).toEqual(new Set(['BF16']));

    const q = readHeader(path.join(tiny, 'qwen2-tiny/model.safetensors')).entries;
    expect(q['model.layers.0.self_attn.q_proj.bias'].shape).toEqual([32]);
    expect(q['model.layers.0.self_attn.k_proj.bias'].shape).toEqual([16]);
    expect(q['model.layers.0.self_attn.v_proj.bias'].shape).toEqual([16]);
    expect(q).not.toHaveProperty('model.layers.0.self_attn.o_proj.bias');
    expect(q).not.toHaveProperty('lm_head.weight');
  });

  it('the shard index maps every tensor to the shard that holds it, with the total size', () => {
    const folder = path.join(tiny, 'llama-sharded');
    const idx = readJson(path.join(folder, 'model.safetensors.index.json')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    let total = 0;
    const seen = new Set<string>();
    for (const f of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      const h = readHeader(path.join(folder, f));
      total += h.dataLen;
      for (const n of Object.keys(h.entries)) {
        expect(idx.weight_map[n]).toBe(f);
        seen.add(n);
      }
    }
    expect(seen).toEqual(new Set(Object.keys(idx.weight_map)));
    expect(idx.metadata.total_size).toBe(total);
    const single = readHeader(path.join(tiny, 'llama-sharded.single/model.safetensors')).entries;
    expect(new Set(Object.keys(single))).toEqual(seen);
  });

  it('our decode reads every dtype to the same values as the reference', () => {
    // BF16 and F16 decode to float32 exactly; F32 variants of the same draws agree to storage precision
    const bf = decode(readFileSync(path.join(tiny, 'llama-tied/model.safetensors'))).tensors;
    const f32 = decode(readFileSync(path.join(tiny, 'llama-tied.f32/model.safetensors'))).tensors;
    const name = 'model.embed_tokens.weight';
    let worst = 0;
    for (let i = 0; i < f32[name].data.length; i++)
      worst = Math.max(worst, Math.abs(bf[name].data[i] - f32[name].data[i]) / Math.max(Math.abs(f32[name].data[i]), 1e-30));
    expect(worst).toBeLessThanOrEqual(2 ** -8);
    expect(decode(readFileSync(path.join(tiny, 'gpt2-f16/model.safetensors'))).tensors['transformer.wte.weight'].shape).toEqual([352, 32]);
  });

  /** Our GPT's per-token log-probs for a GPT-2 folder (prefix added, legacy buffers dropped). */
  function ourGpt2Logprobs(folder: string, ids: number[]): number[] {
    const cfg = readJson(path.join(folder, 'config.json'));
    const c: ModelConfig = {
      vocabSize: cfg.vocab_size as number,
      blockSize: cfg.n_positions as number,
      nLayer: cfg.n_layer as number,
      nHead: cfg.n_head as number,
      nEmbd: cfg.n_embd as number,
      layerNormEps: cfg.layer_norm_epsilon as number,
    };
    const raw = decode(readFileSync(path.join(folder, 'model.safetensors'))).tensors;
    const params: TensorMap = {};
    for (const [n, t] of Object.entries(raw)) {
      if (/(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(n)) continue;
      params[n.startsWith('transformer.') ? n : `transformer.${n}`] = t;
    }
    const p = createVariables(params, paramShapes(c));
    try {
      const lp = tf.tidy(() => {
        const { logits } = forward(p, c, tf.tensor2d([ids], [1, ids.length], 'int32'));
        const ls = tf.logSoftmax(logits); // [T, V]
        const prev = tf.slice(ls, [0, 0], [ids.length - 1, c.vocabSize]);
        const picked = tf.mul(prev, tf.oneHot(tf.tensor1d(ids.slice(1), 'int32'), c.vocabSize));
        return tf.sum(picked, 1);
      });
      const out = Array.from(lp.dataSync());
      lp.dispose();
      return out;
    } finally {
      for (const v of p.values()) v.dispose();
    }
  }

  it.each([
    ['gpt2-tiny', 64],
    ['gpt2-noprefix', 128],
    ['gpt2-f16', 40],
  ])('GPT-2 %s: the reference matches our GPT within 1e-4 (%i tokens)', async (name, n) => {
    const folder = path.join(tiny, name);
    const vocab = readJson(path.join(folder, 'config.json')).vocab_size as number;
    const ids = someIds(n, vocab);
    const theirs = await refLogprobs(folder, ids);
    const ours = ourGpt2Logprobs(folder, ids);
    const d = maxDiff(ours, theirs);
    console.log(
      `hf-fixtures: ${name} max |ours - hf_ref| = ${d.toExponential(2)} over ${n - 1} log-probs (range ${Math.min(...theirs).toFixed(2)}..${Math.max(...theirs).toFixed(2)})`,
    );
    expect(d).toBeLessThan(1e-4);
    // the models are far from uniform, so the comparison has teeth
    expect(Math.max(...theirs) - Math.min(...theirs)).toBeGreaterThan(1);
  });

  it('LLaMA / Qwen2: sharded = unsharded, tied = explicit head, GQA = repeated MHA, BF16 ~ F32', async () => {
    const ids = someIds(48, 300, 11);
    const eq = async (a: string, b: string): Promise<number> =>
      maxDiff(await refLogprobs(path.join(tiny, a), ids), await refLogprobs(path.join(tiny, b), ids));
    const sharded = await eq('llama-sharded', 'llama-sharded.single');
    const tied = await eq('llama-tied', 'llama-tied.explicit-head');
    const gqa = await eq('llama-gqa', 'llama-gqa.mha');
    const bf16 = await eq('llama-tied', 'llama-tied.f32');
    console.log(`hf-fixtures: sharded ${sharded}, tied/explicit ${tied}, gqa/mha ${gqa}, bf16/f32 ${bf16.toExponential(2)}`);
    expect(sharded).toBe(0);
    expect(tied).toBe(0);
    expect(gqa).toBeLessThan(1e-12);
    expect(bf16).toBeLessThan(0.1); // weights rounded by up to 2^-9 relative, logits of a few units
    expect(bf16).toBeGreaterThan(0); // the BF16 rounding is real
    // qwen2 runs, is far from uniform and the reference's float32 mode agrees with float64
    const q = await refLogprobs(path.join(tiny, 'qwen2-tiny'), ids);
    expect(Math.max(...q) - Math.min(...q)).toBeGreaterThan(1);
    const r32 = await runRef(path.join(tiny, 'qwen2-tiny'), ids, ['--float32']);
    expect(r32.status).toBe(0);
    const q32 = (JSON.parse(r32.stdout) as { logprobs: (number | null)[] }).logprobs.slice(1) as number[];
    expect(maxDiff(q, q32)).toBeLessThan(1e-4);
  }, 300_000); // nine reference runs

  it('refuses every hostile folder with exit 2 and a message that names the problem', async () => {
    const cases = readJson(path.join(hostile, 'hostile.json')) as Record<string, { problem: string; expect: string }>;
    expect(Object.keys(cases).length).toBeGreaterThanOrEqual(8);
    for (const [name, c] of Object.entries(cases)) {
      expect(existsSync(path.join(hostile, name))).toBe(true);
      const r = await runRef(path.join(hostile, name), [1, 2, 3]);
      expect({ name, status: r.status, stdout: r.stdout }).toEqual({ name, status: 2, stdout: '' });
      const lines = r.stderr.trim().split('\n');
      expect(lines.length, `${name}: ${r.stderr}`).toBe(1);
      expect(lines[0], name).toMatch(/^hf_ref: refused: /);
      expect(lines[0], name).toContain(c.expect);
    }
  });

  it('refuses ids the model cannot take', async () => {
    const folder = path.join(tiny, 'gpt2-tiny');
    const big = await runRef(folder, [1, 320]);
    expect(big.status).toBe(2);
    expect(big.stderr).toContain('vocab_size');
    const long = await runRef(folder, someIds(129, 320));
    expect(long.status).toBe(2);
    expect(long.stderr).toContain('n_positions');
  });
});
