// The ux tests' common steps (ux.test.ts, ux-phone.test.ts,
// ux-keyboard.test.ts: one file per person, so they run side by side).
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { waitFor } from './checks';
import { axeViolations, sidewaysOverflow } from './ux-helpers';
import { openPage, type WatchedPage } from '../../support/browser';

/** Runs are tiny (3 steps of the tiny model): these tests check the page, not learning. */
export const STEPS = 3;

export async function useDemo(page: Page): Promise<void> {
  await page.getByTestId('use-demo').click();
  await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
  // batch 2: these tests check the page, not learning
  await page.getByTestId('setting-batchSize').fill('2');
  await waitFor('Start enabled', () => page.getByTestId('train-start').isEnabled(), 60_000, 250, page);
}

export async function open(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number },
  mobile = false,
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport, ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
  return openPage(browser, url, context);
}

export async function expectNoSidewaysScroll(page: Page, when: string): Promise<void> {
  const o = await sidewaysOverflow(page);
  expect(o.overflow, `${when}: the page scrolls ${o.overflow} px sideways (widest: ${o.widest})`).toBe(0);
}

export async function expectAxeClean(page: Page, when: string): Promise<void> {
  const v = await axeViolations(page);
  expect(v, `axe-core, ${when}`).toEqual([]);
}
