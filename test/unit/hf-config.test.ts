// A Hugging Face folder's config.json and tensor table (src/hf/config.ts), on
// the tiny random models in exact HF layout that scripts/hf/make_tiny.py
// writes and the broken folders of make_hostile.py. Only safetensors headers
// are read: every refusal here happens before a weight is read.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkStoredTensors, HfConfigError, hfParamCount, hfTensorShapes, isIgnoredTensor, parseHfConfig } from '../../src/hf/config';

import { PY } from '../../support/python';
import { TINY_LLAMA_CONFIG } from './hf-tiny-files';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hasNumpy = spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
if (!hasNumpy) console.warn(`hf-config: skipped, ${PY} cannot import numpy (.ci/run's .venv, or MCCKD_PYTHON: support/python.ts)`);

type Stored = Map<string, { dtype: string; shape: number[] }>;

/** The tensors a folder stores, from the safetensors headers alone. */
function storedTensors(dir: string): Stored {
  const index = path.join(dir, 'model.safetensors.index.json');
  const files = existsSync(index)
    ? [...new Set(Object.values((JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map))]
    : ['model.safetensors'];
  const out: Stored = new Map();
  for (const f of files) {
    const bytes = readFileSync(path.join(dir, f));
    const len = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8')) as Record<string, { dtype: string; shape: number[] }>;
    for (const [name, t] of Object.entries(header)) if (name !== '__metadata__') out.set(name, { dtype: t.dtype, shape: t.shape });
  }
  return out;
}

const config = (dir: string): unknown => JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));

