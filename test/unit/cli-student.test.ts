// Pretrained students through the CLI, as a user runs it (`node bin/mcckd.js`
// in a child process) on tiny models in exact Hugging Face layout
// (scripts/hf/make_tiny.py, tokenizer.json from scripts/hf/tiny_tokenizer.py):
// score and generate from a folder and from a run, LoRA training with resume,
// full fine-tuning, wrong settings and hostile folders refused by name.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, mcckd, lastJson, lastLine, py, pythonHas, tinyModels } from '../../support/cli';
import { HfTokenizer } from '../../src/hf/tokenizer';

const hasNumpy = pythonHas('numpy');
const hasTorch = hasNumpy && pythonHas('torch');

describe.skipIf(!hasNumpy)('mcckd score / generate / train --student', () => {
  let dir = '';
  let data = '';
  const folder = (c: string): string => path.join(dir, c);
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-cli-hf-'));
    tinyModels(dir, [
      ['gpt2-tiny', 'gpt2'],
      ['llama-gqa', 'llama3'],
      ['qwen2-tiny', 'gpt2'],
    ]);
    py([path.join(ROOT, 'scripts/hf/make_hostile.py'), path.join(dir, 'hostile')]);
    const lines: string[] = [];
    for (let i = 0; i < 12; i++) {
      const a = 2 + (i % 5);
      const b = 1 + ((i * 3) % 7);
      lines.push(
        JSON.stringify({
          id: `p${i}`,
          question: `Tom has ${a} pens and buys ${b} more. How many?`,
          answer: String(a + b),
          rationales: [`${a} + ${b} = ${a + b}. The answer is ${a + b}.`, `He has ${a + b} pens. So the answer is ${a + b}.`],
        }),
      );
    }
    data = path.join(dir, 'train.jsonl');
    writeFileSync(data, `${lines.join('\n')}\n`);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("score prints the tokenizer's ids and the log-probs of the Hugging Face math", { timeout: 120_000 }, async () => {
    const text = 'Q: Tom has 3 pens and buys 5 more.\nA: He has 3 + 5 = 8. The answer is 8.';
    const r = await mcckd(['score', '--student', folder('llama-gqa'), '--text', text]);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout) as { ids: number[]; logprobs: (number | null)[] };
    const tok = HfTokenizer.fromJSON(JSON.parse(readFileSync(path.join(folder('llama-gqa'), 'tokenizer.json'), 'utf8')), { eosTokenId: 2 });
    expect(out.ids).toEqual(tok.encode(text));
    expect(tok.decode(out.ids)).toBe(text);
    expect(out.logprobs[0]).toBeNull();
    expect(out.logprobs.length).toBe(out.ids.length);
    if (hasTorch) {
      const ref = JSON.parse(py([path.join(ROOT, 'support/hf_ref.py'), folder('llama-gqa'), '--ids', out.ids.join(',')])) as {
        logprobs: (number | null)[];
      };
      for (let i = 1; i < out.ids.length; i++)
        expect(Math.abs((out.logprobs[i] as number) - (ref.logprobs[i] as number))).toBeLessThan(1e-4);
    }
    const byIds = lastJson((await mcckd(['score', '--student', folder('llama-gqa'), '--ids', out.ids.join(',')])).stdout);
    expect(byIds).toEqual(out);
  });

  it('generate continues a prompt greedily, the same every time, within the token budget', { timeout: 120_000 }, async () => {
    const args = ['generate', '--student', folder('qwen2-tiny'), '--prompt', 'Q: Tom has 3 pens.\nA:', '--max-new-tokens', '6'];
    const a = await mcckd(args);
    expect(a.code, a.stderr).toBe(0);
    const out = lastJson(a.stdout) as { promptIds: number[]; ids: number[]; text: string };
    expect(out.ids.length).toBeGreaterThan(0);
    expect(out.ids.length).toBeLessThanOrEqual(6);
    expect(lastJson((await mcckd(args)).stdout)).toEqual(out);
  });

  it('LoRA-trains, saves the adapter only with its base, scores from the run, resumes; full fine-tuning with rank 0', {
    timeout: 300_000,
  }, async () => {
    const run = path.join(dir, 'run-lora');
    const t = await mcckd([
      'train',
      '--student',
      folder('gpt2-tiny'),
      '--data',
      data,
      '--steps',
      '3',
      '--batch',
      '2',
      '--lr',
      '0.01',
      '--lora-rank',
      '4',
      '--lora-targets',
      'c_attn',
      '--out',
      run,
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '4',
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/gpt2-tiny \(gpt2\), [\d,]+ parameters, LoRA r 4 alpha 16 on c_attn: [\d,]+ trainable/);
    const cfg = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8')) as {
      base: { folder: string; arch: string };
      trainable: number;
      parameters: number;
      modelConfig: { lora: unknown };
    };
    expect(cfg.base.folder).toBe(folder('gpt2-tiny'));
    expect(cfg.modelConfig.lora).toEqual({ rank: 4, alpha: 16, targets: ['c_attn'] });
    expect(cfg.trainable).toBeLessThan(cfg.parameters / 5);
    // adapter + its two moments, not the base
    expect(statSync(path.join(run, 'checkpoint.safetensors')).size).toBeLessThan(cfg.trainable * 12 + 20_000);
    const text = 'Q: Tom has 2 pens.\nA: 2';
    const base = lastJson((await mcckd(['score', '--student', folder('gpt2-tiny'), '--text', text])).stdout) as { logprobs: number[] };
    const tuned = lastJson((await mcckd(['score', '--run', run, '--text', text])).stdout) as { logprobs: number[] };
    expect(tuned.logprobs).not.toEqual(base.logprobs);
    const other = await mcckd(['score', '--run', run, '--student', folder('llama-gqa'), '--text', text]);
    expect(other.code).toBe(1);
    expect(lastLine(other.stderr)).toMatch(/trained on "gpt2-tiny" .* not on "llama-gqa"/);
    const ev = await mcckd(['eval', '--run', run, '--data', data, '--limit', '2', '--max-new-tokens', '3']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(lastJson(ev.stdout)).toMatchObject({ total: 2 });
    const resumed = await mcckd(['train', '--resume', run, '--data', data, '--steps', '5']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed .* at step 3 of 5/);
    const full = await mcckd([
      'train',
      '--student',
      folder('qwen2-tiny'),
      '--data',
      data,
      '--steps',
      '2',
      '--batch',
      '2',
      '--lora-rank',
      '0',
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '2',
    ]);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stderr).toMatch(/qwen2-tiny \(qwen2\), [\d,]+ parameters, vocab/);
    expect(full.stderr).not.toMatch(/LoRA/);
  });

  it('refuses wrong settings and hostile folders, naming the problem', { timeout: 300_000 }, async () => {
    const bad = await mcckd(['train', '--student', folder('llama-gqa'), '--data', data, '--steps', '1', '--lora-targets', 'c_attn']);
    expect(bad.code).toBe(1);
    expect(lastLine(bad.stderr)).toMatch(/lora.targets: "c_attn" is not a projection of a llama model/);
    const noStudent = await mcckd(['train', '--data', data, '--steps', '1', '--lora-rank', '4']);
    expect(noStudent.code).toBe(2);
    expect(noStudent.stderr).toMatch(/--lora-rank needs a pretrained student/);
    const cases = JSON.parse(readFileSync(path.join(dir, 'hostile', 'hostile.json'), 'utf8')) as Record<string, { expect: string }>;
    const results = await Promise.all(
      Object.entries(cases).map(async ([c, v]) => ({
        c,
        v,
        r: await mcckd(['score', '--student', path.join(dir, 'hostile', c), '--ids', '1,2']),
      })),
    );
    for (const { c, v, r } of results) {
      expect(r.code, c).toBe(1);
      expect(lastLine(r.stderr), c).toContain(v.expect);
    }
  });
});
