// The page's Teacher step in headless Chromium, on real engines: the tiny
// demo-trained GGUF teacher (support/teacher-gguf.ts) run (a) by llama.cpp in
// wasm inside the page's teacher worker, and (b) behind an OpenAI-compatible
// server on 127.0.0.1 backed by llama.cpp in Node (support/llama-server.ts),
// with a reload in the middle of the run and Resume; (c) the same server
// without CORS headers, refused before any sample is asked, with the server's
// own fix named; (d) a host that ignores ?connect= (the worker keeps
// connect-src 'self'): the CSP's own message. Screenshots of the step (light
// and dark in (a), the CORS message in (c)) go to test-artifacts/teach-*.png;
// (e) Pause and Resume.
// Between the page and the server in (b) sits a gate that answers the first
// N completions and holds the next ones, so "mid-run" is a fixed point, not a
// race.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, chromiumAvailable, launchBrowser, openPage, poll, serve, type Served } from '../../support/browser';
import { startLlamaServer, type LlamaServer } from '../../support/llama-server';
import { teacherGguf } from '../../support/teacher-gguf';
import { bannerText } from './checks';
import { axeViolations } from './ux-helpers';

interface Gate {
  url: string;
  /** Completions answered before the gate holds the rest. */
  allow: number;
  /** Completion requests that reached the gate. */
  asked: number;
  held: number;
  /** Lets the held requests through. */
  release(): void;
  close(): Promise<void>;
}

/** A pass-through proxy to `upstream` that holds completion requests once
 * `allow` have been let through (a held one is never answered). */
async function startGate(upstream: string): Promise<Gate> {
  const up = new URL(upstream);
  const held: [IncomingMessage, ServerResponse][] = [];
  const gate = { allow: Infinity, asked: 0, held: 0 } as Gate;
  const pass = (req: IncomingMessage, res: ServerResponse): void => {
    const r = httpRequest(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } },
      (u) => {
        res.writeHead(u.statusCode ?? 502, u.headers);
        u.pipe(res);
      },
    );
    r.on('error', () => res.destroy());
    req.pipe(r);
  };
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST' && /completions$/.test(req.url ?? '')) {
      gate.asked += 1;
      if (gate.asked > gate.allow) {
        gate.held += 1;
        held.push([req, res]);
        return;
      }
    }
    pass(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  gate.url = `http://127.0.0.1:${port}${up.pathname}`;
  gate.release = () => {
    for (const [req, res] of held.splice(0)) pass(req, res);
  };
  gate.close = () =>
    new Promise<void>((r) => {
      for (const [, res] of held) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return gate;
}

/** What the page keeps in IndexedDB: the teach runs and their samples. */
async function stored(page: Page): Promise<{ runs: number; samples: { runId: string; questionId: string; sample: number }[] }> {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('mcckd');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains('teachSamples')) {
            db.close();
            resolve({ runs: 0, samples: [] });
            return;
          }
          const tx = db.transaction(['teachRuns', 'teachSamples']);
          const runs = tx.objectStore('teachRuns').count();
          const samples = tx.objectStore('teachSamples').getAll();
          tx.oncomplete = () => {
            db.close();
            resolve({
              runs: runs.result,
              samples: (samples.result as { runId: string; questionId: string; sample: number }[]).map((s) => ({
                runId: s.runId,
                questionId: s.questionId,
                sample: s.sample,
              })),
            });
          };
        };
      }),
  );
}

/** The Data section (where the Teacher step is) as test-artifacts/<name>. */
async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.getByTestId('section-data').screenshot({ path: path.join(ARTIFACTS, name) });
}

async function openTeach(page: Page): Promise<void> {
  await page.getByTestId('open-teach').click();
  await page.getByTestId('teach-generate').waitFor();
}

/** The form for a lean run: the first `questions` demo questions, `samples`
 * each, short answers, in the student's prompt format (the tiny teacher is
 * a student of ours). */
async function fillLean(page: Page, o: { questions: number; samples: number }): Promise<void> {
  await page.getByTestId('teach-limit').fill(String(o.questions));
  await page.getByTestId('teach-samples').fill(String(o.samples));
  await page.getByTestId('teach-max-tokens').fill('40');
  await page.getByTestId('teach-concurrency').fill('1');
  await page.getByTestId('teach-template-preset').selectOption('student');
}

async function reportRows(page: Page, n: number): Promise<void> {
  await poll(
    async () => {
      const banner = await bannerText(page);
      if (banner) throw new Error(`the page shows an error: ${banner}`);
      return (await page.getByTestId('teach-row').count()) === n ? true : undefined;
    },
    60_000,
    `${n} report rows`,
  );
}

