// The app's tests that open tabs of their own (nothing shared with
// app.test.ts's page): the classroom demo, and a tab closed in the middle of
// a checkpoint save. In a file of their own, they run beside the others.
import { describe, expect, it } from 'vitest';
import { checkpointRows, uploadTeacher } from './app-helpers';
import { expectClean, servedApp, waitBackend, waitFor, onWasm } from './checks';
import { chromiumAvailable, losses, openPage, readStep, screenshot, trainStatus } from '../../support/browser';

const available = chromiumAvailable();

describe.skipIf(!available)('app in Chromium (wasm backend): tabs of their own', () => {
  const app = servedApp();

  it('classroom demo: one button trains on the demo data and draws the two answer distributions', async () => {
    const c = await openPage(app.browser, onWasm(app.served.url));
    try {
      const p = c.page;
      await waitBackend(p);
      // one step: this test needs the run and the distributions, not learning
      await p.getByTestId('steps').fill('1');
      await p.getByTestId('classroom-run').click();
      // it trains on the demo data, so with the demo's batch (the length typed stays)
      expect([await p.getByTestId('steps').inputValue(), await p.getByTestId('setting-batchSize').inputValue()]).toEqual(['1', '16']);
      await p
        .getByTestId('classroom-step')
        .filter({ hasText: /^1 \/ 1$/ })
        .waitFor({ timeout: 480_000 });
      expect((await p.getByTestId('classroom-question').textContent())?.length ?? 0).toBeGreaterThan(20);
      const kl = Number(await p.getByTestId('classroom-kl').textContent());
      expect(Number.isFinite(kl)).toBe(true);
      expect(kl).toBeGreaterThanOrEqual(0);
      const bars = await p.getByTestId('classroom-bars').innerText();
      expect(bars).toMatch(/\d+(\.\d+)?%/); // probabilities after A and after B
      console.log(`[e2e] classroom: KL ${kl}; bars ${bars.replace(/\s+/g, ' ').slice(0, 200)}`);
      console.log(`[e2e] screenshot: ${await screenshot(p, 'classroom.png')}`);
      await expectClean(c);
    } finally {
      await c.context.close();
    }
  });

  it('a tab closed in the middle of a save (worker terminated) leaves the previous checkpoint intact and loadable', async () => {
    // A context of its own (its own IndexedDB): closing the tab ends the
    // worker in the middle of the save, and the next tab of the same context
    // finds what IndexedDB kept. Runnable alone (-t).
    let tab = await openPage(app.browser, onWasm(app.served.url));
    const context = tab.context;
    let page = tab.page;
    await waitBackend(page);
    await uploadTeacher(page, 'tab-closed');
    // more steps than the test lives for
    await page.getByTestId('steps').fill('40');
    await page.getByTestId('setting-batchSize').fill('2'); // small steps keep the test short
    await page.getByTestId('setting-autosaveEvery').fill('1'); // a save after every step
    await waitFor('the empty list', async () => /No saved runs/.test(await page.getByTestId('checkpoint-list').innerText()), 30_000);
    // the training worker (the bundle's worker-*.js), not a wasm thread (blob:)
    const worker = page.workers().find((wk) => /\/assets\/worker-[^/]+\.js$/.test(wk.url()));
    expect(worker, 'the training worker').toBeDefined();
    // Inside the worker: right after the weight record of the first
    // checkpoint past step 1 is put (its IndexedDB transaction open, nothing
    // committed), the worker thread blocks in a synchronous request that the
    // test server never answers; the request names the step held, read from
    // the file's own run_state. Armed before Start: a worker busy training on
    // wasm may run no task of the test's until its run ends, so arming it
    // mid-run could come too late. Closing the tab then terminates the
    // worker mid-transaction.
    const held = app.served.hangRequests().length;
    await worker!.evaluate(() => {
      const g = self as unknown as { __held?: boolean };
      const put = IDBObjectStore.prototype.put;
      const stepOf = (value: unknown): number | undefined => {
        try {
          // a checkpoint's safetensors: 8 bytes of header length, then JSON
          const file = (value as { bytes: ArrayBuffer }).bytes;
          const n = Number(new DataView(file).getBigUint64(0, true));
          const header = JSON.parse(new TextDecoder().decode(new Uint8Array(file, 8, n))) as {
            __metadata__: { run_state: string };
          };
          return (JSON.parse(header.__metadata__.run_state) as { step: number }).step;
        } catch {
          return undefined; // not a checkpoint (the teacher file kept with the run)
        }
      };
      IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
        const req = put.apply(this, args);
        const step = this.name === 'blobs' && !g.__held ? stepOf(args[0]) : undefined;
        if (step !== undefined && step >= 2) {
          g.__held = true;
          const x = new XMLHttpRequest();
          x.open('GET', `/__e2e/hang?step=${step}`, false);
          try {
            x.send();
          } catch {
            // released when the server closes
          }
        }
        return req;
      };
    });
    await page.getByTestId('train-start').click();
    await waitFor('a save in flight', async () => app.served.hangRequests().length > held, 240_000, 50, page);
    const savingStep = Number(/step=(\d+)/.exec(app.served.hangRequests()[held])?.[1]);
    // Closing the tab terminates the worker mid-transaction.
    await page.close();
    tab = await openPage(app.browser, onWasm(app.served.url), context);
    page = tab.page;
    await waitBackend(page);
    await waitFor('the saved runs', async () => (await checkpointRows(page)).length === 1, 30_000);
    const newest = (await checkpointRows(page))[0];
    console.log(`[e2e] worker terminated while saving step ${savingStep}; the run has checkpoints at steps ${newest.steps.join(', ')}`);
    expect(savingStep).toBeGreaterThanOrEqual(2);
    expect(newest.steps[0]).toBe(savingStep - 1);
    // Nothing half-written is left behind: every stored checkpoint record has
    // its blob at the size written, and records and blobs match one to one (the cut save's
    // blob, put first in its transaction, did not survive without a record).
    const stored = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('mcckd');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const read = <T>(store: string, keys: boolean): Promise<T[]> =>
        new Promise((resolve, reject) => {
          const os = db.transaction(store).objectStore(store);
          const r = keys ? os.getAllKeys() : os.getAll();
          r.onsuccess = () => resolve(r.result as T[]);
          r.onerror = () => reject(r.error);
        });
      const metas = await read<{ id: string; bytes: number }>('checkpoints', false);
      const blobs = await read<{ checkpointId: string; bytes: ArrayBuffer }>('blobs', false);
      db.close();
      const sizes = new Map(blobs.map((b) => [b.checkpointId, b.bytes.byteLength]));
      return {
        wrongSize: metas.filter((m) => sizes.get(m.id) !== m.bytes).length,
        ids: metas.map((m) => m.id).sort(),
        blobs: blobs.map((b) => b.checkpointId).sort(),
      };
    });
    // every record has its blob, of the size the record says was written
    expect(stored.wrongSize).toBe(0);
    expect(stored.blobs).toEqual(stored.ids);

    // The intact checkpoint loads and training goes on from it (on the
    // teacher file kept with the run: nothing is uploaded again).
    await page.getByTestId('checkpoint-item').first().getByRole('button', { name: 'Resume' }).click();
    await waitFor(
      'a first step after the saved one',
      async () => (await readStep(page)) > savingStep - 1 && (await trainStatus(page)) === 'running',
      240_000,
      250,
      page,
    );
    await page.getByTestId('train-stop').click();
    await waitFor('stopped', async () => (await trainStatus(page)) === 'stopped', 240_000, 250, page);
    const l = await losses(page);
    const resumed = l.map(([s]) => s);
    expect(resumed.slice(0, savingStep)).toEqual(Array.from({ length: savingStep }, (_, i) => i + 1));
    // the loaded weights are finite: NaN or infinite weights give a non-finite loss
    expect(l.filter(([, v]) => !Number.isFinite(v))).toEqual([]);
    expect(l[l.length - 1][1]).toBeLessThan(l[0][1]);
    await expectClean(tab);
    await context.close();
  });
});
