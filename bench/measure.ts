// One backend, in its own process (WebGPU in Node needs Dawn's environment
// from process start): training throughput, dispatches, memory, decoding.
// Prints one JSON object on stdout. Used by bench/run.ts.
import { parseBackend, setupBackend } from '../src/cli/setup';
import type { PresetName } from '../src/core/config';
import { setFusedKernels } from '../src/core/fused/ops';
import { setExplicitTransposes } from '../src/core/ops';
import { measureTraining, type TrainingResult } from './training';

const args = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const backend = parseBackend(opt('backend', 'cpu'), 'cpu');
const fused = opt('fused', '1') !== '0';
// --plain-matmul: wasm without matMul2d's explicit transposes (for a side-by-side figure)
const plainMatMul = args.includes('--plain-matmul');
const presets = opt('presets', 'tiny').split(',') as PresetName[];
const steps = Number(opt('steps', '5'));
const decodeTokens = Number(opt('decode-tokens', '32'));

const info = await setupBackend(backend);
setFusedKernels(fused);
setExplicitTransposes(!plainMatMul);
const results: TrainingResult[] = [];
for (const preset of presets) results.push(await measureTraining(preset, backend, { steps, decodeTokens }));
const name = info.backend + (info.backend === 'webgpu' && !fused ? '-unfused' : '') + (info.backend === 'wasm' && plainMatMul ? '-plain' : '');
process.stdout.write(`${JSON.stringify({ backend: name, adapter: info.adapter ?? null, results })}\n`);
