// The browser bench page: runs bench/browser/worker.ts (the same training
// core as the app's worker) and leaves the result on window for
// bench/browser.ts to read. Parameters come from the query string.
import type { BrowserBenchRequest, BrowserBenchResult } from './worker';

const q = new URLSearchParams(location.search);
const req: BrowserBenchRequest = {
  backends: (q.get('backends') ?? 'webgpu,webgpu-unfused,wasm').split(','),
  presets: (q.get('presets') ?? 'tiny').split(',') as BrowserBenchRequest['presets'],
  steps: Number(q.get('steps') ?? '3'),
  decodeTokens: Number(q.get('decode') ?? '16'),
  checkpointRepeats: Number(q.get('ckpt') ?? '3'),
};
// IndexedDB timings need no training, so they cover every preset of the run
const ckptPresets = (q.get('ckpt-presets') ?? req.presets.join(',')).split(',') as BrowserBenchRequest['presets'];
const out = window as unknown as { __bench?: BrowserBenchResult | { error: string }; __progress: string[] };
out.__progress = [];
const status = document.getElementById('status')!;

/** One worker per part: a backend that takes its worker down costs only
 * its own row. */
function part(r: BrowserBenchRequest): Promise<BrowserBenchResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<{ progress?: string; done?: BrowserBenchResult; error?: string }>) => {
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
    worker.postMessage({ ...r, crossOriginIsolated: self.crossOriginIsolated });
  });
}

async function main(): Promise<BrowserBenchResult> {
  const all: BrowserBenchResult = { userAgent: navigator.userAgent, crossOriginIsolated: self.crossOriginIsolated, backends: [], indexedDb: {} };
  for (const b of req.backends) {
    try {
      all.backends.push(...(await part({ ...req, backends: [b], checkpointRepeats: 0 })).backends);
    } catch (e) {
      all.backends.push({ backend: b, error: (e as Error).message });
    }
  }
  try {
    all.indexedDb = (await part({ ...req, presets: ckptPresets, backends: [] })).indexedDb;
  } catch (e) {
    all.indexedDbError = (e as Error).message;
  }
  return all;
}

main().then(
  (r) => void (out.__bench = r),
  (e: Error) => void (out.__bench = { error: e.message }),
);
