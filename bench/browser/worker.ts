// Browser bench worker: one backend's training measurements (WebGPU with and
// without our fused kernels, wasm), or IndexedDB checkpoint save/load per
// preset, in the browser the app runs in. Results go back as plain data.
import '../../src/worker/wasm-assets';
import { setBackend, setWasmThreads } from '../../src/core/backend';
import type { PresetName } from '../../src/core/config';
import { MAX_WASM_THREADS } from '../../src/core/records';
import { CheckpointStore } from '../../src/checkpoint/store';
import { applyVariant, measureTraining, type BackendRows, type TrainingResult } from '../training';
import { benchTrainer, median } from '../../support/synthetic';

/** What one worker does (main.ts starts a fresh one for each request). */
export type BrowserBenchRequest =
  | { kind: 'train'; backend: string; presets: PresetName[]; steps: number; decodeTokens: number } // webgpu, webgpu-unfused, wasm, wasm-1t, ...
  | { kind: 'indexeddb'; presets: PresetName[]; repeats: number };

export type IndexedDbTimes = { bytes: number; saveMs: number; loadMs: number; saveMsAll: number[]; loadMsAll: number[] };

export interface BrowserBenchResult {
  userAgent: string;
  backends: BackendRows[];
  indexedDb: Record<string, IndexedDbTimes>;
  indexedDbError?: string;
}

const progress = (s: string): void => postMessage({ progress: s });

async function indexedDbTimes(preset: PresetName, repeats: number): Promise<IndexedDbTimes> {
  const t = await benchTrainer(preset);
  const state = await t.snapshot();
  t.dispose();
  const name = `mcckd-bench-${preset}`;
  const store = await CheckpointStore.open(name, { retention: { keepAuto: repeats + 1 } });
  const run = await store.createRun({
    name: 'bench',
    modelConfig: state.modelConfig,
    trainConfig: state.trainConfig,
    tokenizer: state.tokenizer,
    datasetFingerprint: 'bench',
  });
  const save: number[] = [];
  const load: number[] = [];
  let bytes = 0;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    const meta = await store.saveCheckpoint(run.id, { ...state, step: i + 1 }, 'auto');
    save.push(performance.now() - t0);
    bytes = meta.bytes;
    const t1 = performance.now();
    await store.loadCheckpoint(meta.id); // includes the checksum check
    load.push(performance.now() - t1);
  }
  await store.deleteRun(run.id);
  store.close();
  await new Promise<void>((resolve) => {
    const r = indexedDB.deleteDatabase(name);
    r.onsuccess = r.onerror = r.onblocked = () => resolve();
  });
  return { bytes, saveMs: median(save), loadMs: median(load), saveMsAll: save, loadMsAll: load };
}

async function train(req: Extract<BrowserBenchRequest, { kind: 'train' }>): Promise<BackendRows> {
  progress(`${req.backend}: setting up`);
  const backend = applyVariant(req.backend);
  // `wasm-1t`, `wasm-4t`: that many wasm threads; plain `wasm`: one per
  // logical core (the page's auto is one per two: this row measures threads)
  const threads = /-(\d+)t$/.exec(req.backend);
  setWasmThreads(threads ? Number(threads[1]) : Math.max(1, Math.min(MAX_WASM_THREADS, navigator.hardwareConcurrency || 1)));
  const info = await setBackend(backend);
  if (info.fellBackFrom) throw new Error(`fell back to ${info.backend}: ${info.reason}`);
  const results: TrainingResult[] = [];
  for (const p of req.presets) {
    progress(`${req.backend}: ${p}`);
    results.push(await measureTraining(p, backend, { steps: req.steps, decodeTokens: req.decodeTokens }));
  }
  return {
    backend: req.backend,
    adapter: info.adapter ?? null,
    ...(info.threads ? { threads: info.threads.count, ...(info.threads.reason ? { threadsReason: info.threads.reason } : {}) } : {}),
    results,
  };
}

onmessage = async (e: MessageEvent<BrowserBenchRequest>) => {
  const req = e.data;
  try {
    if (req.kind === 'train') {
      postMessage({ done: await train(req) });
    } else {
      await setBackend('cpu'); // the snapshot's backend does not matter for IndexedDB
      const times: Record<string, IndexedDbTimes> = {};
      for (const p of req.presets) {
        progress(`IndexedDB ${p}`);
        times[p] = await indexedDbTimes(p, req.repeats);
      }
      postMessage({ done: times });
    }
  } catch (err) {
    postMessage({ error: (err as Error).message });
  }
};