describe.skipIf(!chromiumAvailable())('the Teacher step in the page (real llama.cpp, headless Chromium)', () => {
  let gguf = '';
  let model = '';
  let llama: LlamaServer | undefined;
  let closed: LlamaServer | undefined;
  let gate: Gate | undefined;
  let app: Served | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    gguf = await teacherGguf();
    [llama, closed] = await Promise.all([startLlamaServer({ gguf, cors: true }), startLlamaServer({ gguf, cors: false })]);
    model = ((await (await fetch(`${llama.url}/models`)).json()) as { data: { id: string }[] }).data[0].id;
    gate = await startGate(llama.url);
    app = await serve('preview');
    browser = await launchBrowser({ webgpu: false });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await gate?.close();
    await llama?.close();
    await closed?.close();
  });

  it('(a) the GGUF teacher in the page writes rationales, the report shows, "Use these rationales" loads them into the Data step', {
    timeout: 120_000,
  }, async () => {
    const w = await openPage(browser!, app!.url);
    const page = w.page;
    await openTeach(page);
    await page.getByTestId('teach-kind-gguf').check();
    await page.getByTestId('teach-gguf').setInputFiles(gguf);
    await fillLean(page, { questions: 3, samples: 2 });
    await page.getByTestId('teach-generate').click();
    await reportRows(page, 3);
    const totals = (await page.getByTestId('teach-totals').textContent()) ?? '';
    expect(totals).toMatch(/^3 questions: 6 generated/);
    expect((await stored(page)).samples).toHaveLength(6);
    await page.emulateMedia({ colorScheme: 'light' });
    await shot(page, 'teach-light.png');
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot(page, 'teach-dark.png');
    expect(await axeViolations(page)).toEqual([]); // contrast, labels: dark
    await page.emulateMedia({ colorScheme: 'light' });
    expect(await axeViolations(page)).toEqual([]); // and light

    // re-ask: one more block of K samples (k = 2, 3) for each question that kept fewer than 2
    const few = Number(/(\d+) with fewer than 2 kept/.exec(totals)?.[1]);
    expect(few).toBeGreaterThan(0);
    await page.getByTestId('teach-reask').click();
    await poll(async () => ((await stored(page)).samples.length === 6 + 2 * few ? true : undefined), 60_000, 're-asked samples stored');
    const extra = (await stored(page)).samples.filter((x) => x.sample >= 2);
    expect(extra.map((x) => x.sample).sort()).toEqual(
      Array.from({ length: few }, () => [2, 3])
        .flat()
        .sort(),
    );
    await page
      .getByTestId('teach-totals')
      .filter({ hasText: `${6 + 2 * few} generated` })
      .waitFor({ timeout: 30_000 });

    await page.getByTestId('teach-use').click();
    // the Data step read the generated file as an upload: its report names it
    await page
      .getByTestId('data-report')
      .getByText(/rationales-teach-.*\.jsonl/)
      .first()
      .waitFor({ timeout: 30_000 });
    expect(await bannerText(page)).toBe('');
    expect(w.problems).toEqual([]);
    expect(w.offOrigin).toEqual([]); // the GGUF teacher is fully local
    await w.context.close();
  });

  it('(b) the endpoint teacher: a reload mid-run loses only the sample in flight, Resume completes it with no duplicate', {
    timeout: 120_000,
  }, async () => {
    const w = await openPage(browser!, app!.url);
    const page = w.page;
    const workers: string[] = [];
    page.on('worker', (wk) => workers.push(wk.url()));
    await openTeach(page);
    await page.getByTestId('teach-preset').selectOption('llama-server');
    await page.getByTestId('teach-base-url').fill(gate!.url);
    await page.getByTestId('teach-model').fill(model);
    await page.getByTestId('teach-api').selectOption('completions');
    await fillLean(page, { questions: 3, samples: 2 });
    gate!.allow = 3;
    await page.getByTestId('teach-generate').click();
    await poll(
      async () => {
        const refused = page.getByTestId('teach-problem');
        if (await refused.isVisible()) throw new Error(`the page refused: ${await refused.textContent()}`);
        return gate!.held === 1 && (await stored(page)).samples.length === 3 ? true : undefined;
      },
      60_000,
      'three samples stored and the fourth held',
    );

    // the teacher worker's script got the endpoint's origin in its policy, the page did not
    const origin = new URL(gate!.url).origin;
    const script = workers.find((u) => u.includes('teacher-worker') && u.includes('connect='));
    expect(script).toContain(`connect=${encodeURIComponent(origin)}`);
    const csp = (u: string): Promise<string> => fetch(u).then((r) => r.headers.get('content-security-policy') ?? '');
    expect(await csp(script!)).toMatch(new RegExp(`connect-src 'self' ${origin};`));
    expect(await csp(app!.url)).toMatch(/connect-src 'self';/);
    const bare = script!.split('?')[0];
    expect(await csp(`${bare}?connect=${encodeURIComponent(`${origin} https://evil.example`)}`)).toMatch(/connect-src 'self';/);
    expect(w.offOrigin.every((u) => u.startsWith(origin))).toBe(true);

    await page.reload();
    gate!.allow = Infinity;
    const askedBefore = gate!.asked;
    await openTeach(page);
    await page.getByTestId('teach-resume').click();
    await reportRows(page, 3);
    const s = await stored(page);
    expect(s.runs).toBe(1);
    expect(s.samples).toHaveLength(6);
    const keys = s.samples.map((x) => `${x.questionId}#${x.sample}`);
    expect(new Set(keys).size).toBe(6);
    for (const q of new Set(s.samples.map((x) => x.questionId)))
      expect(
        s.samples
          .filter((x) => x.questionId === q)
          .map((x) => x.sample)
          .sort(),
      ).toEqual([0, 1]);
    // only the three missing samples were asked again
    expect(gate!.asked - askedBefore).toBe(3);
    expect(await page.getByTestId('teach-totals').textContent()).toMatch(/^3 questions: 6 generated/);
    expect(await page.getByTestId('teach-resume').count()).toBe(0);
    expect(await bannerText(page)).toBe('');
    expect(w.problems).toEqual([]);
    await w.context.close();
  });

  it("(c) a server without CORS headers is refused before any sample, naming the server's own fix", { timeout: 60_000 }, async () => {
    const w = await openPage(browser!, app!.url);
    const page = w.page;
    await openTeach(page);
    await page.getByTestId('teach-preset').selectOption('llama-server');
    await page.getByTestId('teach-base-url').fill(closed!.url);
    await page.getByTestId('teach-model').fill(model);
    await fillLean(page, { questions: 2, samples: 2 });
    await page.getByTestId('teach-generate').click();
    const problem = page.getByTestId('teach-problem');
    await problem.waitFor({ state: 'visible', timeout: 30_000 });
    expect(await problem.getAttribute('data-kind')).toBe('cors');
    const text = (await problem.textContent()) ?? '';
    const origin = new URL(app!.url).origin;
    expect(text).toContain('CORS');
    expect(text).toContain(`--cors-origins ${origin}`);
    expect(await stored(page)).toEqual({ runs: 0, samples: [] });
    expect(await page.getByTestId('teach-progress').isHidden()).toBe(true);
    await shot(page, 'teach-cors.png');
    await w.context.close();
  });

  it("(d) a host that ignores ?connect= leaves the worker with connect-src 'self': the run stops with the CSP's own message", {
    timeout: 60_000,
  }, async () => {
    const w = await openPage(browser!, app!.url);
    const page = w.page;
    // the teacher worker's script as a static host without the rule serves it
    await w.context.route(/teacher-worker[^/]*\.js\?/, async (route) => {
      const r = await route.fetch();
      const headers = { ...r.headers() };
      headers['content-security-policy'] = headers['content-security-policy'].replace(/connect-src [^;]*/, "connect-src 'self'");
      headers['cross-origin-embedder-policy'] = 'require-corp';
      await route.fulfill({ response: r, headers });
    });
    await openTeach(page);
    await page.getByTestId('teach-base-url').fill(llama!.url);
    await page.getByTestId('teach-model').fill(model);
    await page.getByTestId('teach-check').click();
    const problem = page.getByTestId('teach-problem');
    await problem.waitFor({ state: 'visible', timeout: 30_000 });
    expect(await problem.getAttribute('data-kind')).toBe('csp');
    expect(await problem.textContent()).toContain('Content-Security-Policy');
    expect(await stored(page)).toEqual({ runs: 0, samples: [] });
    await w.context.close();
  });

  it('(e) Pause stops new requests (the one in flight is kept), Resume goes on to the end', { timeout: 60_000 }, async () => {
    const w = await openPage(browser!, app!.url);
    const page = w.page;
    await openTeach(page);
    await page.getByTestId('teach-base-url').fill(gate!.url);
    await page.getByTestId('teach-model').fill(model);
    await page.getByTestId('teach-api').selectOption('completions');
    await fillLean(page, { questions: 2, samples: 2 });
    const asked = gate!.asked;
    gate!.allow = asked + 1;
    gate!.held = 0;
    await page.getByTestId('teach-generate').click();
    await poll(async () => (gate!.held === 1 ? true : undefined), 30_000, 'the second request held');
    const pause = page.getByTestId('teach-pause');
    await pause.click();
    await pause.filter({ hasText: 'Resume' }).waitFor();
    gate!.allow = Infinity;
    gate!.release();
    // the request in flight when Pause was pressed is answered and kept; no new one is sent
    await page.getByTestId('teach-progress').filter({ hasText: '2 / 4 samples' }).waitFor({ timeout: 30_000 });
    expect(gate!.asked - asked).toBe(2);
    await pause.click();
    await reportRows(page, 2);
    expect(gate!.asked - asked).toBe(4);
    const s = await stored(page);
    expect(s.samples).toHaveLength(4);
    expect(await bannerText(page)).toBe('');
    await w.context.close();
  });
});
