// The page on a phone (issue 15): see ux.test.ts.
import { describe, expect, it } from 'vitest';
import { expectClean, servedApp, waitBackend, waitFor, onWasm } from './checks';
import { maxOverflow, watchWidth } from './ux-helpers';
import { expectNoSidewaysScroll, open, useDemo } from './ux-page';
import { chromiumAvailable, readStep, screenshot, trainStatus } from '../../support/browser';

const available = chromiumAvailable();
describe.skipIf(!available)('the page as a person meets it: a phone', () => {
  const app = servedApp();

  it('phone (390x844): never scrolls sideways before, during and after training or in the classroom view; Pause says "pausing…" at once', async () => {
    const w = await open(app.browser, onWasm(app.served.url), { width: 390, height: 844 }, true);
    const page = w.page;
    try {
      await waitBackend(page);
      await expectNoSidewaysScroll(page, 'first load');
      await watchWidth(page);
      await useDemo(page);
      await expectNoSidewaysScroll(page, 'after the demo data');
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-phone-loaded.png')}`);
      // Issue 26 item 9: every main tap target at least 44 px; a radio's or a
      // file input's hit area is its label (a label's tap works its input).
      const targets = await page.evaluate(() => {
        const sel = [
          '[data-testid="use-demo"]',
          'label.file-button[for]',
          '[data-testid="section-student"] .inline > input[type="radio"] + label',
          '[data-testid="steps"]',
          '[data-testid="setting-batchSize"]',
          '.training button',
          '[data-testid="train-more-steps"]',
          '[data-testid="eval-run"]',
        ];
        return sel.flatMap((q) =>
          [...document.querySelectorAll<HTMLElement>(q)]
            .filter((e) => e.offsetParent !== null)
            .map((e) => {
              const r = e.getBoundingClientRect();
              return {
                q,
                what: e.dataset.testid ?? e.textContent?.trim().slice(0, 30) ?? '',
                w: Math.round(r.width),
                h: Math.round(r.height),
              };
            }),
        );
      });
      console.log(`[ux] phone tap targets: ${targets.map((t) => `${t.what} ${t.w}x${t.h}`).join(', ')}`);
      expect(targets.length).toBeGreaterThanOrEqual(14);
      expect(targets.filter((t) => t.h < 44 || t.w < 44)).toEqual([]);
      // Curation counts stay whole (one line box each), and a phone is not told to drop files.
      const broken = await page.evaluate(() =>
        [...document.querySelectorAll('[data-testid="data-report"] .counts td.num')]
          .filter((td) => {
            const range = document.createRange();
            range.selectNodeContents(td);
            return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1;
          })
          .map((td) => td.textContent),
      );
      expect(broken).toEqual([]);
      // biome-ignore lint/performance/useDomNodeTextContent: the words shown only (the other pointer's are display: none)
      expect(await page.getByTestId('dropzone').locator('.drop-hint').innerText()).not.toMatch(/drop/i);
      await page.getByTestId('section-data').screenshot({ path: 'test-artifacts/ux-phone-data.png' });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.getByTestId('section-data').screenshot({ path: 'test-artifacts/ux-phone-data-dark.png' });
      await page.emulateMedia({ colorScheme: 'light' });
      // long enough to pause mid-run however fast the machine; stopped below
      await page.getByTestId('steps').fill('1000');

      // By keyboard: the Start button disables itself, and focus must not
      // fall to <body> (the next Tab would start again at the top).
      await page.getByTestId('train-start').focus();
      await page.keyboard.press('Enter');
      // "first step" can last less than a poll on wasm (a clean-clone run saw
      // the run go from it to "running" between two polls): under way is
      // either that status, "running", or a step done
      await waitFor(
        'the run under way',
        async () => /first step|running/.test(await trainStatus(page)) || (await readStep(page)) >= 1,
        120_000,
        100,
        page,
      );
      await page.waitForTimeout(300);
      await expectNoSidewaysScroll(page, 'as the run starts');
      expect(await page.evaluate(() => document.activeElement?.tagName)).not.toBe('BODY');
      await page.getByTestId('section-training').screenshot({ path: 'test-artifacts/ux-phone-first-step.png' });
      await waitFor('step 1', async () => (await readStep(page)) >= 1, 300_000, 100, page);

      await page.getByTestId('train-pause').click();
      // At once: "pausing…" until the worker ends its step, or already
      // "paused" where a step takes milliseconds (wasm), never "running"
      expect(await trainStatus(page)).toMatch(/^paus(ing…|ed)/);
      expect(await page.getByTestId('train-pause').isDisabled()).toBe(true);
      await waitFor('paused', async () => (await trainStatus(page)).startsWith('paused'), 120_000, 100, page);
      expect(await page.getByTestId('train-eta').textContent()).toMatch(/paused/);
      await expectNoSidewaysScroll(page, 'paused');
      // Stop is whole and on screen.
      const stop = await page
        .getByTestId('train-stop')
        .evaluate((b) => ({ right: b.getBoundingClientRect().right + scrollX, cut: b.scrollWidth > b.clientWidth, text: b.textContent }));
      expect(stop.cut, JSON.stringify(stop)).toBe(false);
      expect(stop.right, JSON.stringify(stop)).toBeLessThanOrEqual(390);
      await page.getByTestId('section-training').screenshot({ path: 'test-artifacts/ux-phone-paused.png' });
      await page.locator('.training > .buttons').first().screenshot({ path: 'test-artifacts/ux-phone-training-buttons.png' });

      const pausedAt = await readStep(page);
      await page.getByTestId('train-resume').click();
      await waitFor('a step after the resume', async () => (await readStep(page)) > pausedAt, 300_000, 100, page);
      await page.getByTestId('train-stop').click();
      await waitFor('stopped', async () => (await trainStatus(page)) === 'stopped', 300_000, 250, page);
      await page.waitForTimeout(300);
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-phone-trained.png')}`);
      await page.getByTestId('section-checkpoints').screenshot({ path: 'test-artifacts/ux-phone-saved-runs.png' });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.getByTestId('section-checkpoints').screenshot({ path: 'test-artifacts/ux-phone-saved-runs-dark.png' });
      await page.emulateMedia({ colorScheme: 'light' });
      await expectNoSidewaysScroll(page, 'after training');
      const during = await maxOverflow(page);
      expect(during.overflow, `the page scrolled sideways during training (${during.when})`).toBe(0);

      await page.getByTestId('classroom-run').click();
      await page.getByTestId('classroom-bars').locator('.bar-row').first().waitFor({ timeout: 300_000 });
      await page.waitForTimeout(800);
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-phone-classroom.png')}`);
      await expectNoSidewaysScroll(page, 'classroom view');
      expect(await page.evaluate(() => document.documentElement.scrollWidth), 'document width').toBe(390);
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.waitForTimeout(300);
      await page.screenshot({ path: 'test-artifacts/ux-phone-classroom-dark.png' });
      await expectNoSidewaysScroll(page, 'classroom view, dark');
      await page.emulateMedia({ colorScheme: 'light' });
      await page.getByTestId('classroom-stop').click();
      await waitFor('the classroom run to end', async () => page.getByTestId('classroom-run').isEnabled(), 300_000, 250, page);
      const all = await maxOverflow(page);
      expect(all.overflow, `the page scrolled sideways (${all.when})`).toBe(0);
      await expectClean(w);
    } finally {
      await w.context.close();
    }
  });
});