describe.skipIf(!hasNumpy)('Hugging Face config.json and tensor table', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'hf-config-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const make = (script: string, out: string): void => {
    const r = spawnSync(PY, [path.join(ROOT, 'scripts/hf', script), out], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  };

  it('reads every tiny model: architecture, sizes, and a tensor table equal to what the folder stores', () => {
    make('make_tiny.py', path.join(tmp, 'tiny'));
    const cases = readdirSync(path.join(tmp, 'tiny')).filter((d) => existsSync(path.join(tmp, 'tiny', d, 'config.json')));
    expect(cases.length).toBeGreaterThanOrEqual(7);
    for (const name of cases) {
      const dir = path.join(tmp, 'tiny', name);
      const spec = parseHfConfig(config(dir));
      const stored = storedTensors(dir);
      checkStoredTensors(spec, stored); // throws on any disagreement
      const kept = [...stored].filter(([n]) => !isIgnoredTensor(n, spec));
      expect(kept.length, name).toBe(hfTensorShapes(spec).length);
      expect(
        kept.reduce((s, [, t]) => s + t.shape.reduce((a, b) => a * b, 1), 0),
        name,
      ).toBe(hfParamCount(spec));
    }
    const gqa = parseHfConfig(config(path.join(tmp, 'tiny', 'llama-gqa')));
    expect(gqa).toMatchObject({ arch: 'llama', nHead: 4, nKvHead: 2, headDim: 16, tieWordEmbeddings: false, qkvBias: false });
    const qwen = parseHfConfig(config(path.join(tmp, 'tiny', 'qwen2-tiny')));
    expect(qwen).toMatchObject({ arch: 'qwen2', qkvBias: true, tieWordEmbeddings: true, ropeTheta: 1e6 });
    const gpt2 = parseHfConfig(config(path.join(tmp, 'tiny', 'gpt2-noprefix')));
    expect(gpt2).toMatchObject({ arch: 'gpt2', tieWordEmbeddings: true, intermediateSize: 4 * gpt2.hiddenSize });
  });

  it('reads Qwen3 (head_dim * heads != hidden, q/k norms) and refuses what it does not implement, naming the field', () => {
    const out = path.join(tmp, 'qwen3');
    const r = spawnSync(PY, [path.join(ROOT, 'scripts/hf/make_tiny.py'), out, '--families', 'qwen3'], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    if (r.status !== 0) throw new Error(r.stderr);
    const tiny = config(path.join(out, 'qwen3-tiny')) as Record<string, unknown>;
    const untied = config(path.join(out, 'qwen3-untied')) as Record<string, unknown>;
    expect(parseHfConfig(tiny)).toMatchObject({
      arch: 'qwen3',
      hiddenSize: 48,
      nHead: 4,
      nKvHead: 2,
      headDim: 16,
      qkvBias: false,
      tieWordEmbeddings: true,
      ropeTheta: 1e6,
      normEps: 1e-6,
    });
    expect(parseHfConfig(untied)).toMatchObject({
      arch: 'qwen3',
      hiddenSize: 64,
      nHead: 4,
      nKvHead: 1,
      headDim: 8,
      tieWordEmbeddings: false,
      ropeTheta: 1e4,
    });
    for (const [name, c] of [
      ['qwen3-tiny', tiny],
      ['qwen3-untied', untied],
    ] as const) {
      const spec = parseHfConfig(c);
      const stored = storedTensors(path.join(out, name));
      checkStoredTensors(spec, stored);
      const table = new Map(hfTensorShapes(spec));
      expect(table.get('model.layers.1.self_attn.q_norm.weight'), name).toEqual([spec.headDim]);
      expect(table.get('model.layers.1.self_attn.k_norm.weight'), name).toEqual([spec.headDim]);
      expect(table.get('model.layers.0.self_attn.q_proj.weight'), name).toEqual([spec.nHead * spec.headDim, spec.hiddenSize]);
      expect(table.get('model.layers.0.self_attn.o_proj.weight'), name).toEqual([spec.hiddenSize, spec.nHead * spec.headDim]);
      // a missing or mis-sized norm is named
      const noNorm = new Map(stored);
      noNorm.delete('model.layers.1.self_attn.k_norm.weight');
      expect(() => checkStoredTensors(spec, noNorm)).toThrow(/tensor "model.layers.1.self_attn.k_norm.weight" is missing/);
      const wide = new Map(stored).set('model.layers.0.self_attn.q_norm.weight', {
        dtype: 'F32',
        shape: [spec.hiddenSize / spec.nHead + 2],
      });
      expect(() => checkStoredTensors(spec, wide)).toThrow(/"model.layers.0.self_attn.q_norm.weight" has shape .*head_dim/);
    }
    // transformers 5's layout: rope_parameters instead of rope_theta, layer_types written out
    const v5 = {
      ...tiny,
      rope_theta: undefined,
      rope_parameters: { rope_type: 'default', rope_theta: 5e5 },
      layer_types: ['full_attention', 'full_attention'],
    };
    expect(parseHfConfig(v5).ropeTheta).toBe(5e5);
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ attention_bias: true }, /"attention_bias": true is not supported/],
      [{ use_sliding_window: true, sliding_window: 16 }, /"use_sliding_window": true is not supported/],
      [{ layer_types: ['full_attention', 'sliding_attention'] }, /"layer_types" .* is not supported/],
      [{ head_dim: undefined }, /"head_dim" is missing/],
      [{ head_dim: 15 }, /must be an even integer for RoPE/],
      [{ hidden_act: 'gelu' }, /"hidden_act" "gelu" is not supported/],
      [{ rope_scaling: { rope_type: 'yarn', factor: 4 } }, /"rope_scaling" is set/],
      [{ rope_parameters: { rope_type: 'yarn', rope_theta: 1e6, factor: 4 } }, /"rope_parameters" .* is not supported/],
      [{ rope_parameters: { rope_type: 'default', rope_theta: 5 } }, /"rope_parameters.rope_theta" 5 and "rope_theta" 1000000 differ/],
      [{ num_key_value_heads: 3 }, /not a multiple of "num_key_value_heads" 3/],
      [{ model_type: 'qwen2' }, /"model_type" "qwen2" does not match/],
    ];
    for (const [patch, msg] of refusals) expect(() => parseHfConfig({ ...tiny, ...patch }), JSON.stringify(patch)).toThrow(msg);
  });

  it('refuses each broken config or tensor table, naming the field or tensor', () => {
    make('make_hostile.py', path.join(tmp, 'hostile'));
    const cases = JSON.parse(readFileSync(path.join(tmp, 'hostile', 'hostile.json'), 'utf8')) as Record<
      string,
      { problem: string; expect: string }
    >;
    // the folder-level cases (missing or truncated files) are the folder reader's
    const here = [
      'arch-mismatch',
      'gpt2-relu',
      'huge-vocab',
      'rope-scaling',
      'sliding-window',
      'unknown-arch',
      'config-lies-hidden',
      'config-lies-layers',
      'kv-shape',
      'missing-lm-head',
      'missing-tensor',
      'f64-tensor',
    ];
    for (const name of here) {
      const dir = path.join(tmp, 'hostile', name);
      const refuse = (): void => checkStoredTensors(parseHfConfig(config(dir)), storedTensors(dir));
      expect(refuse, `${name}: ${cases[name].problem}`).toThrow(HfConfigError);
      try {
        refuse();
      } catch (e) {
        expect((e as Error).message, name).toContain(cases[name].expect);
      }
    }
  });

  it('reads Gemma3 (gemma3_text): layer kinds from layer_types or sliding_window_pattern, two RoPE bases, the scale, the final soft-cap; refuses what we do not compute', () => {
    const r = spawnSync(PY, [path.join(ROOT, 'scripts/hf/make_tiny.py'), path.join(tmp, 'gemma3'), '--families', 'gemma3'], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    if (r.status !== 0) throw new Error(r.stderr);
    for (const name of ['gemma3-tiny', 'gemma3-softcap', 'gemma3-gguf']) {
      const dir = path.join(tmp, 'gemma3', name);
      const spec = parseHfConfig(config(dir));
      checkStoredTensors(spec, storedTensors(dir));
      const stored = storedTensors(dir);
      expect(stored.size, name).toBe(hfTensorShapes(spec).length);
      expect(
        [...stored.values()].reduce((s2, t) => s2 + t.shape.reduce((a, b) => a * b, 1), 0),
        name,
      ).toBe(hfParamCount(spec));
    }
    const tiny = parseHfConfig(config(path.join(tmp, 'gemma3', 'gemma3-tiny')));
    expect(tiny).toMatchObject({
      arch: 'gemma3',
      nHead: 4,
      nKvHead: 1,
      headDim: 16,
      hiddenSize: 48,
      tieWordEmbeddings: true,
      qkvBias: false,
      ropeTheta: 1e6,
    });
    expect(tiny.config).toMatchObject({
      layerTypes: ['sliding', 'sliding', 'full', 'sliding'],
      slidingWindow: 4,
      ropeLocalTheta: 1e4,
      attnScale: 1 / Math.sqrt(24),
      headDim: 16,
    });
    expect(tiny.config.finalSoftcap).toBeUndefined();
    const soft = parseHfConfig(config(path.join(tmp, 'gemma3', 'gemma3-softcap')));
    // sliding_window_pattern 3: layers 0, 1 slide, 2 is full
    expect(soft.config).toMatchObject({
      layerTypes: ['sliding', 'sliding', 'full'],
      slidingWindow: 5,
      ropeTheta: 5e5,
      ropeLocalTheta: 5e3,
      finalSoftcap: 4,
    });
    // attn_logit_softcapping 3 is not applied: transformers ignores it for Gemma3
    expect(soft.config.attnSoftcap).toBeUndefined();

    const g = config(path.join(tmp, 'gemma3', 'gemma3-tiny')) as Record<string, unknown>;
    const { layer_types: _lt, ...noTypes } = g;
    // no layer_types nor sliding_window_pattern: transformers' default pattern 6
    expect(parseHfConfig({ ...noTypes, num_hidden_layers: 7, layer_types: undefined }).config.layerTypes).toEqual([
      'sliding',
      'sliding',
      'sliding',
      'sliding',
      'sliding',
      'full',
      'sliding',
    ]);
    // transformers 5's rope_parameters
    expect(
      parseHfConfig({
        ...g,
        rope_theta: undefined,
        rope_local_base_freq: undefined,
        rope_parameters: {
          full_attention: { rope_type: 'default', rope_theta: 2e6 },
          sliding_attention: { rope_type: 'default', rope_theta: 2e4 },
        },
      }).config,
    ).toMatchObject({ ropeTheta: 2e6, ropeLocalTheta: 2e4 });
    // defaults of Gemma3TextConfig when the fields are absent
    expect(
      parseHfConfig({ ...g, rope_theta: undefined, rope_local_base_freq: undefined, query_pre_attn_scalar: undefined }).config,
    ).toMatchObject({ ropeTheta: 1e6, ropeLocalTheta: 1e4, attnScale: 1 / 16 });
    expect(parseHfConfig({ ...g, tie_word_embeddings: false }).tieWordEmbeddings).toBe(false);
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ rope_scaling: { rope_type: 'linear', factor: 8 } }, /"rope_scaling" is set/],
      [
        { rope_parameters: { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 } } },
        /"rope_parameters".full_attention.rope_type "linear" is not supported/,
      ],
      [{ use_bidirectional_attention: true }, /"use_bidirectional_attention": true is not supported/],
      [{ hidden_activation: 'gelu' }, /"hidden_activation" "gelu" is not supported/],
      [{ attention_bias: true }, /"attention_bias": true is not supported/],
      [
        { layer_types: ['sliding_attention', 'chunked_attention', 'full_attention', 'sliding_attention'] },
        /"layer_types"\[1\] "chunked_attention" is not supported/,
      ],
      [{ layer_types: ['full_attention'] }, /"layer_types" must list one entry for each of the 4 layers/],
      [{ sliding_window: null }, /"sliding_window" must be a positive integer/],
      [{ query_pre_attn_scalar: 0 }, /"query_pre_attn_scalar" must be a positive number/],
      [{ final_logit_softcapping: -1 }, /"final_logit_softcapping" must be a positive number/],
      [{ model_type: 'gemma3' }, /"model_type" "gemma3" does not match/],
      [{ head_dim: undefined }, /"head_dim" is missing/],
    ];
    for (const [patch, msg] of refusals) expect(() => parseHfConfig({ ...g, ...patch }), JSON.stringify(patch)).toThrow(msg);
  });

  it('refuses configs without allocating: huge sizes, non-integers, unknown settings', () => {
    const llama = TINY_LLAMA_CONFIG;
    expect(() => parseHfConfig({ ...llama, num_hidden_layers: 1e9 })).toThrow(
      /"num_hidden_layers" must be an integer in \[1, 128\], got 1000000000/,
    );
    expect(() => parseHfConfig({ ...llama, hidden_size: 32.5 })).toThrow(/"hidden_size" must be a positive integer/);
    expect(() => parseHfConfig({ ...llama, num_key_value_heads: 3 })).toThrow(/not a multiple of "num_key_value_heads" 3/);
    expect(() => parseHfConfig({ ...llama, eos_token_id: 100 })).toThrow(/"eos_token_id" must be token ids below vocab_size 100/);
    expect(() => parseHfConfig({ ...llama, architectures: ['__proto__'] })).toThrow(/"architectures" .* is not supported/);
    expect(() => parseHfConfig([])).toThrow(/must be a JSON object/);
    expect(parseHfConfig({ ...llama, eos_token_id: [2, 3] }).eosTokenIds).toEqual([2, 3]);
  });
});
