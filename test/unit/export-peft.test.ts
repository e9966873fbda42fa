// `mcckd export --format peft` checked by another implementation: tiny LoRA
// runs (GPT-2's Conv1D, LLaMA with GQA, Qwen3 with head_dim * heads != hidden,
// BF16 base) trained a few steps by the CLI,
// exported, and read back by PyTorch with PEFT's semantics (support/hf_ref.py
// --adapter) against our `mcckd score --run`. Then the adapter comes back in:
// score / generate / train with --student BASE --adapter EXPORT, and an
// adapter for another base is refused.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcckd, lastLine, ok, pythonHas, type CliResult, tinyModels, writePensData } from '../../support/cli';
import { closeHfRef, hfRef } from '../../support/hf-ref';
import { decode } from '../../src/checkpoint/safetensors';

const hasNumpy = pythonHas('numpy');
const hasTorch = hasNumpy && pythonHas('torch');
const maxDiff = (a: (number | null)[], b: (number | null)[]): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 1; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

const TEXT = 'Q: Tom has 3 pens and buys 5 more. How many?\nA: 3 + 5 = 8. The answer is 8.';

describe.skipIf(!hasNumpy)('mcckd export --format peft', () => {
  let dir = '';
  let data = '';
  const at = (...p: string[]): string => path.join(dir, ...p);
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-export-peft-'));
    tinyModels(
      at('m'),
      [
        ['gpt2-tiny', 'gpt2'],
        ['gpt2-f16', 'gpt2'],
        ['llama-gqa', 'llama3'],
        ['qwen3-untied', 'llama3'],
        ['gemma3-tiny', 'gpt2'],
      ],
      { adapters: true, families: 'gpt2,llama,qwen2,qwen3,gemma3' },
    );
    data = at('train.jsonl');
    writePensData(data);
  }, 120_000);
  afterAll(() => {
    closeHfRef();
    rmSync(dir, { recursive: true, force: true });
  });

  // the first layer's adapted projection and its A [r, in], B [out, r] shapes
  const probe = {
    'gpt2-tiny': ['base_model.model.transformer.h.0.attn.c_attn', [4, 32], [96, 4]],
    'llama-gqa': ['base_model.model.model.layers.0.self_attn.v_proj', [4, 64], [32, 4]], // GQA: v_proj out = 2 kv heads * 16
    'qwen3-untied': ['base_model.model.model.layers.0.self_attn.v_proj', [4, 64], [8, 4]], // GQA: v_proj out = 1 kv head * 8
    'gemma3-tiny': ['base_model.model.model.layers.0.mlp.gate_proj', [4, 48], [96, 4]], // Gemma3: the gated GELU MLP's gate
  } as const;
  for (const [base, targets] of [
    ['gpt2-tiny', 'c_attn,c_proj,c_fc'],
    ['llama-gqa', 'q_proj,v_proj,o_proj,down_proj'],
    ['qwen3-untied', 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj'],
    ['gemma3-tiny', 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj'],
  ] as const) {
    it(`${base}: PyTorch + PEFT's semantics on the exported adapter match mcckd score --run within 1e-4`, {
      timeout: 300_000,
    }, async () => {
      const run = at(`run-${base}`);
      // a large lr so that 3 steps move B far from zero
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
        '--lora-alpha',
        '8',
        '--lora-targets',
        targets,
        '--out',
        run,
        '--eval-limit',
        '1',
        '--max-new-tokens',
        '2',
      ]);
      const out = at(`peft-${base}`);
      const written = await ok(['export', '--run', run, '--format', 'peft', '--out', out]);
      expect((written.files as { name: string }[]).map((x) => x.name).sort()).toEqual([
        'README.md',
        'adapter_config.json',
        'adapter_model.safetensors',
      ]);
      const cfg = JSON.parse(readFileSync(path.join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      expect(cfg).toMatchObject({
        peft_type: 'LORA',
        task_type: 'CAUSAL_LM',
        r: 4,
        lora_alpha: 8,
        lora_dropout: 0,
        bias: 'none',
        fan_in_fan_out: base === 'gpt2-tiny',
        base_model_name_or_path: base,
        inference_mode: true,
        use_rslora: false,
        use_dora: false,
      });
      expect(cfg.target_modules).toEqual(targets.split(',').sort());
      const st = decode(new Uint8Array(readFileSync(path.join(out, 'adapter_model.safetensors'))));
      const names = Object.keys(st.tensors);
      expect(names.every((n) => n.startsWith('base_model.model.') && /\.lora_[AB]\.weight$/.test(n))).toBe(true);
      const [q, aShape, bShape] = probe[base];
      expect(st.tensors[`${q}.lora_A.weight`].shape).toEqual(aShape);
      expect(st.tensors[`${q}.lora_B.weight`].shape).toEqual(bShape);
      expect(st.metadata['mcckd.base_name']).toBe(base);
      expect(st.metadata['mcckd.base_fingerprint']).toMatch(/^[0-9a-f]{8}-\d+$/);

      const ours = (await ok(['score', '--run', run, '--text', TEXT])) as { ids: number[]; logprobs: (number | null)[] };
      const plain = (await ok(['score', '--student', at('m', base), '--ids', ours.ids.join(',')])) as { logprobs: (number | null)[] };
      // the adapter is far from a no-op: the comparison below is not trivially met
      expect(maxDiff(ours.logprobs, plain.logprobs)).toBeGreaterThan(1e-2);
      const viaAdapter = (await ok(['score', '--student', at('m', base), '--adapter', out, '--ids', ours.ids.join(',')])) as {
        logprobs: (number | null)[];
      };
      expect(maxDiff(ours.logprobs, viaAdapter.logprobs)).toBeLessThan(1e-5);
      if (hasTorch) {
        const run = await hfRef([at('m', base), '--adapter', out, '--ids', ours.ids.join(',')]);
        if (run.status !== 0) throw new Error(`hf_ref.py: ${run.stderr}`);
        const ref = JSON.parse(run.stdout) as { logprobs: (number | null)[] };
        const d = maxDiff(ours.logprobs, ref.logprobs);
        console.log(
          `${base} peft: max |log-prob diff| vs PyTorch+PEFT ${d.toExponential(2)} (adapter moves them by ${maxDiff(ours.logprobs, plain.logprobs).toFixed(3)})`,
        );
        expect(d).toBeLessThan(1e-4);
      }
    });
  }

  it('the adapter comes back: generate with it, continue training from it (its r, alpha, targets, tensors)', {
    timeout: 300_000,
  }, async () => {
    const out = at('peft-gpt2-tiny');
    const viaRun = await ok(['generate', '--run', at('run-gpt2-tiny'), '--prompt', 'Q: Tom has 3 pens.\nA:', '--max-new-tokens', '5']);
    const viaAdapter = await ok([
      'generate',
      '--student',
      at('m', 'gpt2-tiny'),
      '--adapter',
      out,
      '--prompt',
      'Q: Tom has 3 pens.\nA:',
      '--max-new-tokens',
      '5',
    ]);
    expect(viaAdapter).toEqual(viaRun);
    const run2 = at('run-from-adapter');
    const t = await mcckd([
      'train',
      '--student',
      at('m', 'gpt2-tiny'),
      '--adapter',
      out,
      '--data',
      data,
      '--steps',
      '2',
      '--batch',
      '2',
      '--lr',
      '0.01',
      '--out',
      run2,
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '2',
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/starting the LoRA from the adapter/);
    expect(t.stderr).toMatch(/LoRA r 4 alpha 8 on c_attn,c_fc,c_proj/);
    const cfg = JSON.parse(readFileSync(path.join(run2, 'config.json'), 'utf8')) as { modelConfig: { lora: unknown }; step: number };
    expect(cfg.modelConfig.lora).toEqual({ rank: 4, alpha: 8, targets: ['c_attn', 'c_fc', 'c_proj'] });
    expect(cfg.step).toBe(2);
    // the first step's loss is the adapted model's, far below the base's fresh (B = 0) start
    const first = (r: CliResult): number => (JSON.parse(r.stdout.trim().split('\n')[0]) as { ce: number }).ce;
    const fresh = await mcckd([
      'train',
      '--student',
      at('m', 'gpt2-tiny'),
      '--data',
      data,
      '--steps',
      '2',
      '--batch',
      '2',
      '--lr',
      '0.01',
      '--lora-rank',
      '4',
      '--lora-targets',
      'c_attn,c_proj,c_fc',
      '--log-every',
      '1',
    ]);
    const fromAdapter = await mcckd([
      'train',
      '--student',
      at('m', 'gpt2-tiny'),
      '--adapter',
      out,
      '--data',
      data,
      '--steps',
      '2',
      '--batch',
      '2',
      '--lr',
      '0.01',
      '--log-every',
      '1',
    ]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fromAdapter.code, fromAdapter.stderr).toBe(0);
    expect(Math.abs(first(fresh) - first(fromAdapter))).toBeGreaterThan(1e-3);
  });

  it('refuses an adapter for another base: by fingerprint when it carries one, else by shape', { timeout: 300_000 }, async () => {
    // gpt2-f16 has gpt2-tiny's width and depth, so only the fingerprint tells them apart
    const other = await mcckd(['score', '--student', at('m', 'gpt2-f16'), '--adapter', at('peft-gpt2-tiny'), '--ids', '1,2,3']);
    expect(other.code).toBe(1);
    expect(lastLine(other.stderr)).toMatch(
      /adapter: adapter_model\.safetensors was trained on another base model, "gpt2-tiny" \(weights [0-9a-f]{8}-\d+\), not on "gpt2-f16"/,
    );
    const train = await mcckd([
      'train',
      '--student',
      at('m', 'gpt2-f16'),
      '--adapter',
      at('peft-gpt2-tiny'),
      '--data',
      data,
      '--steps',
      '1',
    ]);
    expect(train.code).toBe(1);
    expect(lastLine(train.stderr)).toMatch(/trained on another base model/);
    // make_tiny's adapters carry no fingerprint (as PEFT's own): the shapes decide
    const shapes = await mcckd(['score', '--student', at('m', 'llama-gqa'), '--adapter', at('m', 'llama-tied.lora'), '--ids', '1,2,3']);
    expect(shapes.code).toBe(1);
    expect(lastLine(shapes.stderr)).toMatch(
      /adapter: tensor "base_model\.model\.model\.layers\.\d\.self_attn\.[qkvo]_proj\.lora_A\.weight" has shape \[4, 32\], the model and r 4 need \[4, 64\]/,
    );
    const wrongArch = await mcckd(['score', '--student', at('m', 'gpt2-tiny'), '--adapter', at('peft-llama-gqa'), '--ids', '1,2,3']);
    expect(wrongArch.code).toBe(1);
    expect(lastLine(wrongArch.stderr)).toMatch(/trained on another base model, "llama-gqa"/);
    const withRun = await mcckd(['score', '--run', at('run-gpt2-tiny'), '--adapter', at('peft-gpt2-tiny'), '--ids', '1,2']);
    expect(withRun.code).toBe(2);
    expect(withRun.stderr).toMatch(/--adapter goes with --student DIR/);
    const flags = await mcckd([
      'train',
      '--student',
      at('m', 'gpt2-tiny'),
      '--adapter',
      at('peft-gpt2-tiny'),
      '--lora-rank',
      '8',
      '--data',
      data,
      '--steps',
      '1',
    ]);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toMatch(/--lora-rank: with --adapter, r, alpha and the targets are the adapter's/);
    const asStudent = await mcckd(['score', '--student', at('peft-gpt2-tiny'), '--ids', '1,2']);
    expect(asStudent.code).toBe(1);
    expect(lastLine(asStudent.stderr)).toMatch(
      /is a PEFT adapter, not a model folder: give its base with --student and the adapter with --adapter/,
    );
  });
});
