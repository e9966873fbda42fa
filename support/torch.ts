// The PyTorch reference, shared by the bench and the tests: the same model
// (our own .safetensors export of the initial weights) and the same batches,
// trained by support/torch_ref.py with support/python.ts's python (the
// repository's .venv with the PyTorch CPU wheel; Debian's python3-torch
// where there is none). Checks that both compute the same thing before any
// throughput ratio is reported, and says which PyTorch ran on how many threads.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PresetName } from '../src/core/config';
import { learningRate } from '../src/core/schedule';
import { stateToSafetensors } from '../src/checkpoint/format';
import { SHAPES, benchTrainer, syntheticBatches, type Shape } from './synthetic';
import type { HostBatch } from '../src/core/batch';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// support/python.ts's python: MCCKD_PYTHON (a GPU machine's own PyTorch with
// CUDA), the repository's .venv, or Debian's, where apt installs torch
import { PY, PY_ENV } from './python';

/** The CPU threads the bench gives PyTorch (torch.set_num_threads, and
 * inter-op threads too): our CPU backends run on one (tfjs's wasm in Node is
 * its single-threaded SIMD build, src/core/backend.ts; the cpu backend is
 * plain JavaScript), and a ratio compares one thread with one thread. The
 * wheel's default would be every core, Debian's 1.13 one. */
export const BENCH_TORCH_THREADS = 1;

/** Which PyTorch a python imports (torch_ref.py's torch_info). */
export interface TorchInfo {
  torch: string;
  /** wheel: pip's PyTorch wheel (the repository's .venv); debian: python3-torch. */
  build: 'wheel' | 'debian' | 'other';
  /** torch.get_num_threads() where it was asked (its default, or as set). */
  threads: number;
  torchPath: string;
}

/** "PyTorch 2.13.0+cpu (wheel, 1 thread)": what every row and table line says. */
export function torchLabel(t: Pick<TorchInfo, 'torch' | 'build' | 'threads'>, device: 'cpu' | 'cuda' = 'cpu'): string {
  const build = t.build === 'debian' ? "Debian's python3-torch" : t.build === 'wheel' ? 'pip wheel' : 'unknown build';
  return `PyTorch ${t.torch} (${build}, ${device === 'cuda' ? 'CUDA' : `${t.threads} thread${t.threads === 1 ? '' : 's'}`})`;
}

/** What PY's torch is, or undefined when it does not import. */
export function torchInfo(): TorchInfo | undefined {
  const r = spawnSync(
    PY,
    [
      '-c',
      `import sys, json; sys.path.insert(0, ${JSON.stringify(HERE)}); from torch_ref import torch_info; print(json.dumps(torch_info()))`,
    ],
    {
      encoding: 'utf8',
      env: PY_ENV,
    },
  );
  return r.status === 0 ? (JSON.parse(r.stdout.trim()) as TorchInfo) : undefined;
}

/** Whether the reference's PyTorch sees a CUDA device. */
export function torchHasCuda(): boolean {
  const r = spawnSync(PY, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === 'True';
}

/** Makes torch importable: installs Debian's python3-torch with apt when
 * absent (the fallback: .ci/run's .venv has the wheel). */
export function ensureTorch(log: (s: string) => void): TorchInfo | undefined {
  const ok = (): boolean => spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (ok()) return torchInfo();
  if (PY !== '/usr/bin/python3') {
    // apt would install into Debian's python, not this one
    log(`PyTorch reference skipped: ${PY} cannot import torch (pip install torch into it, or unset MCCKD_PYTHON / remove .venv)`);
    return undefined;
  }
  if (process.getuid?.() !== 0) {
    log('PyTorch reference skipped: python3-torch is missing and installing it needs root (apt-get install -y python3-torch)');
    return undefined;
  }
  log('installing python3-torch with apt-get (once)…');
  spawnSync('apt-get', ['update'], { stdio: 'ignore' });
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'python3-torch'], { stdio: 'ignore' });
  if (r.status !== 0 || !ok()) {
    log('PyTorch reference skipped: apt-get install python3-torch failed');
    return undefined;
  }
  return torchInfo();
}

