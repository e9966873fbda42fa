// `mcckd export --format hf` checked by another implementation: PyTorch's
// reference of the architecture (support/hf_ref.py) loads the exported
// folder and must match our `mcckd score` on it and on the run it came from.
// Pretrained LoRA runs (GPT-2, LLaMA with GQA, Qwen3 with its q/k norms) merge the adapter; a BF16 base
// stays BF16; a from-scratch GPT is written as a GPT2LMHeadModel; an export
// is a student again (`train --student EXPORT`).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcckd, ok, pythonHas, tinyModels, writePensData } from '../../support/cli';
import { closeHfRef, hfRef } from '../../support/hf-ref';
import { decode } from '../../src/checkpoint/safetensors';
import { loadRunDir } from '../../src/checkpoint/runDir';
import { exportModel, type ExportModel } from '../../src/export/source';
import { hfFolderFiles } from '../../src/export/hf';
import { countParams } from '../../src/core/config';
import { EOS_ID, PAD_ID } from '../../src/core/tokenizer';

const hasNumpy = pythonHas('numpy');
const hasTorch = hasNumpy && pythonHas('torch');
type Scored = { ids: number[]; logprobs: (number | null)[] };
const maxDiff = (a: (number | null)[], b: (number | null)[]): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 1; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};
const ref = async (folder: string, ids: number[]): Promise<Scored> => {
  const r = await hfRef([folder, '--ids', ids.join(',')]);
  if (r.status !== 0) throw new Error(`hf_ref.py ${folder}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Scored;
};
afterAll(closeHfRef);
/** The dtype of every tensor in a safetensors header. */
function headerDtypes(file: string): Record<string, string> {
  const b = readFileSync(file);
  const h = JSON.parse(b.subarray(8, 8 + b.readUInt32LE(0)).toString('utf8')) as Record<string, { dtype: string }>;
  return Object.fromEntries(
    Object.entries(h)
      .filter(([k]) => k !== '__metadata__')
      .map(([k, v]) => [k, v.dtype]),
  );
}

const TEXT = 'Q: Tom has 3 pens and buys 5 more. How many?\nA: 3 + 5 = 8. The answer is 8.';

describe.skipIf(!hasNumpy)('mcckd export --format hf', () => {
  let dir = '';
  let data = '';
  const at = (...p: string[]): string => path.join(dir, ...p);
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-export-hf-'));
    tinyModels(
      at('m'),
      [
        ['gpt2-tiny', 'gpt2'],
        ['llama-gqa', 'llama3'],
        ['llama-tied', 'llama3'],
        ['qwen3-tiny', 'gpt2'],
        ['gemma3-tiny', 'gpt2'],
      ],
      { families: 'gpt2,llama,qwen2,qwen3,gemma3' },
    );
    data = at('train.jsonl');
    writePensData(data);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const base of ['gpt2-tiny', 'llama-gqa', 'qwen3-tiny', 'gemma3-tiny'] as const) {
    it(`${base}: the merged folder matches PyTorch, our score on it and on the run, within 1e-4`, { timeout: 300_000 }, async () => {
      const run = at(`run-${base}`);
      await ok([
        'train',
        '--student',
        at('m', base),
        '--data',
        data,
        '--steps',
        '3',
        '--batch',
        '2',
        '--lr',
        '0.05',
        '--lora-rank',
        '4',
        '--out',
        run,
        '--eval-limit',
        '1',
        '--max-new-tokens',
        '2',
      ]);
      const out = at(`hf-${base}`);
      const w = await ok(['export', '--run', run, '--format', 'hf', '--out', out]);
      expect(w.dtype).toBe('F32');
      expect((w.files as { name: string }[]).map((x) => x.name).sort()).toEqual([
        'README.md',
        'config.json',
        'generation_config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
      const baseCfg = JSON.parse(readFileSync(at('m', base, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'))).toEqual({ ...baseCfg, torch_dtype: 'float32' });
      expect(JSON.parse(readFileSync(path.join(out, 'generation_config.json'), 'utf8'))).toEqual(
        JSON.parse(readFileSync(at('m', base, 'generation_config.json'), 'utf8')),
      );
      expect(JSON.parse(readFileSync(path.join(out, 'tokenizer.json'), 'utf8'))).toEqual(
        JSON.parse(readFileSync(at('m', base, 'tokenizer.json'), 'utf8')),
      );
      // the architecture's own names, exactly the base's tensors
      expect(Object.keys(headerDtypes(path.join(out, 'model.safetensors'))).sort()).toEqual(
        Object.keys(headerDtypes(at('m', base, 'model.safetensors'))).sort(),
      );

      const byRun = (await ok(['score', '--run', run, '--text', TEXT])) as Scored;
      const byExport = (await ok(['score', '--student', out, '--text', TEXT])) as Scored;
      expect(byExport.ids).toEqual(byRun.ids);
      const plain = (await ok(['score', '--student', at('m', base), '--ids', byRun.ids.join(',')])) as Scored;
      expect(maxDiff(byRun.logprobs, plain.logprobs)).toBeGreaterThan(1e-2); // the merge is not a no-op
      expect(maxDiff(byExport.logprobs, byRun.logprobs)).toBeLessThan(1e-4);
      if (hasTorch) {
        const r = await ref(out, byRun.ids);
        const dStudent = maxDiff(byExport.logprobs, r.logprobs);
        const dRun = maxDiff(byRun.logprobs, r.logprobs);
        console.log(
          `${base} hf F32: PyTorch on the export vs score --student EXPORT ${dStudent.toExponential(2)}, vs score --run ${dRun.toExponential(2)}`,
        );
        expect(dStudent).toBeLessThan(1e-4);
        expect(dRun).toBeLessThan(1e-4);
      }
    });
  }

  it('an export is a student again: train --student EXPORT continues, its run scores as PyTorch says', { timeout: 300_000 }, async () => {
    const run = at('run-on-export');
    const t = await mcckd([
      'train',
      '--student',
      at('hf-llama-gqa'),
      '--data',
      data,
      '--steps',
      '2',
      '--batch',
      '2',
      '--lr',
      '0.05',
      '--lora-rank',
      '2',
      '--out',
      run,
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '2',
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/model: hf-llama-gqa \(llama\)/);
    const out = at('hf-on-export');
    await ok(['export', '--run', run, '--format', 'hf', '--out', out]);
    const byRun = (await ok(['score', '--run', run, '--text', TEXT])) as Scored;
    if (hasTorch) expect(maxDiff(byRun.logprobs, (await ref(out, byRun.ids)).logprobs)).toBeLessThan(1e-4);
  });

  it('--dtype F16 stores every tensor as F16 and says so in config.json; the values stay close', { timeout: 300_000 }, async () => {
    const out = at('hf-gpt2-f16');
    const w = await ok(['export', '--run', at('run-gpt2-tiny'), '--format', 'hf', '--out', out, '--dtype', 'F16']);
    expect(w.dtype).toBe('F16');
    expect(new Set(Object.values(headerDtypes(path.join(out, 'model.safetensors'))))).toEqual(new Set(['F16']));
    expect((JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as { torch_dtype: string }).torch_dtype).toBe('float16');
    const byRun = (await ok(['score', '--run', at('run-gpt2-tiny'), '--text', TEXT])) as Scored;
    const byExport = (await ok(['score', '--student', out, '--ids', byRun.ids.join(',')])) as Scored;
    const d = maxDiff(byExport.logprobs, byRun.logprobs);
    console.log(`gpt2-tiny hf F16: score --student EXPORT vs score --run ${d.toExponential(2)}`);
    expect(d).toBeLessThan(2e-2);
    if (hasTorch) expect(maxDiff(byExport.logprobs, (await ref(out, byRun.ids)).logprobs)).toBeLessThan(1e-4);
  });

  it('a BF16 base keeps BF16 storage (rounded to nearest even); --dtype F32 keeps the exact merge', { timeout: 300_000 }, async () => {
    const run = at('run-llama-tied');
    await ok([
      'train',
      '--student',
      at('m', 'llama-tied'),
      '--data',
      data,
      '--steps',
      '3',
      '--batch',
      '2',
      '--lr',
      '0.05',
      '--lora-rank',
      '4',
      '--out',
      run,
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '2',
    ]);
    const out = at('hf-llama-tied');
    const w = await ok(['export', '--run', run, '--format', 'hf', '--out', out]);
    expect(w.dtype).toBe('BF16');
    const dtypes = headerDtypes(path.join(out, 'model.safetensors'));
    expect(new Set(Object.values(dtypes))).toEqual(new Set(['BF16']));
    expect(Object.keys(dtypes)).not.toContain('lm_head.weight'); // tied
    expect((JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as { torch_dtype: string }).torch_dtype).toBe('bfloat16');
    // unadapted tensors were BF16 already: stored bit for bit as the base stored them
    const mine = decode(new Uint8Array(readFileSync(path.join(out, 'model.safetensors')))).tensors;
    const theirs = decode(new Uint8Array(readFileSync(at('m', 'llama-tied', 'model.safetensors')))).tensors;
    expect(mine['model.layers.0.mlp.up_proj.weight'].data).toEqual(theirs['model.layers.0.mlp.up_proj.weight'].data);
    expect(mine['model.layers.0.self_attn.q_proj.weight'].data).not.toEqual(theirs['model.layers.0.self_attn.q_proj.weight'].data);
    const byRun = (await ok(['score', '--run', run, '--text', TEXT])) as Scored;
    const byExport = (await ok(['score', '--student', out, '--ids', byRun.ids.join(',')])) as Scored;
    const dRound = maxDiff(byExport.logprobs, byRun.logprobs);
    const f32 = at('hf-llama-tied-f32');
    await ok(['export', '--run', run, '--format', 'hf', '--out', f32, '--dtype', 'F32']);
    expect(new Set(Object.values(headerDtypes(path.join(f32, 'model.safetensors'))))).toEqual(new Set(['F32']));
    const byF32 = (await ok(['score', '--student', f32, '--ids', byRun.ids.join(',')])) as Scored;
    console.log(
      `llama-tied hf BF16: score --student EXPORT vs score --run ${dRound.toExponential(2)} (BF16 rounding of the merged q/k/v/o); F32 export ${maxDiff(byF32.logprobs, byRun.logprobs).toExponential(2)}`,
    );
    expect(dRound).toBeLessThan(0.1);
    expect(maxDiff(byF32.logprobs, byRun.logprobs)).toBeLessThan(1e-4);
    if (hasTorch) {
      expect(maxDiff(byExport.logprobs, (await ref(out, byRun.ids)).logprobs)).toBeLessThan(1e-4);
      expect(maxDiff(byRun.logprobs, (await ref(f32, byRun.ids)).logprobs)).toBeLessThan(1e-4);
    }
  });

  it("a from-scratch GPT is a GPT2LMHeadModel: PyTorch's GPT-2 on the folder matches score --run", { timeout: 300_000 }, async () => {
    const run = at('run-scratch');
    await ok([
      'train',
      '--data',
      data,
      '--preset',
      'tiny',
      '--steps',
      '3',
      '--batch',
      '2',
      '--lr',
      '0.01',
      '--out',
      run,
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '2',
    ]);
    const state = await loadRunDir(run);
    let m: ExportModel;
    let withTokenizer = true;
    try {
      m = exportModel(state, { facts: { name: 'run-scratch' } });
    } catch (e) {
      // the tokenizer.json writer (src/export/tokenizer-json.ts) is another
      // piece of work: until it exists, check the weights and config alone
      if (!/not written yet/.test((e as Error).message)) throw e;
      withTokenizer = false;
      m = {
        modelConfig: state.modelConfig,
        weights: state.params,
        dtype: 'F32',
        tokenizerJson: null,
        eosTokenIds: [EOS_ID],
        padTokenId: PAD_ID,
        trainConfig: state.trainConfig,
        step: state.step,
        metrics: state.metrics,
        parameters: countParams(state.modelConfig),
        facts: { name: 'run-scratch' },
      };
    }
    const out = at('hf-scratch');
    mkdirSync(out);
    for (const [name, bytes] of hfFolderFiles(m)) writeFileSync(path.join(out, name), bytes);
    const cfg = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    const mc = state.modelConfig;
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: mc.vocabSize,
      n_positions: mc.blockSize,
      n_embd: mc.nEmbd,
      n_layer: mc.nLayer,
      n_head: mc.nHead,
      n_inner: null,
      activation_function: 'gelu_new',
      layer_norm_epsilon: mc.layerNormEps,
      tie_word_embeddings: true,
      eos_token_id: EOS_ID,
      torch_dtype: 'float32',
    });
    const names = Object.keys(headerDtypes(path.join(out, 'model.safetensors')));
    expect(names).toContain('transformer.h.0.attn.c_attn.weight');
    expect(names).not.toContain('lm_head.weight');
    const byRun = (await ok(['score', '--run', run, '--text', TEXT])) as Scored;
    if (hasTorch) {
      const d = maxDiff(byRun.logprobs, (await ref(out, byRun.ids)).logprobs);
      console.log(
        `from-scratch hf F32: PyTorch GPT-2 on the export vs score --run ${d.toExponential(2)} (tokenizer.json ${withTokenizer ? 'written' : 'pending'})`,
      );
      expect(d).toBeLessThan(1e-4);
    }
    if (withTokenizer) {
      const byExport = (await ok(['score', '--student', out, '--text', TEXT])) as Scored;
      expect(byExport.ids).toEqual(byRun.ids);
      expect(maxDiff(byExport.logprobs, byRun.logprobs)).toBeLessThan(1e-4);
    }
  });
});
