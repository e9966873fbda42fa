// One backend, in its own process (WebGPU in Node needs Dawn's environment
// from process start): training throughput, dispatches, memory, decoding.
// Prints one JSON object on stdout (with `unavailable: true` when the
// backend can't be set up here: bench/node-rows.ts then tries SwiftShader).
// Used by bench/run.ts.
import { parseBackend, setupBackend } from '../src/cli/setup';
import type { PresetName } from '../src/core/config';
import { applyVariant, backendThreads, measureTraining, type TrainingResult } from './training';
import { parseShape } from '../support/synthetic';

const args = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const name = opt('backend', 'cpu'); // cpu, wasm, wasm-plain, webgpu, webgpu-unfused
const backend = parseBackend(applyVariant(name), 'cpu');
const presets = opt('presets', 'tiny').split(',') as PresetName[];
const steps = Number(opt('steps', '5'));
const decodeTokens = Number(opt('decode-tokens', '32'));
// the preset's bench shape unless given (QxT: the real-GPU script's dry run takes a small one)
const shape = args.includes('--shape') ? parseShape(opt('shape', '')) : undefined;

let info: Awaited<ReturnType<typeof setupBackend>>;
try {
  info = await setupBackend(backend);
} catch (e) {
  // the reason, without the CLI's advice on how to run on SwiftShader
  const error = (e as Error).message
    .split('; without a usable GPU driver')[0]
    .replace(/^backend \S+ is not available here \((.*)\)$/, '$1');
  process.stdout.write(`${JSON.stringify({ backend: name, error, unavailable: true })}\n`);
  process.exit(3);
}
const results: TrainingResult[] = [];
for (const preset of presets) results.push(await measureTraining(preset, backend, { steps, decodeTokens, shape }));
process.stdout.write(`${JSON.stringify({ backend: name, adapter: info.adapter ?? null, threads: backendThreads(), results })}\n`);
