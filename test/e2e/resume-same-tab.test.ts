// Resume right after a run ends, in the same tab and on the same stored run
// (no reload between): the run's Web Lock is released when the model in
// memory is dropped and taken again by the resume, whose checkpoints must
// stay on and go to the same stored run. (Here the release was always done
// in time, with or without lockRun's wait; the wait is a safeguard.)
import { describe, expect, it } from 'vitest';
import { bannerText, servedApp, waitFor, onWasm } from './checks';
import { chromiumAvailable, openPage, readStep, trainStatus } from '../../support/browser';

const available = chromiumAvailable();
const STEPS = 30;

describe.skipIf(!available)('resume in the same tab', () => {
  const app = servedApp();

  it('resuming the run just trained keeps its checkpoints on (its lock is handed back in time)', { timeout: 400_000 }, async () => {
    const w = await openPage(app.browser, onWasm(app.served.url));
    const page = w.page;
    try {
      await page
        .getByTestId('backend')
        .filter({ hasText: /^backend: wasm/ })
        .waitFor({ timeout: 60_000 });
      await page.getByTestId('use-demo').click();
      await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
      await expect.poll(() => page.getByTestId('train-start').isEnabled(), { timeout: 30_000 }).toBe(true);
      // enough steps that Stop comes mid-run however fast the machine
      await page.getByTestId('steps').fill(String(STEPS));
      await page.getByTestId('setting-batchSize').fill('2'); // small steps keep the test short
      await page.getByTestId('setting-autosaveEvery').fill('5');
      await page.getByTestId('train-start').click();
      await waitFor('step 2', async () => (await readStep(page)) >= 2, 240_000, 250, page);
      await page.getByTestId('train-stop').click();
      await waitFor('stopped', async () => (await trainStatus(page)) === 'stopped', 120_000, 250, page);
      const stoppedAt = await readStep(page);
      const newest = page.getByTestId('checkpoint-item').first();
      await waitFor('the stop checkpoint in the list', async () => (await newest.getAttribute('data-step')) === String(stoppedAt), 30_000);
      expect(await newest.locator('.ckpt-label').textContent()).toContain(`step ${stoppedAt} · stopped early`);
      await expect.poll(() => newest.getByRole('button', { name: 'Resume' }).isEnabled(), { timeout: 30_000 }).toBe(true);
      await newest.getByRole('button', { name: 'Resume' }).click();
      await waitFor('the resumed run to finish', async () => (await trainStatus(page)) === 'done', 240_000, 250, page);
      const notes = await page.getByTestId('train-notes').locator('li').allTextContents();
      expect(notes.filter((n) => /checkpoints are off|another tab/.test(n))).toEqual([]);
      // the resumed run saved into the same stored run: one run in the list
      expect(await page.getByTestId('checkpoint-run').count()).toBe(1);
      expect(await bannerText(page)).toBe('');
      // the checkpoint written when the run ended is its final model, not a "stop"
      const last = page.getByTestId('checkpoint-item').first();
      await waitFor('the final checkpoint in the list', async () => (await last.getAttribute('data-step')) === String(STEPS), 30_000);
      expect(await last.locator('.ckpt-label').textContent()).toContain(`step ${STEPS} · final`);
    } finally {
      await w.context.close();
    }
  });
});
