// The browser half of the bench: Debian's Chromium (headless, SwiftShader
// WebGPU) runs bench/browser/ (training per backend, IndexedDB checkpoint
// save/load), and the built app is timed for main-thread long tasks while it
// trains on the demo data. The bench page is served cross-origin isolated
// (COOP/COEP) so that tfjs-backend-wasm may use its threaded build.
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { build, preview } from 'vite';
import { ARTIFACTS, ROOT, chromiumAvailable, freePort, launchBrowser, longFrames, longTasks, openPage, readStep, serve } from '../test/e2e/harness';
import type { BrowserBenchResult } from './browser/worker';

const ISOLATED = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export interface Responsiveness {
  steps: number;
  seconds: number;
  longTasks: number; // main-thread tasks over 50 ms while training
  longestMs: number;
  /** Long animation frames while training, with the scripts that ran in them. */
  longFrames: { start: number; duration: number; scripts: string[] }[];
}

export interface BrowserReport {
  bench: BrowserBenchResult | { error: string };
  app?: Responsiveness | { error: string };
}

async function poll<T>(f: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function benchPage(browser: Browser, q: Record<string, string>, log: (s: string) => void): Promise<BrowserBenchResult | { error: string }> {
  const outDir = path.join(ARTIFACTS, 'bench-dist');
  await build({ root: ROOT, logLevel: 'warn', build: { outDir, emptyOutDir: true, rollupOptions: { input: path.join(ROOT, 'bench/browser/index.html') } } });
  const port = await freePort();
  const server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true, headers: ISOLATED } });
  try {
    const page = await browser.newPage();
    let last = '';
    page.on('console', (m) => void (m.type() === 'error' && log(`  (page) ${m.text()}`)));
    await page.goto(`http://127.0.0.1:${port}/bench/browser/index.html?${new URLSearchParams(q)}`);
    return await poll(async () => {
      const s = await page.evaluate(() => {
        const w = window as unknown as { __bench?: unknown; __progress?: string[] };
        return { done: w.__bench, progress: w.__progress?.at(-1) };
      });
      if (s.progress && s.progress !== last) log(`  chromium ${(last = s.progress)}`);
      return s.done as BrowserBenchResult | { error: string } | undefined;
    }, 1_800_000, 'the browser bench');
  } finally {
    await new Promise<void>((r) => server.httpServer.close(() => r()));
  }
}

/** The app on its demo data, tiny preset: long main-thread tasks while it trains. */
async function appResponsiveness(browser: Browser, steps: number): Promise<Responsiveness> {
  const served = await serve('preview');
  try {
    const w = await openPage(browser, served.url);
    const { page } = w;
    await page.getByTestId('use-demo').click();
    await page.getByTestId('data-report').getByText('Questions for training').waitFor({ timeout: 120_000 });
    await page.getByTestId('steps').fill(String(steps + 2));
    const since = await page.evaluate(() => performance.now());
    await poll(async () => ((await page.getByTestId('train-start').isEnabled()) ? true : undefined), 60_000, 'the start button');
    await page.getByTestId('train-start').click();
    const t0 = Date.now();
    await poll(async () => ((await readStep(page)) >= steps ? true : undefined), 900_000, `step ${steps}`);
    const seconds = (Date.now() - t0) / 1000;
    const slow = await longTasks(page, since);
    const frames = await longFrames(page, since);
    await page.getByTestId('train-stop').click().catch(() => undefined);
    await w.context.close();
    return { steps, seconds, longTasks: slow.length, longestMs: Math.max(0, ...slow.map((s) => s.duration)), longFrames: frames };
  } finally {
    await served.close();
  }
}

export async function browserBench(o: { presets: string[]; checkpointPresets: string[]; steps: number; backends: string[]; appSteps: number }, log: (s: string) => void): Promise<BrowserReport | { error: string }> {
  if (!chromiumAvailable()) return { error: 'no /usr/bin/chromium (apt-get install chromium)' };
  const browser = await launchBrowser();
  try {
    const bench = await benchPage(browser, { presets: o.presets.join(','), 'ckpt-presets': o.checkpointPresets.join(','), steps: String(o.steps), backends: o.backends.join(',') }, log);
    let app: BrowserReport['app'];
    if (o.appSteps > 0) {
      log('  chromium: the app training on the demo data (long tasks)');
      app = await appResponsiveness(browser, o.appSteps).catch((e: Error) => ({ error: e.message }));
    }
    return { bench, app };
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    await browser.close();
  }
}
