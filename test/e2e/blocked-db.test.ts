// Another tab of an older app version holds the database open at version 1
// and ignores versionchange: in real Chromium the app's open is "blocked"
// for as long as that tab lives. The app must not hang in "preparing": the
// store gives up after its deadline (10 s), training starts without
// checkpoints and says why, and once that tab is gone the saved runs open.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bannerText, waitFor, onWasm } from './checks';
import { chromiumAvailable, launchBrowser, openPage, serve, trainStatus, type Served } from '../../support/browser';

const available = chromiumAvailable();

describe.skipIf(!available)('a tab holding an older database version open', () => {
  let served: Served;
  let browser: Browser;

  beforeAll(async () => {
    served = await serve('preview', { outDir: 'e2e-security-dist' });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('training starts without checkpoints and says why; the saved runs open once that tab is closed', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // The "old tab": a blank page of the app's origin holding version 1 of
    // the database (src/checkpoint/schema.ts) with no versionchange handler.
    await context.route(`${served.url}old-tab.html`, (route) =>
      route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>old tab</title>' }),
    );
    const old = await context.newPage();
    await old.goto(`${served.url}old-tab.html`);
    await old.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const req = indexedDB.open('mcckd', 1);
          req.onupgradeneeded = () => {
            const db = req.result;
            db.createObjectStore('runs', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
            db.createObjectStore('checkpoints', { keyPath: 'id' }).createIndex('byRun', 'runId');
            db.createObjectStore('blobs', { keyPath: 'checkpointId' });
            db.createObjectStore('metrics', { keyPath: ['runId', 'step'] });
          };
          req.onsuccess = () => {
            (window as unknown as { held: IDBDatabase }).held = req.result;
            resolve();
          };
          req.onerror = () => reject(new Error(String(req.error)));
        }),
    );

    const w = await openPage(browser, onWasm(served.url), context);
    const { page } = w;
    // The start-up listing of saved runs gives up with the reason.
    await waitFor('the saved runs to give up', async () => /another tab/.test(await bannerText(page)), 90_000);
    expect(await bannerText(page)).toMatch(/older version of this app.*close/s);
    await page.getByTestId('error-banner').getByRole('button', { name: 'Dismiss' }).click();

    await page.getByTestId('use-demo').click();
    await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
    await page.getByTestId('steps').fill('4');
    await page.getByTestId('setting-batchSize').fill('2'); // small steps keep the test short
    await waitFor('Start enabled', () => page.getByTestId('train-start').isEnabled(), 30_000);
    await page.getByTestId('train-start').click();
    const notes = page.getByTestId('train-notes');
    await waitFor(
      'the note that checkpoints are off',
      async () => /checkpoints are off for this run: .*another tab/.test(await notes.innerText()),
      120_000,
    );
    await waitFor('the run to leave "preparing"', async () => /^(running|done)/.test(await trainStatus(page)), 120_000);

    // The old tab goes away: the next look at the saved runs opens the database.
    await old.close();
    await page
      .getByTestId('error-banner')
      .getByRole('button', { name: 'Dismiss' })
      .click()
      .catch(() => undefined);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await waitFor(
      'the storage line',
      async () => /^Storage: checkpoints/.test(await page.getByTestId('storage-usage').innerText()),
      60_000,
    );
    expect(await bannerText(page)).toBe('');
    await context.close();
  });
});