const rows2d = <T extends Int32Array | Float32Array>(a: T, r: number, c: number): number[][] =>
  Array.from({ length: r }, (_, i) => Array.from(a.subarray(i * c, (i + 1) * c)));

/** A batch as torch_ref.py and hf_bench.py read it: nested rows. */
export const batchJson = (b: HostBatch) => ({
  inputs: rows2d(b.ids, b.rows, b.time),
  targets: rows2d(b.targets, b.rows, b.time),
  ceWeight: rows2d(b.ceWeight, b.rows, b.time),
  klA: rows2d(b.klA, b.pairs, b.span),
  klB: rows2d(b.klB, b.pairs, b.span),
  klMask: rows2d(b.klMask, b.pairs, b.span),
});

export interface ReferenceResult extends TorchInfo {
  preset: PresetName;
  device: 'cpu' | 'cuda';
  ours: { loss: number; ce: number; kl: number }[];
  theirs: { loss: number; ce: number; kl: number }[];
  initialLossDiff: number;
  maxLossDiff: number;
  torchMsPerStep: number;
  /** Median CPU time of the process per timed step (time.process_time). */
  torchCpuMsPerStep: number;
  torchTokensPerSecond: number;
}

/** Trains `checkSteps` identical steps on our current backend and in PyTorch,
 * then times `timedSteps` more PyTorch steps on `threads` CPU threads
 * (default BENCH_TORCH_THREADS). */
export async function torchReference(
  preset: PresetName,
  o: { checkSteps: number; timedSteps: number; device?: 'cpu' | 'cuda'; threads?: number; shape?: Shape },
): Promise<ReferenceResult> {
  const shape = o.shape ?? SHAPES[preset];
  const t = await benchTrainer(preset, { steps: 1000, warmupSteps: 2, backend: 'cpu' });
  const train = t.trainConfig;
  const vocab = t.modelConfig.vocabSize;
  const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-bench-'));
  const weights = path.join(dir, 'init.safetensors');
  writeFileSync(weights, stateToSafetensors(await t.snapshot(), { weightsOnly: true }));
  const batches: HostBatch[] = syntheticBatches(o.checkSteps, shape, vocab, t.modelConfig.blockSize, 7);
  const ours: ReferenceResult['ours'] = [];
  for (let i = 0; i < batches.length; i++) {
    const m = await t.stepOn(batches[i], { lr: learningRate(i, train), forceLog: true });
    ours.push({ loss: m!.loss, ce: m!.ce, kl: m!.kl });
  }
  t.dispose();
  const json = batches.map((b, i) => ({
    ...batchJson(b),
    lr: learningRate(i, train),
  }));
  const casePath = path.join(dir, 'case.json');
  writeFileSync(
    casePath,
    JSON.stringify({
      weights,
      config: t.modelConfig,
      train,
      batches: json,
      timedSteps: o.timedSteps,
      warmupSteps: 1,
      device: o.device ?? 'cpu',
      threads: o.threads ?? BENCH_TORCH_THREADS,
    }),
  );
  const out = JSON.parse(
    execFileSync(PY, [path.join(HERE, 'torch_ref.py'), casePath], { maxBuffer: 64 << 20, env: PY_ENV }).toString(),
  ) as TorchInfo & {
    device: 'cpu' | 'cuda';
    losses: ReferenceResult['theirs'];
    medianMs: number;
    medianCpuMs: number;
    tokensPerSecond: number;
  };
  const diffs = ours.map((x, i) => Math.abs(x.loss - out.losses[i].loss));
  return {
    preset,
    // what torch_ref.py really ran: version, wheel or Debian, threads, device
    torch: out.torch,
    build: out.build,
    threads: out.threads,
    torchPath: out.torchPath,
    device: out.device,
    ours,
    theirs: out.losses,
    initialLossDiff: diffs[0],
    maxLossDiff: Math.max(...diffs),
    torchMsPerStep: out.medianMs,
    torchCpuMsPerStep: out.medianCpuMs,
    torchTokensPerSecond: out.tokensPerSecond,
  };
}
