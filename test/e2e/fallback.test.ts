// Backends other than WebGPU, in real Chromium: a browser without WebGPU
// (Chromium started without its SwiftShader adapter and with WebGPU off)
// falls back, says why on the page, and still trains; a backend picked by
// hand is the one the worker uses.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teacherFile } from './fixtures';
import { expectClean } from './checks';
import { chromiumAvailable, launchBrowser, openPage, readStep, serve, writeArtifact, type Served, type WatchedPage } from './harness';

const available = chromiumAvailable();

async function trainTwoSteps(w: WatchedPage): Promise<number[]> {
  const { page } = w;
  await page.getByTestId('data-file').setInputFiles(writeArtifact('e2e-fallback-teacher.jsonl', teacherFile().text));
  await page.getByTestId('data-report').getByText(/e2e-fallback-teacher\.jsonl/).waitFor({ timeout: 60_000 });
  await page.getByTestId('steps').fill('3');
  await expect.poll(() => page.getByTestId('train-start').isEnabled(), { timeout: 10_000 }).toBe(true);
  await page.getByTestId('train-start').click();
  await expect.poll(() => readStep(page), { timeout: 300_000, interval: 500 }).toBeGreaterThanOrEqual(2);
  const hist = JSON.parse((await page.getByTestId('train-loss').getAttribute('data-history')) ?? '[]') as [number, number][];
  return hist.map(([, l]) => l);
}

describe.skipIf(!available)('backend fallback (real Chromium)', () => {
  let served: Served;
  let noGpu: Browser;
  let gpu: Browser;

  beforeAll(async () => {
    served = await serve('preview');
    noGpu = await launchBrowser({ webgpu: false });
    gpu = await launchBrowser();
  });

  afterAll(async () => {
    await noGpu?.close();
    await gpu?.close();
    await served?.close();
  });

  it('without WebGPU the page falls back, shows the reason, and trains', async () => {
    const w = await openPage(noGpu, served.url);
    const badge = w.page.getByTestId('backend');
    await badge.filter({ hasText: /^backend: (webgl|cpu)/ }).waitFor({ timeout: 60_000 });
    const text = (await badge.textContent()) ?? '';
    console.log(`[e2e] without WebGPU: ${text}`);
    expect(text).toMatch(/fell back from webgpu: webgpu: (navigator\.gpu is missing|navigator\.gpu\.requestAdapter\(\) returned no adapter|requestAdapter failed)/);
    expect(await badge.getAttribute('data-backend')).not.toBe('webgpu');
    const losses = await trainTwoSteps(w);
    expect(losses.length).toBeGreaterThanOrEqual(2);
    expect(losses.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
    // the badge still names the fallback after training started
    expect(await badge.getAttribute('data-backend')).toMatch(/^(webgl|cpu)$/);
    await expectClean(w);
    await w.context.close();
  });

  it('a backend picked by hand (cpu) is the one the worker trains on, with no fallback note', async () => {
    const w = await openPage(gpu, served.url);
    await w.page.getByTestId('backend').filter({ hasText: /^backend: / }).waitFor({ timeout: 60_000 });
    await w.page.getByTestId('backend-select').selectOption('cpu');
    const losses = await trainTwoSteps(w);
    expect(losses.length).toBeGreaterThanOrEqual(2);
    const badge = w.page.getByTestId('backend');
    expect(await badge.getAttribute('data-backend')).toBe('cpu');
    expect((await badge.textContent()) ?? '').not.toMatch(/fell back/);
    await expectClean(w);
    await w.context.close();
  });
});
