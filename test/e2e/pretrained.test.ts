// A pretrained student in the page, in real Chromium on WebGPU: pick a tiny
// LLaMA-family folder in exact Hugging Face layout (scripts/hf/make_tiny.py
// with a tokenizer.json from scripts/hf/tiny_tokenizer.py), see what it is,
// LoRA-train a few steps, reload, resume from the copy kept in the Origin
// Private File System (no new pick), evaluate. A folder without its
// tokenizer is refused with the reason.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bannerText, waitFor } from './checks';
import { chromiumAvailable, launchBrowser, openPage, readStep, ROOT, serve, trainStatus, type Served } from '../../support/browser';

const PY = '/usr/bin/python3';
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const hasPython = spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const available = chromiumAvailable() && hasPython;

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
    run([path.join(ROOT, 'scripts/hf/make_tiny.py'), dir]);
    run([path.join(ROOT, 'scripts/hf/tiny_tokenizer.py'), path.join(dir, 'llama-gqa'), '--style', 'llama3']);
    run([path.join(ROOT, 'scripts/hf/tiny_tokenizer.py'), path.join(dir, 'qwen2-tiny')]);
    unlinkSync(path.join(dir, 'qwen2-tiny', 'tokenizer.json'));
    served = await serve('preview');
    browser = await launchBrowser();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('picks a folder, LoRA-trains, resumes after a reload from the kept base, evaluates', { timeout: 600_000 }, async () => {
    const w = await openPage(browser, served.url);
    const page = w.page;
    try {
      await page.getByTestId('backend').filter({ hasText: /^backend: webgpu/ }).waitFor({ timeout: 60_000 });
      await page.getByTestId('use-demo').click();
      await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });

      // a folder without tokenizer.json is refused, naming the file
      await page.getByTestId('student-folder').setInputFiles(path.join(dir, 'qwen2-tiny'));
      await page.getByTestId('student-status').filter({ hasText: /tokenizer\.json is missing/ }).waitFor({ timeout: 60_000 });

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
      expect(await page.getByTestId('student-status').innerText()).toMatch(/kept in this browser/);
      expect(await page.getByTestId('lora-target-q_proj').isChecked()).toBe(true);
      expect(await page.getByTestId('lora-target-gate_proj').isChecked()).toBe(false);
      expect(await page.getByTestId('preset').isDisabled()).toBe(true);
      expect(await page.getByTestId('setting-lr').inputValue()).toBe('0.0002');
      await page.getByTestId('setting-lr').fill('0.01');

      await page.getByTestId('steps').fill('4');
      await page.getByTestId('setting-autosaveEvery').fill('1');
      await expect.poll(() => page.getByTestId('train-start').isEnabled(), { timeout: 30_000 }).toBe(true);
      await page.getByTestId('train-start').click();
      await waitFor('step 2', async () => (await readStep(page)) >= 2, 300_000, 250, page);
      await page.getByTestId('train-stop').click();
      await waitFor('stopped', async () => (await trainStatus(page)) === 'stopped', 120_000, 250, page);
      const stoppedAt = await readStep(page);
      const run = page.getByTestId('checkpoint-run').first();
      await run.getByText(/llama-gqa LoRA r8/).waitFor({ timeout: 30_000 });

      await page.reload();
      await page.getByTestId('backend').filter({ hasText: /^backend: webgpu/ }).waitFor({ timeout: 60_000 });
      const newest = page.getByTestId('checkpoint-item').first();
      await waitFor('the stop checkpoint after the reload', async () => (await newest.getAttribute('data-step')) === String(stoppedAt), 60_000);
      await expect.poll(() => newest.getByRole('button', { name: 'Resume' }).isEnabled(), { timeout: 30_000 }).toBe(true);
      await newest.getByRole('button', { name: 'Resume' }).click();
      await waitFor('the resumed run to finish', async () => (await trainStatus(page)) === 'done', 300_000, 250, page);
      expect(await readStep(page)).toBe(4);
      const notes = await page.getByTestId('train-notes').locator('li').allTextContents();
      expect(notes.filter((n) => /checkpoints are off|not kept|pick its model folder/.test(n))).toEqual([]);

      await page.getByTestId('eval-max-tokens').fill('6');
      await page.getByTestId('eval-limit').fill('3');
      await expect.poll(() => page.getByTestId('eval-run').isEnabled(), { timeout: 30_000 }).toBe(true);
      await page.getByTestId('eval-run').click();
      await page.getByTestId('eval-accuracy').filter({ hasText: /%/ }).waitFor({ timeout: 300_000 });
      expect(await bannerText(page)).toBe('');
    } finally {
      await w.context.close();
    }
  });
});
