// The comparison of MCC-KD with the baseline in the page (the app's
// Compare section), in a file of its own: the slowest of the app's tests,
// it needs nothing the others leave behind, so it runs beside them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalFile } from './fixtures';
import { artifact, fixture } from './app-helpers';
import { expectClean, servedApp, waitBackend, onWasm } from './checks';
import { axeViolations } from './ux-helpers';
import { ARTIFACTS, chromiumAvailable, openPage } from '../../support/browser';

const available = chromiumAvailable();

describe.skipIf(!available)('app in Chromium (wasm backend): the comparison', () => {
  const app = servedApp();

  // Four runs (two seeds) on wasm; two steps each keep it short.
  it('compares MCC-KD with the baseline over two seeds: both alphas with mean ± sd, the differences seed by seed, and report.md', async () => {
    const c = await openPage(app.browser, onWasm(app.served.url));
    try {
      const p = c.page;
      await waitBackend(p);
      await p.getByTestId('data-file').setInputFiles(artifact('compare', 'e2e-teacher.jsonl', fixture.text));
      await p
        .getByTestId('data-report')
        .getByText(/e2e-teacher\.jsonl/)
        .waitFor({ timeout: 60_000 });
      await p.getByTestId('eval-file').setInputFiles(artifact('compare', 'e2e-eval.jsonl', evalFile()));
      await expect.poll(async () => (await p.getByTestId('eval-name').textContent()) ?? '', { timeout: 30_000 }).toMatch(/3 questions/);
      await p.getByTestId('steps').fill('2');
      await p.getByTestId('setting-batchSize').fill('2'); // small steps keep the test short
      await p.getByTestId('eval-max-tokens').fill('6'); // an untrained student: every answer runs to the limit
      // accuracy checks after each step, on 2 questions: the comparison's accuracy curves
      await p.getByTestId('setting-accuracyEvery').fill('1');
      await p.getByTestId('setting-accuracyQuestions').fill('2');
      await p.getByTestId('setting-accuracyMaxTokens').fill('4');
      await expect.poll(() => p.getByTestId('compare-run').isEnabled(), { timeout: 30_000 }).toBe(true);

      // a bad seeds field says what is wrong and starts nothing
      const seeds = p.getByTestId('compare-seeds');
      await seeds.fill('1, x');
      await p.getByTestId('compare-run').click();
      expect(await p.getByTestId('compare-seeds-error').textContent()).toBe("seeds: 'x' is not a whole number");
      expect(await seeds.getAttribute('aria-invalid')).toBe('true');
      await p.waitForTimeout(500);
      // nothing started: a comparison under way disables its button and the Training's Start
      expect(await p.getByTestId('compare-run').isEnabled()).toBe(true);
      expect(await p.getByTestId('train-start').isEnabled()).toBe(true);
      expect(await p.getByTestId('compare-progress').textContent()).toBe('');
      await seeds.fill('1, 2');
      expect(await p.getByTestId('compare-plan').textContent()).toMatch(/^2 seeds × 2 runs = 4 trainings of 2 steps/);
      expect(await p.getByTestId('compare-seeds-error').isVisible()).toBe(false);

      await p.getByTestId('compare-run').click();
      await p
        .getByTestId('compare-progress')
        .filter({ hasText: /^seed 1 of 2 · MCC-KD: / })
        .waitFor({ timeout: 60_000 });
      await p.getByTestId('compare-summary').waitFor({ timeout: 540_000 });
      expect(await p.getByTestId('compare-progress').textContent()).toBe('4 of 4 runs finished');
      for (const id of ['compare-mcckd-accuracy', 'compare-baseline-accuracy'])
        expect(await p.getByTestId(id).textContent()).toMatch(/^\d+(\.\d+)?%/);
      expect(await p.getByTestId('compare-chart').locator('canvas').count()).toBeGreaterThan(0);
      expect(await p.getByTestId('compare-accuracy-chart').isVisible()).toBe(true);

      const summary = p.getByTestId('compare-summary');
      expect(await summary.locator('thead th').allTextContents()).toEqual(['metric', 'baseline (α = 0)', 'MCC-KD (α = 0.1)']);
      const accuracyRow = await summary.locator('tbody tr').first().locator('th, td').allTextContents();
      expect(accuracyRow[0]).toBe('accuracy (%)');
      for (const cell of accuracyRow.slice(1)) expect(cell).toMatch(/^\d+\.\d ± \d+\.\d$/);
      const paired = p.getByTestId('compare-paired');
      expect(await paired.locator('tbody th[scope="row"]').allTextContents()).toEqual(['seed 1', 'seed 2', 'mean ± sd']);

      const [download] = await Promise.all([p.waitForEvent('download'), p.getByTestId('compare-download-md').click()]);
      expect(download.suggestedFilename()).toBe('report.md');
      const md = readFileSync(await download.path(), 'utf8');
      expect(md).toContain('Alphas 0, 0.1; seeds 1, 2;');
      expect(md).toMatch(/\| seed 1 \| seed 2 \| mean ± sd \|/);
      expect(md.match(/^\| alpha-[\d.]+_seed-[12] \|/gm)).toHaveLength(4);
      const [json] = await Promise.all([p.waitForEvent('download'), p.getByTestId('compare-download-json').click()]);
      const report = JSON.parse(readFileSync(await json.path(), 'utf8')) as {
        format: string;
        runs: { alpha: number; seed: number; evalCurve: { step: number }[] }[];
      };
      expect(report.format).toBe('mcckd-experiment/1');
      expect(report.runs.map((r) => `${r.alpha}/${r.seed}`)).toEqual(['0.1/1', '0/1', '0.1/2', '0/2']);
      // every 1 step of a 2-step run: checks at steps 1 and 2
      expect(report.runs.map((r) => r.evalCurve.map((q) => q.step).join(','))).toEqual(['1,2', '1,2', '1,2', '1,2']);
      expect(await axeViolations(p)).toEqual([]);
      console.log(`[e2e] comparison over 2 seeds:\n${await summary.innerText()}\n${await paired.innerText()}`);
      // for a look, light and dark (the chart takes the theme's colours)
      const section = p.getByTestId('section-compare');
      await section.screenshot({ path: path.join(ARTIFACTS, 'compare.png') });
      await p.emulateMedia({ colorScheme: 'dark' });
      await p.waitForTimeout(300);
      await section.screenshot({ path: path.join(ARTIFACTS, 'compare-dark.png') });
      console.log(`[e2e] screenshots: ${path.join(ARTIFACTS, 'compare.png')}, compare-dark.png`);
      await expectClean(c);
    } finally {
      await c.context.close();
    }
  });
});
