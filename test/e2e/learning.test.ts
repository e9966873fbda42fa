// Learning made visible in the page (issue 14, items 2 and 3): accuracy
// checks on a few held-out questions while training, charted next to the
// loss, and the consistency of sampled explanations in the evaluation.
// A short run on wasm: the tiny model, 4 steps, 4 questions, short answers.

import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { expectClean, servedApp, waitFor, onWasm } from './checks';
import path from 'node:path';
import { ARTIFACTS, chromiumAvailable, CHROMIUM, openPage, screenshot, trainStatus } from '../../support/browser';

const available = chromiumAvailable();
if (!available) console.warn(`[e2e] skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

interface Point {
  step: number;
  accuracy: number;
  correct: number;
  total: number;
}

async function points(page: Page): Promise<Point[]> {
  return JSON.parse((await page.getByTestId('train-accuracy').getAttribute('data-points')) ?? '[]') as Point[];
}

async function memory(page: Page): Promise<{ numTensors: number }> {
  return page.evaluate(() =>
    (window as unknown as { mcckdDiagnostics: { memory(): Promise<{ numTensors: number }> } }).mcckdDiagnostics.memory(),
  );
}

describe.skipIf(!available)('learning made visible', () => {
  const app = servedApp();

  it('charts accuracy every 2 steps while training; the evaluation shows the consistency of 2 sampled explanations', async () => {
    const w = await openPage(app.browser, onWasm(`${app.served.url}?diagnostics`));
    const page = w.page;
    try {
      await page
        .getByTestId('backend')
        .filter({ hasText: /^backend: (webgpu|webgl|wasm|cpu)/ })
        .waitFor({ timeout: 60_000 });
      await page.getByTestId('use-demo').click();
      await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
      await waitFor(
        'the demo evaluation file',
        async () => /\d+ questions/.test((await page.getByTestId('eval-name').textContent()) ?? ''),
        60_000,
        250,
        page,
      );

      await page.getByTestId('preset').selectOption('tiny');
      await page.getByTestId('length-mode').selectOption('steps');
      await page.getByTestId('steps').fill('4');
      await page.getByTestId('setting-batchSize').fill('4');
      await page.getByTestId('setting-autosaveEvery').fill('0');
      await page.getByTestId('setting-accuracyEvery').fill('2');
      await page.getByTestId('setting-accuracyQuestions').fill('4');
      await page.getByTestId('setting-accuracyMaxTokens').fill('12');
      await waitFor('Start enabled', () => page.getByTestId('train-start').isEnabled(), 60_000, 250, page);
      await page.getByTestId('train-start').click();
      await waitFor('the run to finish', async () => (await trainStatus(page)) === 'done', 400_000, 250, page);

      // two checks, after steps 2 and 4, on the first 4 questions of the evaluation file
      await waitFor('two accuracy points', async () => (await points(page)).length >= 2, 30_000, 250, page);
      const pts = await points(page);
      console.log(`[e2e] accuracy while training: ${JSON.stringify(pts)}`);
      expect(pts.map((p) => p.step)).toEqual([2, 4]);
      for (const p of pts) {
        expect(p.total).toBe(4);
        expect(Number.isInteger(p.correct) && p.correct >= 0 && p.correct <= 4).toBe(true);
        expect(p.accuracy).toBeCloseTo(p.correct / p.total, 10);
      }
      const last = pts[1];
      expect(await page.getByTestId('train-accuracy').textContent()).toBe(
        `${(100 * last.accuracy).toFixed(1)}% (${last.correct} of 4) at step 4`,
      );
      const chart = page.getByTestId('chart-accuracy');
      expect(await chart.locator('figcaption').textContent()).toMatch(/Accuracy on held-out questions/);
      expect(await chart.locator('.visually-hidden').textContent()).toBe(
        `Step 4: accuracy (%) ${Number((100 * last.accuracy).toPrecision(4))}.`,
      );

      // the evaluation with 2 sampled explanations per question
      await page.getByTestId('eval-limit').fill('4');
      await page.getByTestId('eval-max-tokens').fill('12');
      await page.getByTestId('eval-consistency').check();
      await page.getByTestId('eval-samples-count').fill('2');
      const before = await memory(page);
      await waitFor('Evaluate enabled', () => page.getByTestId('eval-run').isEnabled(), 30_000, 250, page);
      await page.getByTestId('eval-run').click();
      const block = page.getByTestId('eval-consistency-result');
      await block.waitFor({ timeout: 300_000 });
      const v = JSON.parse((await block.getAttribute('data-values')) ?? '{}') as Record<string, number | null>;
      console.log(`[e2e] consistency: ${JSON.stringify(v)}`);
      expect(v.questions).toBe(4);
      expect(v.samples).toBe(2);
      // with 2 samples a question agrees by 1/2 or 2/2, or 0 when neither answers
      for (const k of ['agreement', 'majorityAccuracy', 'sampleAccuracy', 'greedyAccuracy'] as const) {
        expect(v[k]).toBeGreaterThanOrEqual(0);
        expect(v[k]).toBeLessThanOrEqual(1);
      }
      if (v.answerKL !== null) expect(v.answerKL).toBeGreaterThanOrEqual(0);
      const accuracy = (await page.getByTestId('eval-accuracy').textContent()) ?? '';
      const greedy = /\((\d+) of 4,/.exec(accuracy);
      expect(greedy, accuracy).not.toBeNull();
      expect(v.greedyAccuracy).toBeCloseTo(Number(greedy![1]) / 4, 10);
      const text = await block.innerText();
      for (const name of ['Agreement', 'Majority-vote accuracy', 'Sample accuracy', 'Greedy accuracy', 'Answer KL'])
        expect(text).toContain(name);
      // the trainer's evaluation and sampling free what they make
      expect((await memory(page)).numTensors).toBe(before.numTensors);
      console.log(`[e2e] screenshot: ${await screenshot(page, 'learning-page.png')}`);
      // the two sections at full size, to be looked at
      for (const id of ['training', 'evaluation'])
        await page.getByTestId(`section-${id}`).screenshot({ path: path.join(ARTIFACTS, `learning-${id}.png`) });
      await expectClean(w);
    } finally {
      await w.context.close();
    }
  });
});
