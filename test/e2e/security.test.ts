// The security headers, in real Chromium: the app (vite preview, and the
// dev server) sends its Content-Security-Policy and friends as HTTP headers
// on every response, so the policy also binds the module worker (a <meta>
// policy does not reach a worker: the worker's own response headers do) and
// can forbid framing (frame-ancestors works only as a header). Other origins
// here are only other ports of 127.0.0.1, served by this test.

import { readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClean, waitFor } from './checks';
import { ARTIFACTS, chromiumAvailable, CHROMIUM, freePort, launchBrowser, openPage, serve, type Served } from '../../support/browser';

const available = chromiumAvailable();
if (!available) console.warn(`[e2e] skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

// Its own build folder: the other browser tests' build may be in use.
const OUT_DIR = 'e2e-security-dist';

/** The policy the built app must be served with (README, "Hosting"). */
const POLICY: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'worker-src': ["'self'", 'blob:'],
  'connect-src': ["'self'"],
  'img-src': ["'self'", 'data:', 'blob:'],
  'style-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
};
const OTHER_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

function parseCsp(header: string | null): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of (header ?? '').split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = sources;
  }
  return out;
}

function expectHeaders(res: Response, what: string, policy = POLICY): void {
  expect(res.status, what).toBe(200);
  expect(parseCsp(res.headers.get('content-security-policy')), `${what}: Content-Security-Policy`).toEqual(policy);
  for (const [name, value] of Object.entries(OTHER_HEADERS)) expect(res.headers.get(name), `${what}: ${name}`).toBe(value);
}

/** A server on another loopback port (another origin): counts the requests
 * that reach it, answers fetches (CORS-enabled, so only the CSP can stop
 * them) and serves a page that frames `frameUrl`. */
async function otherOrigin(frameUrl: string): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  const port = await freePort();
  let hits = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/frame.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>framer</title><iframe id="app" src="${frameUrl}" width="800" height="600"></iframe>`);
      return;
    }
    hits += 1;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
    });
    res.end('pong');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/`, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) };
}

/** A module worker that fetches what it is sent and says what happened. */
const PROBE = `
const violations = [];
self.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective + ' ' + e.blockedURI));
self.onmessage = async (e) => {
  const out = {};
  for (const [k, u] of Object.entries(e.data)) {
    try {
      const r = await fetch(u, { cache: 'no-store' });
      out[k] = 'ok ' + r.status;
    } catch (err) {
      out[k] = 'failed: ' + err;
    }
  }
  await new Promise((r) => setTimeout(r, 500)); // the violation event is queued as a task
  out.violations = violations;
  self.postMessage(out);
};
`;

describe.skipIf(!available)('security headers from vite preview, in Chromium', () => {
  let served: Served;
  let browser: Browser;
  let other: Awaited<ReturnType<typeof otherOrigin>>;
  let workerChunk: string;

  beforeAll(async () => {
    served = await serve('preview', { outDir: OUT_DIR });
    const chunks = readdirSync(path.join(ARTIFACTS, OUT_DIR, 'assets')).filter((f) => /^worker-.*\.js$/.test(f));
    expect(chunks).toHaveLength(1);
    workerChunk = `${served.url}assets/${chunks[0]}`;
    other = await otherOrigin(served.url);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await other?.close();
    await served?.close();
  });

  it('sends the headers with the page, the worker script and the other assets', async () => {
    expectHeaders(await fetch(served.url), 'the page');
    expectHeaders(await fetch(workerChunk), 'the worker script');
    expectHeaders(await fetch(`${served.url}demo/train.jsonl`), 'the demo data');
    expectHeaders(await fetch(`${served.url}favicon.svg`), 'a public file');
  });

  it('the app works under them: the worker starts, the demo data loads, the wasm backend compiles, no CSP violation', async () => {
    const w = await openPage(browser, served.url);
    const { page } = w;
    await page
      .getByTestId('backend')
      .filter({ hasText: /^backend: (webgpu|webgl|wasm|cpu)/ })
      .waitFor({ timeout: 120_000 });
    expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
    await page.getByTestId('use-demo').click();
    await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
    await waitFor('Start enabled', () => page.getByTestId('train-start').isEnabled(), 30_000, 250, page);
    // the wasm backend: the worker fetches its .wasm and compiles it under
    // the worker's own policy (connect-src 'self', 'wasm-unsafe-eval')
    await page.getByTestId('backend-select').selectOption('wasm');
    await page
      .getByTestId('backend')
      .filter({ hasText: /^backend: wasm/ })
      .waitFor({ timeout: 120_000 });
    await expectClean(w);
    await w.context.close();
  });

  it("a worker served under the app's headers cannot reach another origin", async () => {
    // The probe is a file of the served folder, so vite preview serves it
    // the way it serves the app's worker chunk (a worker script fulfilled by
    // playwright's request interception can't fetch across origins at all,
    // so it would prove nothing).
    writeFileSync(path.join(ARTIFACTS, OUT_DIR, 'assets', 'csp-probe.js'), PROBE);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(served.url); // the app's page (before the headers: with its <meta> policy only)
    const result = await page.evaluate(
      ({ src, urls }) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const worker = new Worker(src, { type: 'module' });
          worker.onerror = (e) => reject(new Error(`probe worker failed: ${e.message}`));
          worker.onmessage = (e) => resolve(e.data as Record<string, unknown>);
          worker.postMessage(urls);
          setTimeout(() => reject(new Error('probe worker did not answer')), 30_000);
        }),
      { src: `${served.url}assets/csp-probe.js`, urls: { same: `${served.url}favicon.svg`, cross: `${other.url}ping` } },
    );
    await context.close();
    expect(result.same, 'a same-origin fetch works (the probe runs)').toBe('ok 200');
    expect(result.cross, 'the cross-origin fetch is refused').toMatch(/^failed: TypeError/);
    expect(result.violations).toEqual([`connect-src ${other.url}ping`]);
    expect(other.hits(), 'no request reached the other origin').toBe(0);
  });

  it('refuses to be framed by another origin', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const log: string[] = [];
    page.on('console', (m) => log.push(m.text()));
    await page.goto(`${other.url}frame.html`);
    const frame = await waitFor(
      'the framed app to load or be refused',
      async () => {
        const f = page.frames().find((x) => x !== page.mainFrame());
        if (!f) return false;
        if (f.url().startsWith('chrome-error:')) return true;
        return (
          (await f
            .locator('[data-testid="use-demo"]')
            .count()
            .catch(() => 0)) > 0
        );
      },
      60_000,
    ).then(() => page.frames().find((x) => x !== page.mainFrame())!);
    const framedUrl = frame.url();
    await context.close();
    expect(framedUrl, 'the frame shows an error page instead of the app').toMatch(/^chrome-error:/);
    expect(log.join('\n')).toMatch(/frame-ancestors 'none'/);
  });
});

describe('security headers from the vite dev server', () => {
  it('sends them with the page and the worker script (inline styles allowed for dev CSS injection)', async () => {
    const dev = await serve('dev');
    try {
      const devPolicy = { ...POLICY, 'style-src': ["'self'", "'unsafe-inline'"] };
      expectHeaders(await fetch(dev.url), 'the dev page', devPolicy);
      expectHeaders(await fetch(`${dev.url}src/worker/worker.ts?worker_file&type=module`), 'the dev worker script', devPolicy);
    } finally {
      await dev.close();
    }
  });
});
