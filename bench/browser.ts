// The browser half of the bench: Debian's Chromium (headless, SwiftShader
// WebGPU) runs bench/browser/ (training per backend, IndexedDB checkpoint
// save/load), and the built app is timed for main-thread long tasks while it
// trains on the demo data.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchBrowser, longFrames, longTasks, openPage, poll, readStep, serve } from '../support/browser';
import type { BrowserBenchResult } from './browser/worker';
import type { BackendRows, TrainingResult } from './training';
import { machineInfo } from './machine';

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

async function benchPage(
  browser: Browser,
  q: Record<string, string>,
  log: (s: string) => void,
): Promise<BrowserBenchResult | { error: string }> {
  const served = await serve('preview', { input: 'bench/browser/index.html', outDir: 'bench-dist' });
  try {
    const page = await browser.newPage();
    let last = '';
    page.on('console', (m) => void (m.type() === 'error' && log(`  (page) ${m.text()}`)));
    await page.goto(`${served.url}bench/browser/index.html?${new URLSearchParams(q)}`);
    return await poll(
      async () => {
        const s = await page.evaluate(() => {
          const w = window as unknown as { __bench?: unknown; __progress?: string[] };
          return { done: w.__bench, progress: w.__progress?.at(-1) };
        });
        if (s.progress && s.progress !== last) log(`  chromium ${(last = s.progress)}`);
        return s.done as BrowserBenchResult | { error: string } | undefined;
      },
      1_800_000,
      'the browser bench',
      1000,
    );
  } finally {
    await served.close();
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
    await page
      .getByTestId('train-stop')
      .click()
      .catch(() => undefined);
    await w.context.close();
    return { steps, seconds, longTasks: slow.length, longestMs: Math.max(0, ...slow.map((s) => s.duration)), longFrames: frames };
  } finally {
    await served.close();
  }
}

/** wasm on N threads against wasm on 1 in the same run, per preset: each
 * `wasm` (or `wasm-Nt`) row over the `wasm-1t` row measured last before it
 * (`--backends wasm-1t,wasm,wasm-1t,wasm` pairs them up on a machine whose
 * load drifts), by median ms per step. */
export interface ThreadSpeedup {
  preset: string;
  backend: string; // the threaded row
  threads: number;
  msPerStep1: number;
  msPerStepN: number;
  speedup: number; // msPerStep1 / msPerStepN
}

export function threadSpeedups(rows: BackendRows[]): ThreadSpeedup[] {
  const out: ThreadSpeedup[] = [];
  let one: TrainingResult[] | undefined;
  for (const r of rows) {
    if (!('results' in r)) continue;
    if (r.backend === 'wasm-1t') one = r.results;
    else if (one && /^wasm(-\d+t)?$/.test(r.backend) && r.threads != null && r.threads > 1)
      for (const x of r.results) {
        const base = one.find((b) => b.preset === x.preset);
        if (base)
          out.push({
            preset: x.preset,
            backend: r.backend,
            threads: r.threads,
            msPerStep1: base.msPerStep,
            msPerStepN: x.msPerStep,
            speedup: base.msPerStep / x.msPerStep,
          });
      }
  }
  return out;
}

export interface BrowserBenchOptions {
  backends: string[]; // webgpu, webgpu-unfused, wasm (one thread per core), wasm-1t (one thread), ...
  presets: string[]; // for the training rows
  checkpointPresets: string[]; // for IndexedDB save/load
  checkpointRepeats: number;
  steps: number;
  decodeTokens: number;
  appSteps: number; // 0: no app responsiveness run
}

export async function browserBench(o: BrowserBenchOptions, log: (s: string) => void): Promise<BrowserReport | { error: string }> {
  if (!chromiumAvailable()) return { error: 'no /usr/bin/chromium (apt-get install chromium)' };
  const browser = await launchBrowser();
  try {
    const bench = await benchPage(
      browser,
      {
        backends: o.backends.join(','),
        presets: o.presets.join(','),
        steps: String(o.steps),
        decode: String(o.decodeTokens),
        'ckpt-presets': o.checkpointPresets.join(','),
        ckpt: String(o.checkpointRepeats),
      },
      log,
    );
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

// `npx tsx bench/browser.ts [--backends wasm-1t,wasm] [--presets small] [--steps 5]`:
// only the Chromium training rows (no IndexedDB, no app run), e.g. wasm on 1
// thread against one per core; the report (with the machine's load) as JSON
// on stdout and in bench/results/.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const flag = (k: string, d: string): string => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 && args[i + 1] ? args[i + 1]! : d;
  };
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const started = new Date();
  const r = await browserBench(
    {
      backends: flag('backends', 'wasm-1t,wasm').split(','),
      presets: flag('presets', 'tiny').split(',') as BrowserBenchOptions['presets'],
      checkpointPresets: [],
      checkpointRepeats: 0,
      steps: Number(flag('steps', '5')),
      decodeTokens: Number(flag('decode', '8')),
      appSteps: 0,
    },
    log,
  );
  const rows = 'bench' in r && 'backends' in r.bench ? r.bench.backends : [];
  for (const b of rows) {
    if (!('results' in b)) log(`${b.backend}: ${b.error}`);
    else
      for (const x of b.results)
        log(
          `${b.backend.padEnd(10)} ${x.preset.padEnd(6)} ${x.msPerStep.toFixed(0).padStart(6)} ms/step (median of ${x.msPerStepAll.length}: ${x.msPerStepAll.map((m) => m.toFixed(0)).join(', ')})  ${x.tokensPerSecond.toFixed(0)} tok/s${b.threads ? `  ${b.threads} thread${b.threads === 1 ? '' : 's'}${b.threadsReason ? ` (${b.threadsReason})` : ''}` : ''}`,
        );
  }
  for (const t of threadSpeedups(rows))
    log(
      `wasm ${t.threads} threads / 1 thread, ${t.preset}: ${t.speedup.toFixed(2)}x (${t.msPerStep1.toFixed(0)} -> ${t.msPerStepN.toFixed(0)} ms/step)`,
    );
  if ('error' in r) log(`chromium: ${r.error}`);
  const report = {
    date: started.toISOString(),
    machine: machineInfo(),
    args,
    ...r,
    threadSpeedups: threadSpeedups(rows),
  };
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${started.toISOString().slice(0, 19).replace(/[:T]/g, '-')}-${os.hostname()}-chromium.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 1)}\n`);
  log(
    `report: ${path.relative(process.cwd(), file)} (load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(', ')})`,
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
