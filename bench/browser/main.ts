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
const out = window as unknown as { __bench?: BrowserBenchResult | { error: string }; __progress: string[] };
out.__progress = [];
const status = document.getElementById('status')!;
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
worker.onmessage = (e: MessageEvent<{ progress?: string; done?: BrowserBenchResult; error?: string }>) => {
  if (e.data.progress) {
    out.__progress.push(e.data.progress);
    status.textContent = e.data.progress;
  }
  if (e.data.done) out.__bench = e.data.done;
  if (e.data.error) out.__bench = { error: e.data.error };
};
worker.onerror = (e) => void (out.__bench = { error: e.message });
worker.postMessage({ ...req, crossOriginIsolated: self.crossOriginIsolated });
