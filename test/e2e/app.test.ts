// End-to-end: the built app (vite preview on http://127.0.0.1) in Debian's
// Chromium with real WebGPU on SwiftShader, driven through playwright-core.
// The tests run in order and share one page where noted: the data loaded,
// the model trained and the checkpoints saved by one test are what the next
// one works with. SwiftShader is slow (the first step compiles shaders for
// tens of seconds), so the model is the `tiny` preset and runs are short;
// from the reload on, the page runs on wasm (the run resumes there).
// The tests with tabs of their own are in compare.test.ts and
// app-tabs.test.ts (they run beside this file); the helpers in app-helpers.ts.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { evalFile } from './fixtures';
import { checkpointRows, dismissErrors, evaluate, fixture, notes, uploadTeacher } from './app-helpers';
import { bannerText, expectClean, onWasm, servedApp, waitBackend, waitFor } from './checks';
import {
  ARTIFACTS,
  ROOT,
  buildApp,
  chromiumAvailable,
  CHROMIUM,
  longTasks,
  losses,
  openPage,
  readStep,
  screenshot,
  trainStatus,
  writeArtifact,
  type WatchedPage,
} from '../../support/browser';

const available = chromiumAvailable();
if (!available) console.warn(`[e2e] skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

const STEPS = 10;

describe.skipIf(!available)('app in Chromium with WebGPU (SwiftShader)', () => {
  const app = servedApp();
  let w: WatchedPage;
  let page: Page;
  // Shared between the tests, in order.
  let stoppedAt = 0;
  let trainedEval: { accuracy: string; samples: string } | undefined;
  let exported = '';

  it('the page bundle has no tfjs (the worker has it) and index.html carries the CSP', async () => {
    const dist = await buildApp();
    const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
    expect(html).toMatch(/http-equiv="Content-Security-Policy"[^>]*default-src 'self'/);
    const entry = /<script type="module"[^>]*src="\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(entry).toBeDefined();
    // The page's script and everything it imports statically.
    const assets = path.join(dist, 'assets');
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(path.join(assets, file), 'utf8');
      for (const m of code.matchAll(/(?:import|export)\s*(?:[^'"`;]*?from\s*)?["'`]\.\/([^"'`]+\.js)["'`]/g)) visit(m[1]);
    };
    visit(path.basename(entry!));
    const pageCode = [...seen].map((f) => readFileSync(path.join(assets, f), 'utf8')).join('\n');
    expect(pageCode).not.toMatch(/tensorflow|tfjs|registerKernel/i);
    const workerFile = readdirSync(assets).find((f) => /^worker-.*\.js$/.test(f));
    expect(workerFile, 'a worker chunk').toBeDefined();
    expect(pageCode).toContain(workerFile);
    console.log(`[e2e] page bundle: ${[...seen].join(', ')} (${pageCode.length} bytes, no tfjs)`);
  });

  it('loads the demo data: the report counts the generated questions; the curated set downloads as JSONL', async () => {
    const demo = await openPage(app.browser, app.served.url);
    try {
      await waitBackend(demo.page);
      await demo.page.getByTestId('use-demo').click();
      const report = demo.page.getByTestId('data-report');
      await report.getByText('Questions for training').waitFor({ timeout: 120_000 });
      const text = await report.innerText();
      const questions = Number(/Questions\s+(\d+)/.exec(text)?.[1]);
      // curation drops a few questions of the generator's (one slipped rationale can be a question's only one left)
      const generated = readFileSync(path.join(ROOT, 'public/demo/train.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.trim()).length;
      expect(questions).toBeGreaterThanOrEqual(Math.floor(generated * 0.9));
      expect(questions).toBeLessThanOrEqual(generated);
      const kept = Number(/Rationales kept\s+(\d+)/.exec(text)?.[1]);
      expect(kept).toBeGreaterThan(questions); // several rationales per question
      // the curated set: one line per kept question (train and dev), each with its answer spans
      const download = demo.page.waitForEvent('download');
      await demo.page.getByTestId('download-curated').click();
      const d = await download;
      expect(d.suggestedFilename()).toMatch(/-curated-k3\.jsonl$/);
      const file = path.join(ARTIFACTS, 'e2e-curated.jsonl');
      await d.saveAs(file);
      const lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as { rationales: string[]; answer_spans: [number, number][]; split: string; answer: string });
      expect(lines.length).toBe(questions);
      expect(lines.reduce((n, l) => n + l.rationales.length, 0)).toBe(kept);
      for (const l of lines.slice(0, 50)) {
        expect(l.answer_spans.length).toBe(l.rationales.length);
        const [s0, e0] = l.answer_spans[0];
        expect([...l.rationales[0]].slice(s0, e0).join('')).toBe(l.answer);
      }
      expect(lines.filter((l) => l.split === 'dev').length).toBeGreaterThan(0);
      // The demo's evaluation file comes with it.
      await expect
        .poll(async () => (await demo.page.getByTestId('eval-name').textContent()) ?? '', { timeout: 60_000 })
        .toMatch(/\d+ questions/);
      await expectClean(demo);
    } finally {
      await demo.context.close();
    }
  });

  it('reads an uploaded teacher file: counts, the bad line by number, markup shown as text', async () => {
    w = await openPage(app.browser, app.served.url);
    page = w.page;
    await waitBackend(page);
    await uploadTeacher(page);
    const report = page.getByTestId('data-report');
    const text = await report.innerText();
    expect(text).toMatch(/Records read\s+11/);
    expect(text).toMatch(new RegExp(`Questions\\s+${fixture.questions}\\b`));
    expect(text).toMatch(/Rationales in the file\s+31/);
    expect(text).toMatch(/Rationales kept\s+30/);
    expect(text).toMatch(/wrong-answer: 1/);
    const errors = await page.getByTestId('report-errors').innerText();
    expect(errors).toContain(`line ${fixture.brokenLine}:`);
    expect(errors).toMatch(/invalid JSON/);
    // The question with <b> in it is text, not markup.
    const sample = page.getByTestId('report-sample');
    expect(await sample.innerText()).toContain('<b>apples</b>');
    expect(await sample.locator('b').count()).toBe(0);

    await page.getByTestId('eval-file').setInputFiles(writeArtifact('e2e-eval.jsonl', evalFile()));
    await expect
      .poll(async () => (await page.getByTestId('eval-name').textContent()) ?? '', { timeout: 30_000 })
      .toMatch(/e2e-eval\.jsonl \(3 questions\)/);
    expect(await bannerText(page)).toBe('');
  });

  it('trains on webgpu: loss falls; pause, resume, stop; evaluate; screenshot', async () => {
    await page.getByTestId('steps').fill(String(STEPS));
    // batch 4 (the default is 8): still a falling loss, in half the time a step
    await page.getByTestId('setting-batchSize').fill('4');
    await page.getByTestId('setting-autosaveEvery').fill('3');
    await page.getByTestId('train-start').click();
    const since = await page.evaluate(() => performance.now());

    await waitFor('step 3', async () => (await readStep(page)) >= 3, 240_000, 250, page);
    // The worker's real backend: webgpu on SwiftShader, no fallback.
    const badge = page.getByTestId('backend');
    expect(await badge.getAttribute('data-backend')).toBe('webgpu');
    expect(await badge.textContent()).toMatch(/^backend: webgpu \(.*swiftshader.*\)$/i);
    expect(await badge.textContent()).not.toMatch(/fell back/);
    // the worker switches backends only between runs
    expect(await page.getByTestId('backend-select').isDisabled()).toBe(true);

    await page.getByTestId('train-pause').click();
    await waitFor('paused', async () => (await trainStatus(page)).startsWith('paused'), 60_000);
    const pausedAt = await readStep(page);
    await page.waitForTimeout(2500);
    expect(await readStep(page)).toBe(pausedAt); // really paused
    expect(await page.getByTestId('train-resume').isEnabled()).toBe(true);
    // Pausing saves a checkpoint of its own (an autosave may share the step).
    await waitFor(
      `a pause checkpoint at step ${pausedAt}`,
      async () => (await checkpointRows(page))[0]?.saves.includes(`${pausedAt}:pause`) ?? false,
      30_000,
    );

    await page.getByTestId('train-resume').click();
    await waitFor('running again', async () => (await readStep(page)) > pausedAt, 120_000);
    await waitFor('step 7', async () => (await readStep(page)) >= 7, 240_000, 250, page);
    await page.getByTestId('train-stop').click();
    await waitFor('stopped', async () => (await trainStatus(page)) === 'stopped', 60_000);
    stoppedAt = await readStep(page);
    expect(stoppedAt).toBeGreaterThanOrEqual(7);
    expect(stoppedAt).toBeLessThan(STEPS);
    await expect.poll(() => page.getByTestId('backend-select').isEnabled(), { timeout: 30_000 }).toBe(true);

    const l = await losses(page);
    expect(l.map(([s]) => s)).toEqual(Array.from({ length: stoppedAt }, (_, i) => i + 1)); // every step logged once
    for (const [, v] of l) expect(Number.isFinite(v)).toBe(true);
    const first = l[0][1];
    const last = l[l.length - 1][1];
    expect(first).toBeGreaterThan(5.5); // ~ln(vocab) for a fresh model
    expect(first).toBeLessThan(7.5);
    expect(last).toBeLessThan(first - 0.5);
    console.log(`[e2e] losses on webgpu: ${l.map(([s, v]) => `${s}:${v.toFixed(3)}`).join(' ')}`);
    expect(await page.getByTestId('train-loss').textContent()).toBe(last.toFixed(3));

    await waitFor(
      `the stop checkpoint at step ${stoppedAt}`,
      async () => (await checkpointRows(page))[0]?.saves[0] === `${stoppedAt}:stop`,
      30_000,
    );

    trainedEval = await evaluate(page);
    expect(trainedEval.accuracy).toMatch(/^\d+(\.\d+)?% \([0-3] of 3, evaluation file\)$/);
    expect(trainedEval.samples).toContain('Nia has 4 apples');
    const slow = await longTasks(page, since);
    console.log(
      `[e2e] main-thread tasks over 50 ms while training: ${slow.length}${slow.length ? ` (longest ${Math.max(...slow.map((t) => t.duration)).toFixed(0)} ms)` : ''}`,
    );
    console.log(`[e2e] screenshot: ${await screenshot(page, 'trained-page.png')}`);
    await expectClean(w);
  });

  it('after a reload (onto wasm) the run is listed with Resume, and resuming continues from the saved step', async () => {
    // The page comes back on wasm: a run saved on WebGPU resumes on another
    // backend, and the tests from here on do not pay SwiftShader's compiles.
    await page.goto(onWasm(app.served.url));
    await page
      .getByTestId('backend')
      .filter({ hasText: /^backend: wasm/ })
      .waitFor({ timeout: 60_000 });
    await waitFor('the saved run', async () => (await checkpointRows(page)).length > 0, 30_000);
    const runs = await checkpointRows(page);
    expect(runs).toHaveLength(1);
    expect(runs[0].run).toMatch(/stopped/);
    expect(runs[0].steps[0]).toBe(stoppedAt);
    const newest = page.getByTestId('checkpoint-item').first();
    await expect.poll(() => newest.getByRole('button', { name: 'Resume' }).isEnabled()).toBe(true);

    // Nothing is loaded after the reload: the teacher file kept with the run
    // (IndexedDB) is what Resume trains on.
    await newest.getByRole('button', { name: 'Resume' }).click();
    await waitFor('the resumed run to finish', async () => (await trainStatus(page)) === 'done', 240_000, 250, page);
    expect(await readStep(page)).toBe(STEPS);
    expect(await notes(page, /training data: e2e-teacher\.jsonl, kept with the run/)).toBeGreaterThan(0);
    const l = await losses(page);
    // The charts get the stored history back; new steps follow the saved one.
    expect(l.map(([s]) => s)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    const before = l[stoppedAt - 1][1];
    const after = l[stoppedAt][1];
    console.log(`[e2e] loss at the saved step ${stoppedAt}: ${before.toFixed(3)}, first resumed step: ${after.toFixed(3)}`);
    // Trained weights were restored: a fresh model would start near 6.2.
    expect(after).toBeLessThan(l[0][1] - 0.4);
    expect(Math.abs(after - before)).toBeLessThan(0.5);
    expect(await bannerText(page)).toBe('');
  });

  it('exports a checkpoint as .safetensors and re-imports it with the same evaluation result', async () => {
    await page.getByTestId('eval-file').setInputFiles(path.join(ARTIFACTS, 'e2e-eval.jsonl'));
    await expect.poll(async () => (await page.getByTestId('eval-name').textContent()) ?? '', { timeout: 30_000 }).toMatch(/3 questions/);
    const before = await evaluate(page);

    const newest = page.getByTestId('checkpoint-item').first();
    expect(await newest.getAttribute('data-step')).toBe(String(STEPS));
    const download = page.waitForEvent('download');
    // the format menu's first entry is this page's checkpoint; the button says so
    expect(await newest.getByTestId('export-as').textContent()).toBe('Export as checkpoint (.safetensors)');
    await newest.getByTestId('export-as').click();
    const d = await download;
    expect(d.suggestedFilename()).toMatch(/-step10\.safetensors$/);
    exported = path.join(ARTIFACTS, 'e2e-export.safetensors');
    await d.saveAs(exported);
    const bytes = readFileSync(exported);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype?: string; shape?: number[] }> & {
      __metadata__: Record<string, string>;
    };
    expect(header['transformer.wte.weight']?.dtype).toBe('F32');
    expect(header.__metadata__).toBeTypeOf('object');

    const runsBefore = (await checkpointRows(page)).length;
    await page.getByTestId('checkpoint-import').setInputFiles(exported);
    await waitFor('the imported run', async () => (await checkpointRows(page)).length === runsBefore + 1, 30_000);
    const imported = page.getByTestId('checkpoint-run').first().getByTestId('checkpoint-item').first();
    expect(await imported.getAttribute('data-step')).toBe(String(STEPS));
    const finished = await notes(page, /Resuming: done at step 10 of 10/);
    await imported.getByRole('button', { name: 'Resume' }).click();
    await waitFor(
      'the imported model loaded',
      async () => (await notes(page, /Resuming: done at step 10 of 10/)) > finished,
      120_000,
      250,
      page,
    );
    expect(await bannerText(page)).toBe('');
    const after = await evaluate(page);
    expect(after.accuracy).toBe(before.accuracy);
    expect(after.samples).toBe(before.samples);
    // The evaluation belongs to the imported run (the model in memory).
    await waitFor(
      'the imported run to show its accuracy',
      async () => (await checkpointRows(page))[0].run.includes(`last accuracy ${after.accuracy.split(' ')[0]}`),
      30_000,
    );
  });

  it('refuses a truncated and a hostile .safetensors with a message, and stores nothing', async () => {
    const good = readFileSync(exported);
    const runsBefore = await checkpointRows(page);

    const truncated = writeArtifact('e2e-truncated.safetensors', good.subarray(0, Math.floor(good.length / 2)));
    await page.getByTestId('checkpoint-import').setInputFiles(truncated);
    await expect.poll(() => bannerText(page), { timeout: 30_000 }).toMatch(/Importing e2e-truncated\.safetensors: .+/);
    console.log(`[e2e] truncated: ${(await bannerText(page)).split('\n').find((s) => s.includes('truncated.safetensors'))}`);
    await dismissErrors(page);

    // Hostile: a valid-looking header whose first tensor claims bytes far
    // beyond the end of the file.
    const headerLen = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { data_offsets?: number[] }>;
    header['transformer.wte.weight'].data_offsets = [0, 2 ** 40];
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const hostile = writeArtifact('e2e-hostile.safetensors', Buffer.concat([len, json, good.subarray(8 + headerLen)]));
    await page.getByTestId('checkpoint-import').setInputFiles(hostile);
    await expect.poll(() => bannerText(page), { timeout: 30_000 }).toMatch(/Importing e2e-hostile\.safetensors: .+/);
    console.log(`[e2e] hostile: ${(await bannerText(page)).split('\n').find((s) => s.includes('hostile.safetensors'))}`);
    await dismissErrors(page);

    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForTimeout(500);
    expect(await checkpointRows(page)).toEqual(runsBefore);
  });

  it('detects a damaged stored weight record and offers the next older checkpoint', async () => {
    // The first run (trained above, the oldest in the list): newest
    // checkpoint at step 10, older ones below it.
    const rows = await checkpointRows(page);
    const original = rows.length - 1;
    expect(rows[original].steps[0]).toBe(STEPS);
    expect(rows[original].steps.length).toBeGreaterThanOrEqual(2);
    const run = page.getByTestId('checkpoint-run').nth(original);
    const newestId = (await run.getByTestId('checkpoint-item').first().getAttribute('data-id')) as string;
    const olderStep = rows[original].steps[1];

    // Flip bytes in the stored weights (after the safetensors header).
    const damaged = await page.evaluate(async (id) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('mcckd');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const tx = db.transaction('blobs', 'readwrite');
      const store = tx.objectStore('blobs');
      const rec = await new Promise<{ checkpointId: string; bytes: ArrayBuffer }>((resolve, reject) => {
        const r = store.get(id);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const bytes = new Uint8Array(rec.bytes);
      const headerLen = Number(new DataView(rec.bytes).getBigUint64(0, true));
      const at = 8 + headerLen + 100;
      for (let i = at; i < at + 16; i++) bytes[i] ^= 0x5a;
      store.put({ ...rec, bytes: bytes.buffer });
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
      db.close();
      return bytes.length;
    }, newestId);
    expect(damaged).toBeGreaterThan(1000);

    await run.getByTestId('checkpoint-item').first().getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => bannerText(page), { timeout: 60_000 }).toMatch(/damaged/);
    expect(await bannerText(page)).toMatch(new RegExp(`step ${olderStep}\\) is intact`));
    // the training status says the run failed, not what the last run did
    await expect.poll(() => trainStatus(page), { timeout: 10_000 }).toMatch(/^failed: .*damaged/);
    const damagedRow = page.locator(`[data-testid="checkpoint-item"][data-id="${newestId}"]`);
    expect(await damagedRow.getAttribute('data-damaged')).toBe('true');
    const offered = page.locator('[data-testid="checkpoint-item"][data-offered="true"]');
    expect(await offered.count()).toBe(1);
    expect(await offered.getAttribute('data-step')).toBe(String(olderStep));
    await dismissErrors(page);

    // The offered checkpoint loads and the run goes on from it.
    const finished = await notes(page, /Resuming: done at step 10 of 10/);
    await offered.getByRole('button', { name: 'Resume' }).click();
    await waitFor(
      'the run resumed from the older checkpoint to finish',
      async () => (await notes(page, /Resuming: done at step 10 of 10/)) > finished,
      240_000,
      250,
      page,
    );
    expect(await readStep(page)).toBe(STEPS);
    expect((await losses(page)).map(([s]) => s)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));

    // Step olderStep is not the run's newest checkpoint: the run branched
    // into a new one, and the original keeps its (damaged) newest checkpoint.
    expect(await notes(page, new RegExp(`training goes on as a new run, ".* · from step ${olderStep}"`))).toBeGreaterThan(0);
    await waitFor('the branched run in the list', async () => (await checkpointRows(page)).length === rows.length + 1, 30_000);
    const damagedItem = page.locator(`[data-testid="checkpoint-item"][data-id="${newestId}"]`);
    expect(await damagedItem.count()).toBe(1);

    // Deleting a checkpoint asks first: dismissed, nothing is deleted; accepted, it goes.
    const answer = (accept: boolean): Promise<string> =>
      new Promise((resolve) => page.once('dialog', (d) => void (accept ? d.accept() : d.dismiss()).then(() => resolve(d.message()))));
    let asked = answer(false);
    await damagedItem.getByRole('button', { name: 'Delete' }).click();
    expect(await asked).toMatch(new RegExp(`^Delete the checkpoint at step ${STEPS} \\(`));
    await page.waitForTimeout(500);
    expect(await damagedItem.count()).toBe(1);
    asked = answer(true);
    await damagedItem.getByRole('button', { name: 'Delete' }).click();
    await asked;
    await waitFor('the deleted checkpoint to leave the list', async () => (await damagedItem.count()) === 0, 30_000);
    await expectClean(w);
  });
});
