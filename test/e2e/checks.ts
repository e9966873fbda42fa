// Assertions shared by the browser tests (kept out of harness.ts, which the
// bench imports outside vitest).
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { WatchedPage } from './harness';

/** The page's error banner text, '' when none is shown. */
export async function bannerText(page: Page): Promise<string> {
  const b = page.getByTestId('error-banner');
  return (await b.isVisible()) ? (await b.innerText()) : '';
}

/** No error in the page, in the console or from a CSP violation, and no
 * request beyond the app's origin. */
export async function expectClean(w: WatchedPage): Promise<void> {
  expect(await bannerText(w.page)).toBe('');
  expect(w.problems).toEqual([]);
  expect(w.offOrigin).toEqual([]);
}
