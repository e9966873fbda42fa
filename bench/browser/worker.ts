// Browser bench worker: training throughput per backend (WebGPU with and
// without our fused kernels, wasm) and IndexedDB checkpoint save/load per
// preset, in the browser the app runs in. Results go back as plain data.
import '../../src/core/gradients-browser';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import { setBackend, setWasmPaths } from '../../src/core/backend';
import { DEFAULT_TRAIN, PRESETS, type BackendName, type PresetName } from '../../src/core/config';
import { setFusedKernels } from '../../src/core/fused/ops';
import { Trainer } from '../../src/core/trainer';
import { CheckpointStore } from '../../src/checkpoint/store';
import { measureTraining, type TrainingResult } from '../training';
import { byteTokenizer, median } from '../synthetic';

export interface BrowserBenchRequest {
  backends: string[]; // webgpu, webgpu-unfused, wasm, cpu
  presets: PresetName[];
  steps: number;
  decodeTokens: number;
  checkpointRepeats: number;
}

export interface BrowserBenchResult {
  userAgent: string;
  crossOriginIsolated: boolean;
  backends: ({ backend: string; adapter: string | null; wasmThreads?: number; results: TrainingResult[] } | { backend: string; error: string })[];
  indexedDb: Record<string, { bytes: number; saveMs: number; loadMs: number; saveMsAll: number[]; loadMsAll: number[] }>;
  indexedDbError?: string;
}

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

const progress = (s: string): void => postMessage({ progress: s });

async function indexedDbTimes(preset: PresetName, repeats: number): Promise<BrowserBenchResult['indexedDb'][string]> {
  const vocab = PRESETS[preset].vocabSize;
  const trainConfig = { ...DEFAULT_TRAIN, preset, vocabSize: vocab };
  const t = await Trainer.create({ groups: [], trainConfig, datasetFingerprint: 'bench', tokenizer: byteTokenizer(vocab) });
  const state = await t.snapshot();
  t.dispose();
  const name = `mcckd-bench-${preset}`;
  const store = await CheckpointStore.open(name, { retention: { keepAuto: repeats + 1 } });
  const run = await store.createRun({ name: 'bench', modelConfig: state.modelConfig, trainConfig, tokenizer: state.tokenizer, datasetFingerprint: 'bench' });
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

onmessage = async (e: MessageEvent<BrowserBenchRequest & { crossOriginIsolated: boolean }>) => {
  const req = e.data;
  const result: BrowserBenchResult = { userAgent: navigator.userAgent, crossOriginIsolated: req.crossOriginIsolated, backends: [], indexedDb: {} };
  try {
    for (const b of req.backends) {
      const [name, variant] = b.split('-') as [BackendName, string | undefined];
      try {
        progress(`${b}: setting up`);
        const info = await setBackend(name);
        if (info.fellBackFrom) throw new Error(`fell back to ${info.backend}: ${info.reason}`);
        setFusedKernels(variant !== 'unfused');
        const results: TrainingResult[] = [];
        for (const p of req.presets) {
          progress(`${b}: ${p}`);
          results.push(await measureTraining(p, name, { steps: req.steps, decodeTokens: req.decodeTokens }));
        }
        const threads = name === 'wasm' ? (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount() : undefined;
        result.backends.push({ backend: b, adapter: info.adapter ?? null, ...(threads !== undefined ? { wasmThreads: threads } : {}), results });
      } catch (err) {
        result.backends.push({ backend: b, error: (err as Error).message });
      }
    }
    setFusedKernels(true);
    if (req.checkpointRepeats > 0) await setBackend('cpu'); // the snapshot's backend does not matter for IndexedDB
    for (const p of req.checkpointRepeats > 0 ? req.presets : []) {
      progress(`IndexedDB ${p}`);
      result.indexedDb[p] = await indexedDbTimes(p, req.checkpointRepeats);
    }
    postMessage({ done: result });
  } catch (err) {
    postMessage({ error: `${(err as Error).message} (${tf.getBackend()})` });
  }
};
