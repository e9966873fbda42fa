// `npm run bench [-- --quick] [--backends cpu,wasm,webgpu] [--presets tiny,small] [--steps N] [--browser | --no-browser] [--browser-presets tiny] [--browser-backends webgpu,wasm-1t,wasm]`
// `[--pretrained] [--pretrained-models ...] [--pretrained-backends ...] [--pretrained-steps N]`: bench/pretrained.ts
// Prints a readable table on stderr and the JSON report on stdout, and keeps
// the report in bench/results/<date>-<host>.json. Each backend runs in its own
// process (WebGPU in Node needs Dawn's environment from process start; where
// the system's Vulkan gives no adapter, WebGPU is measured again on Chromium's
// SwiftShader and the report says so: bench/node-rows.ts); the PyTorch reference
// trains the same weights on the same batches, on one thread as our wasm and
// cpu rows (BENCH_TORCH_THREADS); every line says which PyTorch ran.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupBackend } from '../src/cli/setup';
import type { PresetName } from '../src/core/config';
import { BENCH_TORCH_THREADS, ensureTorch, torchHasCuda, torchLabel, torchReference, type ReferenceResult } from '../support/torch';
import { checkpointTimes, curateThroughput } from './io';
import { browserBench, threadSpeedups } from './browser';
import { measureInNode, type NodeRows } from './node-rows';
import { pretrainedBench, pretrainedOptions, pretrainedTable } from './pretrained';
import { PY, PY_SOURCE } from '../support/python';
import { machineInfo } from './machine';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (k: string): string | undefined => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const presets = (flag('presets') ?? (quick ? 'tiny' : 'tiny,small')).split(',') as PresetName[];
// Variants measured side by side with what they speed up: webgpu-unfused is
// WebGPU without our fused kernels, wasm-plain is wasm without matMul2d's
// explicit transposes (src/core/ops.ts).
const backends = (flag('backends') ?? (quick ? 'cpu,wasm,webgpu' : 'cpu,wasm,wasm-plain,webgpu,webgpu-unfused'))
  .split(',')
  .filter((b) => b && b !== 'none');
const steps = Number(flag('steps') ?? (quick ? 2 : 5));
// Chromium (WebGPU on SwiftShader compiles shaders for tens of seconds) does
// not fit --quick's two minutes; it runs in a full bench or with --browser.
const withBrowser = args.includes('--browser') || (!quick && !args.includes('--no-browser'));
// Chromium's training rows take long on SwiftShader: --browser-presets tiny
// keeps them to the tiny preset (IndexedDB timings still cover every preset)
const browserPresets = (flag('browser-presets') ?? presets.join(',')).split(',') as PresetName[];
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const decodeTokens = quick ? 16 : 48;

const started = new Date();
log(`mcckd bench: presets ${presets.join(', ')}; backends ${backends.join(', ')}; ${steps} timed steps${quick ? ' (quick)' : ''}`);
const measured: NodeRows[] = [];
for (const b of backends) {
  log(`… ${b}`);
  // Dawn finds a machine's own Vulkan driver by itself; SwiftShader where
  // there is none, or where it gives no adapter
  const { unavailable: _, ...rows } = await measureInNode(b, { presets, steps, decodeTokens }, log);
  measured.push(rows);
}

await setupBackend('cpu'); // the reference check runs on the exact cpu backend
const torch = ensureTorch(log);
const reference: ReferenceResult[] = [];
if (torch) {
  const devices: ('cpu' | 'cuda')[] = torchHasCuda() ? ['cpu', 'cuda'] : ['cpu'];
  for (const p of presets) {
    for (const device of devices) {
      log(`… ${torchLabel({ ...torch, threads: BENCH_TORCH_THREADS }, device)} reference, ${p}`);
      // an odd count: the median is one step on both sides
      reference.push(await torchReference(p, { checkSteps: 3, timedSteps: quick ? 3 : 7, device }));
    }
  }
}
log('… read + curate');
const curate = await curateThroughput(quick ? 4 : 40);
log('… checkpoints');
const checkpoints: Record<string, Record<string, number>> = {};
for (const p of presets) checkpoints[p] = await checkpointTimes(p, quick ? 1 : 3);
// GPT-2-124M- and SmolLM2-135M-shaped LoRA rows (only with --pretrained)
const pretrainedOpts = pretrainedOptions(args);
const pretrained = pretrainedOpts ? await pretrainedBench(pretrainedOpts, log, () => torch) : null;

