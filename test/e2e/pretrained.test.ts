// A pretrained student in the page, in real Chromium on WebGPU: pick a tiny
// LLaMA-family folder in exact Hugging Face layout (scripts/hf/make_tiny.py
// with a tokenizer.json from scripts/hf/tiny_tokenizer.py), see what it is,
// LoRA-train a few steps (the frozen base in f16, WebGPU's default), reload
// onto wasm (where the base choice is f32, with its reason), resume from the
// copy kept in the Origin Private File System (no new pick), evaluate. A folder without its
// tokenizer is refused with the reason. Then the exports: the checkpoint as a
// Hugging Face folder (zip), a PEFT adapter (zip) and a GGUF, downloads
// intercepted and checked by PyTorch (support/hf_ref.py reads the folder, and
// the base with the adapter: the same log-probs) and by @huggingface/gguf; the
// exported folder is picked again as a student.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { gguf } from '@huggingface/gguf';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bannerText, onWasm, waitFor } from './checks';
import { chromiumAvailable, launchBrowser, openPage, readStep, ROOT, serve, trainStatus, type Served } from '../../support/browser';

import { closeHfRef, hfRef } from '../../support/hf-ref';
import { PY } from '../../support/python';
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const hasPython = spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const available = chromiumAvailable() && hasPython;

const hasTorch = hasPython && spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

/** Downloads the newest checkpoint in `format`; the file's name and bytes. */
async function exportAs(page: Page, format: string): Promise<{ name: string; bytes: Buffer }> {
  const newest = page.getByTestId('checkpoint-item').first();
  await newest.getByTestId('export-format').selectOption(format);
  const download = page.waitForEvent('download', { timeout: 120_000 });
  await newest.getByTestId('export-as').click();
  const d = await download;
  const file = path.join(tmpdir(), `mcckd-e2e-${process.pid}-${d.suggestedFilename()}`);
  await d.saveAs(file);
  const bytes = readFileSync(file);
  unlinkSync(file);
  return { name: d.suggestedFilename(), bytes };
}

/** A zip's entries written under `dir`; the folder they sit in. */
function unzipTo(bytes: Buffer, dir: string): string {
  const entries = unzipSync(new Uint8Array(bytes));
  const tops = new Set(Object.keys(entries).map((n) => n.split('/')[0]));
  expect(tops.size).toBe(1);
  for (const [name, data] of Object.entries(entries)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), data);
  }
  return path.join(dir, [...tops][0]);
}

