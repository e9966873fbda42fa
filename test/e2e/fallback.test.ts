// Backends other than WebGPU, in real Chromium: a browser without WebGPU
// (Chromium started without its SwiftShader adapter and with WebGPU off)
// falls back, says why on the page, and still trains; a backend picked by
// hand is the one the worker uses.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teacherFile } from './fixtures';
import { expectClean, waitFor } from './checks';
import {
  chromiumAvailable,
  launchBrowser,
  losses,
  openPage,
  poll,
  readStep,
  serve,
  trainStatus,
  writeArtifact,
  type Served,
  type WatchedPage,
} from '../../support/browser';

const available = chromiumAvailable();

/** Holds back tfjs-backend-webgpu's code (the chunk that uses
 * GPUBufferUsage) until `release()`, so that the page's start-up WebGPU
 * set-up is still going when the user picks another backend and presses
 * Start: the race, made certain. */
async function holdWebGpuCode(context: BrowserContext): Promise<{ held: () => boolean; release: () => void }> {
  let held = false;
  let release = (): void => undefined;
  const released = new Promise<void>((r) => (release = r));
  await context.route(/\/assets\/[^/]+\.js$/, async (route) => {
    const response = await route.fetch();
    const body = await response.text();
    if (body.includes('GPUBufferUsage')) {
      held = true;
      await released;
    }
    await route.fulfill({ response, body });
  });
  return { held: () => held, release };
}

async function trainThreeSteps(w: WatchedPage, afterStart?: () => Promise<void>): Promise<number[]> {
  const { page } = w;
  await page.getByTestId('data-file').setInputFiles(writeArtifact('e2e-fallback-teacher.jsonl', teacherFile().text));
  await page
    .getByTestId('data-report')
    .getByText(/e2e-fallback-teacher\.jsonl/)
    .waitFor({ timeout: 60_000 });
  await page.getByTestId('steps').fill('3');
  await page.getByTestId('setting-batchSize').fill('2'); // small steps: SwiftShader is slow
  await waitFor('Start enabled', () => page.getByTestId('train-start').isEnabled(), 10_000);
  await page.getByTestId('train-start').click();
  await afterStart?.();
  await waitFor('the run to finish', async () => (await trainStatus(page)) === 'done', 300_000, 500, page);
  return (await losses(page)).map(([, l]) => l);
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
    // the chain is webgpu -> webgl -> wasm -> cpu (src/core/backend.ts)
    await badge.filter({ hasText: /^backend: (webgl|wasm)/ }).waitFor({ timeout: 60_000 });
    const text = (await badge.textContent()) ?? '';
    console.log(`[e2e] without WebGPU: ${text}`);
    expect(text).toMatch(
      /fell back from webgpu: webgpu: (navigator\.gpu is missing|navigator\.gpu\.requestAdapter\(\) returned no adapter|requestAdapter failed)/,
    );
    expect(await badge.getAttribute('data-backend')).not.toBe('webgpu');
    const trained = await trainThreeSteps(w);
    expect(trained.length).toBe(3);
    expect(trained.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
    // the badge still names the fallback after training started
    expect(await badge.getAttribute('data-backend')).toMatch(/^(webgl|wasm)$/);
    await expectClean(w);
    await w.context.close();
  });

  it('a backend picked by hand (cpu) is the one the worker trains on, with no fallback note', async () => {
    // Picked, and Start pressed, while the page is still setting up WebGPU
    // (as a quick user would). Overlapping switches once left tfjs on one
    // backend while the worker had recorded the other, and the run failed:
    // now each switch, and then the run, waits for the one before.
    const context = await gpu.newContext();
    const webGpu = await holdWebGpuCode(context);
    const w = await openPage(gpu, served.url, context);
    await w.page.getByTestId('backend-select').selectOption('cpu');
    const trained = await trainThreeSteps(w, async () => {
      await poll(async () => (webGpu.held() ? true : undefined), 60_000, 'the start-up set-up to ask for the WebGPU code').finally(() => {
        if (!webGpu.held()) webGpu.release();
      });
      // The run must not begin (no model announced, no step) while the
      // start-up switch is under way. 5 s is the window we watch, not a
      // speed: without the fix the cpu model is announced within it.
      const startedWhileHeld = await poll(
        async () => ((await w.page.getByTestId('train-model').textContent()) !== '–' || (await readStep(w.page)) >= 1 ? true : undefined),
        5000,
        'the run to begin',
      ).then(
        () => true,
        () => false,
      );
      webGpu.release();
      expect(startedWhileHeld).toBe(false);
    });
    expect(trained.length).toBe(3);
    expect(await w.page.getByTestId('train-notes').innerText()).toMatch(/Training: model ready in .* on cpu/);
    const badge = w.page.getByTestId('backend');
    expect(await badge.getAttribute('data-backend')).toBe('cpu');
    expect(await badge.textContent()).toBe('backend: cpu'); // no GPU adapter, no fallback
    await expectClean(w);
    await w.context.close();
  });
});
