// The page as a person meets it (issue 15): feedback from the moment Start
// is pressed, a phone layout that never scrolls sideways, a Pause that
// answers at once, settings that don't overlap, and no axe-core violations.
// Screenshots of every state go to test-artifacts/ux-*.png, to be looked at.
// Runs are tiny (3 steps of the tiny model): SwiftShader is slow.

import type { Browser, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { expectClean, servedApp, waitBackend, waitFor } from './checks';
import { axeViolations, maxOverflow, notInView, recordStatus, settingsOverlaps, sidewaysOverflow, statusHistory, stepOf, watchWidth } from './ux-helpers';
import { chromiumAvailable, CHROMIUM, openPage, readStep, screenshot, trainStatus, type WatchedPage } from '../../support/browser';

const available = chromiumAvailable();
if (!available) console.warn(`[e2e] skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

const STEPS = 3;

async function useDemo(page: Page): Promise<void> {
  await page.getByTestId('use-demo').click();
  await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
  await waitFor('Start enabled', () => page.getByTestId('train-start').isEnabled(), 60_000, 250, page);
}

async function open(browser: Browser, url: string, viewport: { width: number; height: number }, mobile = false): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport, ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
  return openPage(browser, url, context);
}

async function expectNoSidewaysScroll(page: Page, when: string): Promise<void> {
  const o = await sidewaysOverflow(page);
  expect(o.overflow, `${when}: the page scrolls ${o.overflow} px sideways (widest: ${o.widest})`).toBe(0);
}

async function expectAxeClean(page: Page, when: string): Promise<void> {
  const v = await axeViolations(page);
  expect(v, `axe-core, ${when}`).toEqual([]);
}

describe.skipIf(!available)('the page as a person meets it', () => {
  const app = servedApp();

  it('desktop: no overlapping settings; a status within a second of Start and before step 1; axe-core clean loaded, trained, evaluated, dark, classroom', async () => {
    const w = await open(app.browser, app.served.url, { width: 1280, height: 800 });
    const page = w.page;
    try {
      await waitBackend(page);
      await expectAxeClean(page, 'first load');
      // The keyboard focus ring stands out from the card (3:1 at least).
      await page.getByTestId('use-demo').focus();
      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Tab');
      const ring = await page.getByTestId('use-demo').evaluate((b) => {
        const lum = (c: string): number => {
          const [r, g, bl] = (c.match(/\d+(\.\d+)?/g) ?? ['0', '0', '0']).slice(0, 3).map((x) => Number(x) / 255).map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
          return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
        };
        const outline = getComputedStyle(b).outlineColor;
        const card = getComputedStyle(b.closest('.card') as Element).backgroundColor;
        const [hi, lo] = [lum(outline), lum(card)].sort((x, y) => y - x);
        return { outline, card, style: getComputedStyle(b).outlineStyle, ratio: (hi + 0.05) / (lo + 0.05) };
      });
      expect(ring.style, JSON.stringify(ring)).toBe('solid');
      expect(ring.ratio, JSON.stringify(ring)).toBeGreaterThanOrEqual(3);
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-desktop-first-load.png')}`);
      await useDemo(page);
      expect(await settingsOverlaps(page)).toEqual([]);
      await page.getByTestId('steps').fill(String(STEPS));
      await page.getByTestId('section-settings').screenshot({ path: 'test-artifacts/ux-desktop-settings.png' });

      await recordStatus(page, 'train-start');
      await page.getByTestId('train-start').click();
      await waitFor('step 1', async () => (await readStep(page)) >= 1, 300_000, 100, page);
      const { clickAt, records } = await statusHistory(page);
      console.log(`[ux] status after Start: ${records.map((r) => `+${Math.round(r.t - (clickAt ?? 0))} ms "${r.status}" (${r.step})`).join(' → ')}`);
      expect(clickAt).toBeDefined();
      // The first new status comes from the click itself (no worker round
      // trip): within a second even on a loaded machine.
      const first = records.find((r) => r.t >= (clickAt as number) && r.status !== records[0].status);
      expect(first, 'a status after the click').toBeDefined();
      expect(first!.t - (clickAt as number)).toBeLessThan(1000);
      expect(stepOf(first!.step)).toBe(0);
      // Before the first step, the page says what it waits for.
      const waiting = records.find((r) => /first step/.test(r.status));
      expect(waiting, 'a "first step" status').toBeDefined();
      expect(stepOf(waiting!.step)).toBe(0);

      await waitFor('done', async () => (await trainStatus(page)) === 'done', 300_000, 250, page);
      await expect.poll(() => page.getByTestId('eval-run').isEnabled(), { timeout: 30_000 }).toBe(true);
      await page.waitForTimeout(300); // charts draw on the next frame
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-desktop-trained.png')}`);
      await page.getByTestId('section-training').screenshot({ path: 'test-artifacts/ux-desktop-training.png' });
      await expectAxeClean(page, 'after training');

      await page.getByTestId('eval-limit').fill('2');
      await page.getByTestId('eval-max-tokens').fill('8');
      await page.getByTestId('eval-run').click();
      await page.getByTestId('eval-accuracy').filter({ hasText: /%/ }).waitFor({ timeout: 240_000 });
      await page.getByTestId('section-evaluation').screenshot({ path: 'test-artifacts/ux-desktop-evaluation.png' });
      await expectAxeClean(page, 'after evaluation');

      await page.emulateMedia({ colorScheme: 'dark' });
      await page.waitForTimeout(200);
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-dark.png')}`);
      await expectAxeClean(page, 'dark theme');
      await page.emulateMedia({ colorScheme: 'light' });

      // The classroom as a projector shows it: one accuracy check of two
      // questions after step 2 (and one more at the last step).
      await page.getByTestId('setting-accuracyEvery').fill('2');
      await page.getByTestId('setting-accuracyQuestions').fill('2');
      await page.getByTestId('setting-accuracyMaxTokens').fill('8');
      await page.setViewportSize({ width: 1024, height: 768 });
      await page.getByTestId('classroom-run').click();
      await page.getByTestId('classroom-bars').locator('.bar-row').first().waitFor({ timeout: 300_000 });
      await waitFor('a classroom step', async () => /^[1-9]\d* \/ \d+$/.test((await page.getByTestId('classroom-step').textContent()) ?? ''), 300_000, 250, page);
      await page.waitForTimeout(800); // bars glide to their widths
      await page.screenshot({ path: 'test-artifacts/ux-classroom-1024-running.png' });
      await waitFor('the classroom run to end', async () => page.getByTestId('classroom-run').isEnabled(), 300_000, 250, page);
      await page.waitForTimeout(800);
      expect(await page.getByTestId('classroom-step').textContent()).toBe(`${STEPS} / ${STEPS}`);
      // The correct answer is marked in words, whether or not it is a top token.
      const correct = page.getByTestId('classroom-correct-row');
      expect(await correct.count()).toBe(1);
      expect(await correct.innerText()).toMatch(/✓ correct/);
      expect(await correct.getAttribute('aria-label')).toMatch(/\(the correct answer\): \d+(\.\d)?% after A, \d+(\.\d)?% after B$/);
      expect(await page.getByTestId('classroom-bars').innerText()).not.toContain('\uFFFD');
      // The agreement: a gauge with a value, and words.
      const gauge = page.getByTestId('classroom-gauge');
      const value = Number(await gauge.getAttribute('aria-valuenow'));
      expect(value).toBeGreaterThan(0);
      expect(value).toBeLessThanOrEqual(100);
      expect(await gauge.getAttribute('aria-valuetext')).toMatch(/^\d+(\.\d)?%: (strongly|mostly|partly) (agree|disagree)$/);
      const words = (await page.getByTestId('classroom-agreement').textContent()) ?? '';
      expect(words).toMatch(/^They (strongly|mostly|partly) (agree|disagree)$/);
      expect(Number(await page.getByTestId('classroom-kl').textContent())).toBeGreaterThanOrEqual(0);
      const accuracy = (await page.getByTestId('classroom-accuracy-now').textContent()) ?? '';
      expect(accuracy).toMatch(/^Right answers on 2 test questions: \d+% \(step 3\)$/);
      console.log(`[ux] classroom: ${await page.getByTestId('classroom-status').textContent()}; gauge ${value}% "${words}" "${await page.getByTestId('classroom-agreement-caveat').textContent()}"; "${accuracy}"; correct row "${await correct.getAttribute('aria-label')}"`);
      // What the room must read, without scrolling, on a 1024x768 projector and at 1280x800.
      const mustSee = ['[data-testid="classroom-step"]', '[data-testid="classroom-question"]', '.cls-rationale.a', '.cls-rationale.b', '[data-testid="classroom-bars"]', '[data-testid="classroom-gauge"]', '[data-testid="classroom-agreement"]', '[data-testid="classroom-accuracy-now"]'];
      expect(await page.evaluate(() => scrollY)).toBe(0);
      expect(await notInView(page, mustSee), '1024x768').toEqual([]);
      await expectNoSidewaysScroll(page, 'classroom view at 1024x768');
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-classroom-1024.png')}`);
      await page.screenshot({ path: 'test-artifacts/ux-classroom-1024-viewport.png' });
      await expectAxeClean(page, 'classroom view');
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.waitForTimeout(300);
      expect(await notInView(page, mustSee), '1280x800').toEqual([]);
      await page.screenshot({ path: 'test-artifacts/ux-classroom-1280-viewport.png' });
      await page.setViewportSize({ width: 1024, height: 768 });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.waitForTimeout(300);
      await page.screenshot({ path: 'test-artifacts/ux-classroom-dark-viewport.png' });
      await expectAxeClean(page, 'classroom view, dark theme');
      await page.emulateMedia({ colorScheme: 'light' });
      await expectClean(w);
    } finally {
      await w.context.close();
    }
  });

  it('phone (390x844): never scrolls sideways before, during and after training or in the classroom view; Pause says "pausing…" at once', async () => {
    const w = await open(app.browser, app.served.url, { width: 390, height: 844 }, true);
    const page = w.page;
    try {
      await waitBackend(page);
      await expectNoSidewaysScroll(page, 'first load');
      await watchWidth(page);
      await useDemo(page);
      await expectNoSidewaysScroll(page, 'after the demo data');
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-phone-loaded.png')}`);
      await page.getByTestId('steps').fill(String(STEPS));

      // By keyboard: the Start button disables itself, and focus must not
      // fall to <body> (the next Tab would start again at the top).
      await page.getByTestId('train-start').focus();
      await page.keyboard.press('Enter');
      await waitFor('the first step under way', async () => /first step/.test(await trainStatus(page)), 120_000, 100, page);
      await page.waitForTimeout(300);
      await expectNoSidewaysScroll(page, 'before the first step');
      expect(await page.evaluate(() => document.activeElement?.tagName)).not.toBe('BODY');
      await page.getByTestId('section-training').screenshot({ path: 'test-artifacts/ux-phone-first-step.png' });
      await waitFor('step 1', async () => (await readStep(page)) >= 1, 300_000, 100, page);

      await page.getByTestId('train-pause').click();
      // At once, before the worker has finished its step.
      expect(await trainStatus(page)).toMatch(/^pausing…/);
      expect(await page.getByTestId('train-pause').isDisabled()).toBe(true);
      await waitFor('paused', async () => (await trainStatus(page)).startsWith('paused'), 120_000, 100, page);
      expect(await page.getByTestId('train-eta').textContent()).toMatch(/paused/);
      await expectNoSidewaysScroll(page, 'paused');
      // Stop is whole and on screen.
      const stop = await page.getByTestId('train-stop').evaluate((b) => ({ right: b.getBoundingClientRect().right + scrollX, cut: b.scrollWidth > b.clientWidth, text: b.textContent }));
      expect(stop.cut, JSON.stringify(stop)).toBe(false);
      expect(stop.right, JSON.stringify(stop)).toBeLessThanOrEqual(390);
      await page.getByTestId('section-training').screenshot({ path: 'test-artifacts/ux-phone-paused.png' });

      await page.getByTestId('train-resume').click();
      await waitFor('done', async () => (await trainStatus(page)) === 'done', 300_000, 250, page);
      await page.waitForTimeout(300);
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-phone-trained.png')}`);
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

  // Keyboard only: every action from the demo data to a finished evaluation
  // is reached with Tab (the order the page gives) and pressed with Enter;
  // numbers are typed. No click, no focus() call.
  it('keyboard only: Use demo data, set the length, Start, wait, Evaluate, read the result', { timeout: 400_000 }, async () => {
    const w = await open(app.browser, app.served.url, { width: 1280, height: 800 });
    const page = w.page;
    try {
      await waitBackend(page);
      const visited: string[] = [];
      // Tab forward until the element with this test id has focus; fails
      // when it is not in the tab order (after a full round of the page).
      const tabTo = async (testid: string): Promise<void> => {
        for (let i = 0; i < 250; i++) {
          await page.keyboard.press('Tab');
          const at = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.testid ?? document.activeElement?.tagName ?? '');
          if (at === testid) {
            visited.push(`${testid} (${i + 1} Tab)`);
            return;
          }
        }
        throw new Error(`${testid} is not reachable with Tab`);
      };
      const typeInto = async (testid: string, text: string): Promise<void> => {
        await tabTo(testid);
        await page.keyboard.press('Control+A');
        await page.keyboard.type(text);
      };

      await tabTo('use-demo');
      await page.keyboard.press('Enter');
      await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
      await typeInto('steps', String(STEPS));
      await typeInto('setting-batchSize', '8');
      await tabTo('train-start');
      await waitFor('Start enabled', () => page.getByTestId('train-start').isEnabled(), 60_000, 250, page);
      await page.keyboard.press('Enter');
      await waitFor('the run to finish', async () => (await trainStatus(page)) === 'done', 300_000, 250, page);
      // focus stayed on the page (a disabled button must not drop it to <body>)
      expect(await page.evaluate(() => document.activeElement?.tagName)).not.toBe('BODY');

      await typeInto('eval-limit', '3');
      await typeInto('eval-max-tokens', '12');
      await tabTo('eval-run');
      await page.keyboard.press('Enter');
      await page.getByTestId('eval-accuracy').filter({ hasText: /%/ }).waitFor({ timeout: 180_000 });
      const result = (await page.getByTestId('eval-accuracy').textContent()) ?? '';
      expect(result).toMatch(/\d+(\.\d+)?%.*of 3/);
      console.log(`[ux] keyboard only: ${visited.join(' → ')}; evaluation: ${result}`);
      console.log(`[ux] screenshot: ${await screenshot(page, 'ux-keyboard-evaluated.png')}`);
      await expectClean(w);
    } finally {
      await w.context.close();
    }
  });
});