/** support/hf_ref.py's per-token log-probs of a folder (and an adapter). */
async function refLogprobs(folder: string, ids: number[], adapter?: string): Promise<(number | null)[]> {
  const r = await hfRef([folder, '--ids', ids.join(','), ...(adapter ? ['--adapter', adapter] : [])]);
  if (r.status !== 0) throw new Error(`hf_ref.py ${folder}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { logprobs: (number | null)[] }).logprobs;
}

describe.skipIf(!available)('a pretrained student in the page', () => {
  let served: Served;
  let browser: Browser;
  let dir = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-e2e-hf-'));
    const run = (args: string[]): void => {
      const r = spawnSync(PY, args, { encoding: 'utf8', env: ENV });
      if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
    };
    run([path.join(ROOT, 'scripts/hf/make_tiny.py'), dir, '--adapters']);
    run([path.join(ROOT, 'scripts/hf/tiny_tokenizer.py'), path.join(dir, 'llama-gqa'), '--style', 'llama3']);
    run([path.join(ROOT, 'scripts/hf/tiny_tokenizer.py'), path.join(dir, 'qwen2-tiny')]);
    unlinkSync(path.join(dir, 'qwen2-tiny', 'tokenizer.json'));
    served = await serve('preview');
    browser = await launchBrowser();
  }, 300_000);

  afterAll(async () => {
    closeHfRef();
    await browser?.close();
    await served?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('picks a folder, LoRA-trains on WebGPU, resumes on wasm after a reload from the kept base, evaluates', {
    timeout: 600_000,
  }, async () => {
    const w = await openPage(browser, served.url);
    const page = w.page;
    try {
      await page
        .getByTestId('backend')
        .filter({ hasText: /^backend: webgpu/ })
        .waitFor({ timeout: 60_000 });
      await page.getByTestId('use-demo').click();
      await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
      // the demo data brings the budget that teaches a from-scratch student
      // (set once the training data is in: wait for its note, then read both)
      await page.getByTestId('settings-demo-note').waitFor({ state: 'visible', timeout: 60_000 });
      expect([await page.getByTestId('steps').inputValue(), await page.getByTestId('setting-batchSize').inputValue()]).toEqual([
        '1000',
        '16',
      ]);
      expect(await page.getByTestId('settings-demo-note').innerText()).toMatch(/^Set for the demo data: 1,000 steps and batch size 16\./);

      // a folder without tokenizer.json is refused, naming the file
      await page.getByTestId('student-folder').setInputFiles(path.join(dir, 'qwen2-tiny'));
      await page
        .getByTestId('student-status')
        .filter({ hasText: /tokenizer\.json is missing/ })
        .waitFor({ timeout: 60_000 });

      await page.getByTestId('student-folder').setInputFiles(path.join(dir, 'llama-gqa'));
      const info = page.getByTestId('student-info');
      await info.getByText('llama-gqa (llama)').waitFor({ timeout: 60_000 });
      const text = await info.innerText();
      expect(text).toMatch(/2 layers × 64, 4 heads, 2 key\/value heads/);
      expect(text).toMatch(/F32/);
      expect(text).toMatch(/384 tokens; end token "<\|end_of_text\|>"/);
      // the plan against this GPU's limits (SwiftShader's device: 1 GiB bindings)
      const plan = await page.getByTestId('student-plan').innerText();
      expect(plan).toMatch(/Memory plan: fits this GPU/);
      expect(plan).toMatch(/8 questions a step, \d+ tokens \(the longest example of the loaded data\)/);
      expect(plan).toMatch(/limits: binding 1\.00 GB/);
      // the frozen base in half precision, WebGPU's default, in the plan and the Stored-as row
      expect(await page.getByTestId('base-dtype').inputValue()).toBe('f16');
      expect(await page.getByTestId('base-dtype-why').isVisible()).toBe(false);
      const weightsRow = (p: string): string =>
        p
          .split('\n')
          .map((l) => l.trim())
          .find((l) => l.startsWith('weights (frozen')) ?? '';
      expect(weightsRow(plan)).toMatch(/^weights \(frozen, f16 projections and tables\)/);
      expect(text).toMatch(/F32 \(on the GPU: projections and token tables in f16, the rest float32\)/);
      // int8: the plan follows (a smaller base), and back
      await page.getByTestId('base-dtype').selectOption('int8');
      await page
        .getByTestId('student-plan')
        .filter({ hasText: /weights \(frozen, int8 projections and tables\)/ })
        .waitFor({ timeout: 30_000 });
      const int8Row = weightsRow((await page.getByTestId('student-plan').textContent()) ?? '');
      expect(int8Row).not.toBe(weightsRow(plan).replace('f16', 'int8'));
      await page.getByTestId('base-dtype').selectOption('f16');
      await page
        .getByTestId('student-plan')
        .filter({ hasText: /weights \(frozen, f16 projections and tables\)/ })
        .waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('student-status').innerText()).toMatch(/kept in this browser/);
      expect(await page.getByTestId('lora-target-q_proj').isChecked()).toBe(true);
      expect(await page.getByTestId('lora-target-gate_proj').isChecked()).toBe(false);
      expect(await page.getByTestId('preset').isDisabled()).toBe(true);
      expect(await page.getByTestId('setting-lr').inputValue()).toBe('0.0002');
      // ... which a pretrained student does not get (hours at that budget)
      expect([await page.getByTestId('steps').inputValue(), await page.getByTestId('setting-batchSize').inputValue()]).toEqual([
        '200',
        '8',
      ]);
      expect(await page.getByTestId('settings-demo-note').isVisible()).toBe(false);
      await page.getByTestId('setting-lr').fill('0.01');

      await page.getByTestId('steps').fill('4');
      await page.getByTestId('setting-batchSize').fill('2'); // small steps: SwiftShader is slow
      await page.getByTestId('setting-autosaveEvery').fill('1');
      await expect.poll(() => page.getByTestId('train-start').isEnabled(), { timeout: 30_000 }).toBe(true);
      await page.getByTestId('train-start').click();
      await waitFor('step 2', async () => (await readStep(page)) >= 2, 300_000, 250, page);
      const trainNotes = async (): Promise<string[]> => page.getByTestId('train-notes').locator('li').allTextContents();
      expect((await trainNotes()).filter((n) => /model ready in .* on webgpu, base f16$/.test(n))).toHaveLength(1);
      await page.getByTestId('train-stop').click();
      await waitFor('stopped', async () => (await trainStatus(page)) === 'stopped', 120_000, 250, page);
      const stoppedAt = await readStep(page);
      const run = page.getByTestId('checkpoint-run').first();
      await run.getByText(/llama-gqa LoRA r8/).waitFor({ timeout: 30_000 });

      // The reload opens the page on wasm: a checkpoint made on WebGPU
      // resumes on another backend (a person whose GPU went away), and the
      // rest of the test does not pay SwiftShader's shader compiles again.
      await page.goto(onWasm(served.url));
      await page
        .getByTestId('backend')
        .filter({ hasText: /^backend: wasm/ })
        .waitFor({ timeout: 60_000 });
      // off WebGPU the base choice is f32, and says why
      expect(await page.getByTestId('base-dtype').inputValue()).toBe('f32');
      expect(await page.getByTestId('base-dtype-why').textContent()).toMatch(
        /^Full precision only on wasm: half precision and int8 run in our WebGPU kernels/,
      );
      expect(await page.getByTestId('base-dtype').locator('option[value="f16"]').isDisabled()).toBe(true);
      const newest = page.getByTestId('checkpoint-item').first();
      await waitFor(
        'the stop checkpoint after the reload',
        async () => (await newest.getAttribute('data-step')) === String(stoppedAt),
        60_000,
      );
      await expect.poll(() => newest.getByRole('button', { name: 'Resume' }).isEnabled(), { timeout: 30_000 }).toBe(true);
      await newest.getByRole('button', { name: 'Resume' }).click();
      await waitFor('the resumed run to finish', async () => (await trainStatus(page)) === 'done', 300_000, 250, page);
      expect(await readStep(page)).toBe(4);
      const notes = await trainNotes();
      expect(notes.filter((n) => /checkpoints are off|not kept|pick its model folder/.test(n))).toEqual([]);
      // the resume holds the base as the page now says: f32 on wasm
      expect(notes.filter((n) => /model ready in .* on wasm, base f32$/.test(n))).toHaveLength(1);

      await page.getByTestId('eval-max-tokens').fill('6');
      await page.getByTestId('eval-limit').fill('3');
      await expect.poll(() => page.getByTestId('eval-run').isEnabled(), { timeout: 30_000 }).toBe(true);
      await page.getByTestId('eval-run').click();
      await page.getByTestId('eval-accuracy').filter({ hasText: /%/ }).waitFor({ timeout: 300_000 });
      expect(await bannerText(page)).toBe('');

      // ---- exports ----
      const out = mkdtempSync(path.join(tmpdir(), 'mcckd-e2e-export-'));
      const hf = await exportAs(page, 'hf');
      expect(hf.name).toMatch(/-step4-hf\.zip$/);
      const hfDir = unzipTo(hf.bytes, path.join(out, 'hf'));
      const config = JSON.parse(readFileSync(path.join(hfDir, 'config.json'), 'utf8')) as {
        architectures?: string[];
        num_key_value_heads?: number;
      };
      expect(config.architectures).toEqual(['LlamaForCausalLM']);
      expect(config.num_key_value_heads).toBe(2);
      for (const f of ['model.safetensors', 'tokenizer.json', 'generation_config.json', 'README.md'])
        expect(readFileSync(path.join(hfDir, f)).length).toBeGreaterThan(0);
      const card = readFileSync(path.join(hfDir, 'README.md'), 'utf8');
      expect(card).toMatch(/llama-gqa/);
      expect(card).toMatch(/accuracy/i);

      const peft = await exportAs(page, 'peft');
      expect(peft.name).toMatch(/-step4-peft\.zip$/);
      const peftDir = unzipTo(peft.bytes, path.join(out, 'peft'));
      const adapterConfig = JSON.parse(readFileSync(path.join(peftDir, 'adapter_config.json'), 'utf8')) as {
        peft_type?: string;
        r?: number;
        target_modules?: string[];
      };
      expect(adapterConfig.peft_type).toBe('LORA');
      expect(adapterConfig.r).toBe(8);

      if (hasTorch) {
        // PyTorch on the exported folder = PyTorch on the base with the exported adapter
        const ids = [3, 17, 42, 7, 99, 5, 250, 12];
        const merged = await refLogprobs(hfDir, ids);
        const adapted = await refLogprobs(path.join(dir, 'llama-gqa'), ids, peftDir);
        const base = await refLogprobs(path.join(dir, 'llama-gqa'), ids);
        let diff = 0;
        let moved = 0;
        for (let i = 1; i < ids.length; i++) {
          diff = Math.max(diff, Math.abs(merged[i]! - adapted[i]!));
          moved = Math.max(moved, Math.abs(merged[i]! - base[i]!));
        }
        expect(diff).toBeLessThan(1e-4);
        expect(moved).toBeGreaterThan(1e-3); // the adapter trained: the export is not the base
      }

      const g = await exportAs(page, 'gguf');
      expect(g.name).toMatch(/-step4\.gguf$/);
      const ggufPath = path.join(out, 'model.gguf');
      writeFileSync(ggufPath, g.bytes);
      const parsed = await gguf(ggufPath, { allowLocalFile: true });
      expect(parsed.metadata['general.architecture']).toBe('llama');
      expect(parsed.tensorInfos.map((t) => t.name)).toContain('blk.1.attn_q.weight');

      // the exported adapter continues on its base; an adapter of another model is refused
      await page.getByTestId('student-folder').setInputFiles(path.join(dir, 'llama-gqa'));
      await info.getByText('llama-gqa (llama)').waitFor({ timeout: 60_000 });
      await page.getByTestId('adapter-folder').setInputFiles(path.join(dir, 'gpt2-tiny.lora'));
      await page
        .getByTestId('adapter-status')
        .filter({ hasText: /This adapter cannot be used: adapter: .*c_attn/ })
        .waitFor({ timeout: 60_000 });
      await page.getByTestId('adapter-folder').setInputFiles(peftDir);
      await page
        .getByTestId('adapter-status')
        .filter({ hasText: /Training starts from the adapter/ })
        .waitFor({ timeout: 60_000 });
      expect(await page.getByTestId('lora-rank').inputValue()).toBe('8');

      // the exported folder is a student again
      await page.getByTestId('student-folder').setInputFiles(hfDir);
      await info.getByText(`${path.basename(hfDir)} (llama)`).waitFor({ timeout: 60_000 });
      expect(await bannerText(page)).toBe('');
      rmSync(out, { recursive: true, force: true });
    } finally {
      await w.context.close();
    }
  });
});