let browser: Awaited<ReturnType<typeof browserBench>> | undefined;
if (withBrowser) {
  log('… Chromium');
  // wasm-1t beside wasm (one thread per core): the threads' speed-up
  const browserBackends = (flag('browser-backends') ?? 'webgpu,webgpu-unfused,wasm-1t,wasm').split(',');
  browser = await browserBench(
    {
      backends: browserBackends,
      presets: browserPresets,
      checkpointPresets: presets,
      checkpointRepeats: quick ? 1 : 3,
      steps,
      decodeTokens,
      appSteps: quick ? 3 : 5,
    },
    log,
  );
}

// every training row of the run, the Chromium ones named chromium-<backend>
const browserRows = browser && 'bench' in browser && 'backends' in browser.bench ? browser.bench.backends : [];
const wasmThreads = threadSpeedups(browserRows);
const rows: NodeRows[] = [...measured, ...browserRows.map((b) => ({ ...b, backend: `chromium-${b.backend}` }))];
const checked = reference.map((r) => ({ ...r, sameComputation: r.initialLossDiff < 1e-4 && r.maxLossDiff < 1e-3 }));
const report = {
  date: started.toISOString(),
  machine: machineInfo(),
  settings: { presets, backends, steps, quick, torchThreads: BENCH_TORCH_THREADS },
  // the python and PyTorch the references ran (each reference row says too)
  // (defaultThreads: torch's own default there; the references ran on torchThreads)
  pytorch: torch
    ? {
        python: PY,
        pythonSource: PY_SOURCE,
        torch: torch.torch,
        build: torch.build,
        torchPath: torch.torchPath,
        defaultThreads: torch.threads,
      }
    : null,
  backends: measured,
  // how a WebGPU row ran when not on the system's own driver (SwiftShader
  // retries), also in each row's `vulkan` and `note`
  notes: measured.filter((m) => m.note).map((m) => `${m.backend}: ${m.note}`),
  reference: checked,
  // a ratio only where PyTorch was shown to compute the same thing; the
  // thread counts of both sides beside it
  ratios: checked
    .filter((r) => r.sameComputation)
    .flatMap((r) =>
      rows.flatMap((m) =>
        'results' in m
          ? m.results
              .filter((x) => x.preset === r.preset)
              .map((x) => ({
                preset: r.preset,
                backend: m.backend,
                torch: r.device,
                pytorch: torchLabel(r, r.device),
                oursThreads: m.threads ?? null,
                torchThreads: r.device === 'cuda' ? null : r.threads,
                oursOverTorch: x.tokensPerSecond / r.torchTokensPerSecond,
                // the same batch on both sides: the ratio of CPU time per step,
                // which a shared machine's other load disturbs far less
                oursOverTorchCpu: x.cpuMsPerStep ? r.torchCpuMsPerStep / x.cpuMsPerStep : null,
              }))
          : [],
      ),
    ),
  curate,
  checkpoints,
  browser: browser ?? null,
  // Chromium's wasm on one thread per core against one thread
  wasmThreads,
  pretrained,
};

