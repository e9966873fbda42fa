// Assertions shared by the browser tests (kept out of support/browser.ts,
// which the bench imports outside vitest).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { launchBrowser, poll, serve, type Served, type WatchedPage } from '../../support/browser';

/** The built app served (vite preview) and one headless Chromium, for the
 * tests of one describe block: started before them, closed after. */
export function servedApp(): { served: Served; browser: Browser } {
  const app = {} as { served: Served; browser: Browser };
  beforeAll(async () => {
    app.served = await serve('preview');
    app.browser = await launchBrowser();
  });
  afterAll(async () => {
    await app.browser?.close();
    await app.served?.close();
  });
  return app;
}

/** The page's link on the wasm backend (`?backend=wasm`), for the tests of
 * the page's flow: there SwiftShader's WebGPU (a CPU emulating a GPU,
 * seconds a step) would only slow them. WebGPU in the page has tests of its
 * own: app, pretrained, device-loss and fallback. */
export function onWasm(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}backend=wasm`;
}

/** Until the worker's backend badge names the backend it got. */
export async function waitBackend(page: Page): Promise<void> {
  await page
    .getByTestId('backend')
    .filter({ hasText: /^backend: (webgpu|webgl|wasm|cpu)/ })
    .waitFor({ timeout: 60_000 });
}

/** The page's error banner text, '' when none is shown. */
export async function bannerText(page: Page): Promise<string> {
  const b = page.getByTestId('error-banner');
  return (await b.isVisible()) ? await b.innerText() : '';
}

/** No error in the page, in the console or from a CSP violation, and no
 * request beyond the app's origin. */
export async function expectClean(w: WatchedPage): Promise<void> {
  expect(await bannerText(w.page)).toBe('');
  expect(w.problems).toEqual([]);
  expect(w.offOrigin).toEqual([]);
}

/** What the page shows, for a failure message. */
export async function pageState(page: Page): Promise<string> {
  const text = async (id: string): Promise<string> =>
    (
      await page
        .getByTestId(id)
        .innerText({ timeout: 2000 })
        .catch(() => '?')
    ).trim();
  return [
    `status: ${await text('train-status')}; step: ${await text('train-step')}; backend: ${await text('backend')}`,
    `notes: ${(await text('train-notes')).replace(/\n/g, ' | ')}`,
    `errors: ${(await bannerText(page).catch(() => '?')).replace(/\n/g, ' | ')}`,
    `saved runs: ${(await text('checkpoint-list')).replace(/\n/g, ' | ')}`,
  ].join('\n');
}

/** Polls until `fn` holds. Given the page, it stops at once when the page
 * shows an error (a failed run never gets there) and says what the page
 * shows. */
export async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs: number, everyMs = 250, page?: Page): Promise<void> {
  try {
    await poll(
      async () => {
        if (page && (await bannerText(page))) throw new Error(`the page shows an error while waiting for ${what}`);
        return (await fn()) ? true : undefined;
      },
      timeoutMs,
      what,
      everyMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}${page ? `\n${await pageState(page)}` : ''}`);
  }
}
