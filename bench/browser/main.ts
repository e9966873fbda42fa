// The browser bench page: runs bench/browser/worker.ts (the same training
// core as the app's worker), a fresh worker per backend so that a backend
// that takes its worker down costs only its own row, and leaves the result
// on window for bench/browser.ts to read. Parameters come from the query
// string, all set by bench/browser.ts.
import type { BrowserBenchRequest, BrowserBenchResult } from './worker';
import type { BackendRows } from '../training';

type Presets = BrowserBenchRequest['presets'];
const q = new URLSearchParams(location.search);
const list = (k: string): string[] => (q.get(k) ?? '').split(',').filter(Boolean);

const out = window as unknown as { __bench?: BrowserBenchResult | { error: string }; __progress: string[] };
out.__progress = [];
const status = document.getElementById('status')!;

function run<T>(req: BrowserBenchRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<{ progress?: string; done?: T; error?: string }>) => {
      if (e.data.progress) {
        out.__progress.push(e.data.progress);
        status.textContent = e.data.progress;
      }
      if (e.data.done) resolve(e.data.done);
      if (e.data.error) reject(new Error(e.data.error));
      if (e.data.done || e.data.error) worker.terminate();
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(e.message || 'the worker failed'));
    };
    worker.postMessage(req);
  });
}

async function main(): Promise<BrowserBenchResult> {
  const all: BrowserBenchResult = { userAgent: navigator.userAgent, backends: [], indexedDb: {} };
  const train = { presets: list('presets') as Presets, steps: Number(q.get('steps')), decodeTokens: Number(q.get('decode')) };
  for (const backend of list('backends')) {
    all.backends.push(await run<BackendRows>({ kind: 'train', backend, ...train }).catch((e: Error) => ({ backend, error: e.message })));
  }
  try {
    // IndexedDB timings need no training, so they cover every preset of the run
    all.indexedDb = await run({ kind: 'indexeddb', presets: list('ckpt-presets') as Presets, repeats: Number(q.get('ckpt')) });
  } catch (e) {
    all.indexedDbError = (e as Error).message;
  }
  return all;
}

main().then(
  (r) => void (out.__bench = r),
  (e: Error) => void (out.__bench = { error: e.message }),
);
