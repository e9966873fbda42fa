// The page by keyboard only (issue 15): see ux.test.ts.
import { describe, expect, it } from 'vitest';
import { expectClean, servedApp, waitBackend, waitFor, onWasm } from './checks';
import { open, STEPS } from './ux-page';
import { chromiumAvailable, screenshot, trainStatus } from '../../support/browser';

const available = chromiumAvailable();
describe.skipIf(!available)('the page as a person meets it: keyboard only', () => {
  const app = servedApp();

  // Keyboard only: every action from the demo data to a finished evaluation
  // is reached with Tab (the order the page gives) and pressed with Enter;
  // numbers are typed. No click, no focus() call.
  it('keyboard only: Use demo data, set the length, Start, wait, Evaluate, read the result', { timeout: 400_000 }, async () => {
    const w = await open(app.browser, onWasm(app.served.url), { width: 1280, height: 800 });
    const page = w.page;
    try {
      await waitBackend(page);
      const visited: string[] = [];
      // Tab forward until the element with this test id has focus; fails
      // when it is not in the tab order (after a full round of the page).
      const tabTo = async (testid: string): Promise<void> => {
        for (let i = 0; i < 250; i++) {
          await page.keyboard.press('Tab');
          const at = await page.evaluate(
            () => (document.activeElement as HTMLElement | null)?.dataset.testid ?? document.activeElement?.tagName ?? '',
          );
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
      await typeInto('setting-batchSize', '2'); // small steps keep the test short
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
