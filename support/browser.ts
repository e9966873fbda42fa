// The headless-Chromium harness that the e2e tests and the bench share:
// builds the app (once per run: reused while no source
// file is newer than the build), serves it on http://127.0.0.1:<free port>
// with vite preview (or the dev server), and drives Debian's Chromium with
// real WebGPU on SwiftShader. Pages record console errors, page errors, CSP
// violations and any request that leaves the app's origin.

import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build, createServer, preview } from 'vite';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const DIST = path.join(ARTIFACTS, 'e2e-dist');
export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--no-sandbox',
  '--headless',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-vulkan-surface',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = netServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function newestMtime(p: string): number {
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const name of readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, name)));
  return newest;
}

/** What to build: the app (index.html) by default, or another page of the
 * repository (the browser bench), each into its own folder. */
export interface BuildOptions {
  input?: string; // an HTML entry, relative to the repository root
  outDir?: string; // under test-artifacts
}

/** Builds into test-artifacts/<outDir> unless an up-to-date build is there. */
export async function buildApp(o: BuildOptions = {}): Promise<string> {
  const dist = o.outDir ? path.join(ARTIFACTS, o.outDir) : DIST;
  const stamp = path.join(dist, '.built-at');
  const sources = [
    'src',
    'public',
    'index.html',
    'vite.config.ts',
    'package.json',
    ...(o.input ? [path.dirname(o.input), 'bench', 'support'] : []),
  ]
    .map((p) => path.join(ROOT, p))
    .filter((p) => existsSync(p));
  const newest = Math.max(...sources.map(newestMtime));
  if (existsSync(stamp) && statSync(stamp).mtimeMs > newest) return dist;
  const input = o.input ? { rollupOptions: { input: path.join(ROOT, o.input) } } : {};
  await build({ root: ROOT, logLevel: 'warn', build: { outDir: dist, emptyOutDir: true, ...input } });
  mkdirSync(dist, { recursive: true });
  writeFileSync(stamp, new Date().toISOString());
  return dist;
}

/** Polls `f` until it returns a value (not undefined), or throws after
 * `timeoutMs` naming `what`. */
export async function poll<T>(f: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface Served {
  url: string;
  close(): Promise<void>;
  /** The URLs of the requests that reached /__e2e/hang, oldest first: an
   * endpoint that never answers (until close). A worker's synchronous XHR to
   * it blocks that worker's thread without using the CPU, e.g. to hold it in
   * the middle of a save; its query string can say what was held. */
  hangRequests(): string[];
}

import type { ServerResponse } from 'node:http';
import type { Plugin } from 'vite';

function hangPlugin(): { plugin: Plugin; requests: () => string[]; release: () => void } {
  const waiting: ServerResponse[] = [];
  const urls: string[] = [];
  const handler = (req: { url?: string }, res: ServerResponse): void => {
    urls.push(req.url ?? '');
    waiting.push(res);
  };
  return {
    plugin: {
      name: 'e2e-hang',
      configureServer: (server) => void server.middlewares.use('/__e2e/hang', handler),
      configurePreviewServer: (server) => void server.middlewares.use('/__e2e/hang', handler),
    },
    requests: () => urls.slice(),
    release: () => {
      for (const r of waiting.splice(0)) r.destroy();
    },
  };
}

export async function serve(mode: 'preview' | 'dev', build: BuildOptions = {}): Promise<Served> {
  const port = await freePort();
  const hang = hangPlugin();
  if (mode === 'dev') {
    const server = await createServer({
      root: ROOT,
      logLevel: 'warn',
      plugins: [hang.plugin],
      server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
    });
    await server.listen();
    return { url: `http://127.0.0.1:${port}/`, hangRequests: hang.requests, close: () => (hang.release(), server.close()) };
  }
  const outDir = await buildApp(build);
  const server = await preview({
    root: ROOT,
    logLevel: 'warn',
    plugins: [hang.plugin],
    build: { outDir },
    preview: { host: '127.0.0.1', port, strictPort: true },
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    hangRequests: hang.requests,
    close: () =>
      new Promise<void>((resolve) => {
        hang.release();
        server.httpServer.close(() => resolve());
      }),
  };
}

/** Without the flags that give headless Chromium its SwiftShader WebGPU
 * adapter: what a browser without WebGPU looks like to the app. */
const NO_WEBGPU = FLAGS.filter((f) => f !== '--enable-unsafe-webgpu' && !f.startsWith('--use-webgpu-adapter')).concat(
  '--disable-features=WebGPU',
);

export function launchBrowser(o: { webgpu?: boolean } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: o.webgpu === false ? NO_WEBGPU : FLAGS, headless: true });
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught page errors, CSP violations. */
  problems: string[];
  /** Requests to anything but the app's origin (data:/blob: excluded). */
  offOrigin: string[];
  /** Every console line, for debugging a failure. */
  log: string[];
}