const f = (x: number, d = 0): string => x.toLocaleString('en', { maximumFractionDigits: d });
log('\nbackend          preset  ms/step  cpu-ms  tok/s   first(ms) kernels gpu-programs peakMB growth decode kv/full tok/s  adapter');
for (const m of rows) {
  if (!('results' in m)) {
    log(`${m.backend.padEnd(16)} error: ${m.error}${m.note ? ` (${m.note})` : ''}`);
    continue;
  }
  for (const r of m.results) {
    log(
      `${m.backend.padEnd(16)} ${r.preset.padEnd(7)} ${f(r.msPerStep).padStart(7)} ${(r.cpuMsPerStep == null ? '-' : f(r.cpuMsPerStep)).padStart(7)} ${f(r.tokensPerSecond).padStart(7)} ${f(r.firstStepMs).padStart(9)} ${String(r.dispatchesPerStep).padStart(7)} ${String(r.gpuProgramsPerStep ?? '-').padStart(12)} ${f(r.peakBytes / 2 ** 20).padStart(6)} ${String(r.tensorGrowth).padStart(6)} ${`${f(r.decodeTokensPerSecond.kvCache, 1)}/${f(r.decodeTokensPerSecond.fullRecompute, 1)}`.padEnd(15)} ${m.adapter ?? (m.threads != null ? `${m.threads} thread${m.threads === 1 ? '' : 's'}` : '')}${m.vulkan === 'swiftshader' ? ' [SwiftShader*]' : ''}`,
    );
  }
}
for (const n of report.notes) log(`* ${n}`);
for (const r of report.reference)
  log(
    `${torchLabel(r, r.device)} ${r.preset}: ${f(r.torchMsPerStep)} ms/step (CPU ${f(r.torchCpuMsPerStep)} ms), ${f(r.torchTokensPerSecond)} tok/s; loss diff first ${r.initialLossDiff.toExponential(1)}, max ${r.maxLossDiff.toExponential(1)}`,
  );
for (const t of wasmThreads)
  log(
    `chromium wasm ${t.threads} threads / 1 thread, ${t.preset}: ${t.speedup.toFixed(2)}x (${f(t.msPerStep1)} -> ${f(t.msPerStepN)} ms/step)`,
  );
for (const r of report.ratios) {
  const threads =
    r.torch === 'cuda' || r.oursThreads == null ? '' : ` (${r.oursThreads} vs ${r.torchThreads} thread${r.torchThreads === 1 ? '' : 's'})`;
  const cpu = r.oursOverTorchCpu == null || r.torch === 'cuda' ? '' : ` (CPU time: ${r.oursOverTorchCpu.toFixed(3)})`;
  log(`ours/PyTorch${r.torch === 'cuda' ? ' CUDA' : ''} ${r.preset} ${r.backend}${threads}: ${r.oursOverTorch.toFixed(3)}${cpu}`);
}
log(`read + curate: ${f(curate.megabytes, 1)} MB in ${curate.seconds.toFixed(2)} s = ${curate.mbPerSecond.toFixed(1)} MB/s`);
if (pretrained) for (const l of pretrainedTable(pretrained)) log(l);
for (const [p, c] of Object.entries(checkpoints))
  log(
    `checkpoint ${p}: ${f(c.bytes / 1e6, 1)} MB, encode ${f(c.encodeMs, 1)} ms, decode ${f(c.decodeMs, 1)} ms, save dir ${f(c.saveDirMs, 1)} ms, load dir ${f(c.loadDirMs, 1)} ms`,
  );

if (browser && 'error' in browser) log(`chromium: ${browser.error}`);
else if (browser) {
  const b = browser.bench;
  if ('error' in b) log(`chromium bench: ${b.error}`);
  else {
    if (b.indexedDbError) log(`IndexedDB checkpoints: ${b.indexedDbError}`);
    for (const [p, c] of Object.entries(b.indexedDb))
      log(
        `IndexedDB checkpoint ${p}: ${f(c.bytes / 1e6, 1)} MB, save ${f(c.saveMs, 1)} ms, load ${f(c.loadMs, 1)} ms (median of ${c.saveMsAll.length})`,
      );
  }
  const a = browser.app;
  if (a && 'error' in a) log(`app responsiveness: ${a.error}`);
  else if (a) {
    log(
      `app training on the demo data: ${a.steps} steps in ${f(a.seconds)} s, ${a.longTasks} main-thread tasks over 50 ms (longest ${f(a.longestMs)} ms)`,
    );
    for (const fr of a.longFrames)
      log(`  long animation frame ${f(fr.duration)} ms: ${fr.scripts.join('; ') || 'no script (style, layout, paint or GC)'}`);
  }
}

const dir = path.join(HERE, 'results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${started.toISOString().slice(0, 16).replace(/[:T]/g, '-')}-${os.hostname()}${quick ? '-quick' : ''}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 1)}\n`);
log(`\nreport: ${path.relative(process.cwd(), file)}`);
process.stdout.write(`${JSON.stringify(report)}\n`);