export async function openPage(browser: Browser, url: string, context?: BrowserContext): Promise<WatchedPage> {
  const ctx = context ?? (await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true }));
  const page = await ctx.newPage();
  const origin = new URL(url).origin;
  const w: WatchedPage = { context: ctx, page, problems: [], offOrigin: [], log: [] };
  page.on('console', (m) => {
    const line = `${m.type()}: ${m.text()}`;
    w.log.push(line);
    if (m.type() === 'error') w.problems.push(line);
  });
  page.on('pageerror', (e) => w.problems.push(`pageerror: ${e.message}`));
  page.on('worker', (worker) =>
    worker.on('console', (m) => {
      const line = `worker ${m.type()}: ${m.text()}`;
      w.log.push(line);
      if (m.type() === 'error') w.problems.push(line);
    }),
  );
  ctx.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) w.offOrigin.push(u);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    // Main-thread tasks over 50 ms, for the responsiveness report (not an
    // assertion: timings on a shared machine are not test material).
    const w = window as unknown as { __longTasks: { start: number; duration: number }[] };
    w.__longTasks = [];
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    } catch {
      // no longtask support: the report says so by being empty
    }
    // Long animation frames name the scripts that made them (Chromium 123+).
    const l = window as unknown as { __longFrames: { start: number; duration: number; scripts: string[] }[] };
    l.__longFrames = [];
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries() as (PerformanceEntry & {
          scripts?: { invoker: string; sourceFunctionName: string; sourceURL: string; duration: number }[];
        })[]) {
          l.__longFrames.push({
            start: e.startTime,
            duration: e.duration,
            scripts: (e.scripts ?? []).map(
              (x) => `${x.invoker} ${x.sourceFunctionName} ${x.sourceURL.split('/').pop()} ${Math.round(x.duration)} ms`,
            ),
          });
        }
      }).observe({ type: 'long-animation-frame', buffered: true });
    } catch {
      // not supported
    }
  });
  await page.goto(url);
  return w;
}

/** Long animation frames (over 50 ms) since `since`, with their scripts. */
export async function longFrames(page: Page, since = 0): Promise<{ start: number; duration: number; scripts: string[] }[]> {
  return page.evaluate(
    (t) =>
      (window as unknown as { __longFrames: { start: number; duration: number; scripts: string[] }[] }).__longFrames.filter(
        (e) => e.start >= t,
      ),
    since,
  );
}

/** Long main-thread tasks (over 50 ms) since `since` (performance.now()). */
export async function longTasks(page: Page, since = 0): Promise<{ start: number; duration: number }[]> {
  return page.evaluate(
    (t) => (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks.filter((e) => e.start >= t),
    since,
  );
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Writes a test file under test-artifacts and returns its path. */
export function writeArtifact(name: string, text: string | Uint8Array): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  writeFileSync(file, text);
  return file;
}

/** The step counter's first number ("12 / 200" -> 12). */
export async function readStep(page: Page): Promise<number> {
  const t = (await page.getByTestId('train-step').textContent()) ?? '';
  const m = /\d+/.exec(t);
  return m ? Number(m[0]) : NaN;
}

/** The training status readout ("running", "paused: …", "done", "failed: …"). */
export async function trainStatus(page: Page): Promise<string> {
  return (await page.getByTestId('train-status').textContent()) ?? '';
}

/** The current run's [step, loss] pairs (the loss readout's data-history). */
export async function losses(page: Page): Promise<[number, number][]> {
  return JSON.parse((await page.getByTestId('train-loss').getAttribute('data-history')) ?? '[]') as [number, number][];
}
