// The PyTorch reference, shared by the bench and the tests: the same model
// (our own .safetensors export of the initial weights) and the same batches,
// trained by support/torch_ref.py with Debian's python3-torch. Checks that
// both compute the same thing before any throughput ratio is reported.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PresetName } from '../src/core/config';
import { learningRate } from '../src/core/schedule';
import { stateToSafetensors } from '../src/checkpoint/format';
import { SHAPES, benchTrainer, syntheticBatches } from './synthetic';
import type { HostBatch } from '../src/core/batch';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// support/python.ts's python: MCCKD_PYTHON (a GPU machine's own PyTorch with
// CUDA), the repository's .venv, or Debian's, where apt installs torch
import { PY } from './python';

/** Whether the reference's PyTorch sees a CUDA device. */
export function torchHasCuda(): boolean {
  const r = spawnSync(PY, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === 'True';
}

/** Makes torch importable: installs python3-torch with apt when absent. */
export function ensureTorch(log: (s: string) => void): string | undefined {
  const ok = (): boolean => spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (ok()) return execFileSync(PY, ['-c', 'import torch; print(torch.__version__)']).toString().trim();
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
  return execFileSync(PY, ['-c', 'import torch; print(torch.__version__)']).toString().trim();
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

export interface ReferenceResult {
  preset: PresetName;
  torch: string;
  device: 'cpu' | 'cuda';
  threads: number;
  ours: { loss: number; ce: number; kl: number }[];
  theirs: { loss: number; ce: number; kl: number }[];
  initialLossDiff: number;
  maxLossDiff: number;
  torchMsPerStep: number;
  torchTokensPerSecond: number;
}

/** Trains `checkSteps` identical steps on our current backend and in PyTorch,
 * then times `timedSteps` more PyTorch steps. */
export async function torchReference(
  preset: PresetName,
  o: { checkSteps: number; timedSteps: number; torchVersion: string; device?: 'cpu' | 'cuda' },
): Promise<ReferenceResult> {
  const shape = SHAPES[preset];
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
    }),
  );
  const out = JSON.parse(execFileSync(PY, [path.join(HERE, 'torch_ref.py'), casePath], { maxBuffer: 64 << 20 }).toString()) as {
    device: 'cpu' | 'cuda';
    losses: ReferenceResult['theirs'];
    medianMs: number;
    tokensPerSecond: number;
    threads: number;
  };
  const diffs = ours.map((x, i) => Math.abs(x.loss - out.losses[i].loss));
  return {
    preset,
    torch: o.torchVersion,
    device: out.device, // what torch_ref.py really used
    threads: out.threads,
    ours,
    theirs: out.losses,
    initialLossDiff: diffs[0],
    maxLossDiff: Math.max(...diffs),
    torchMsPerStep: out.medianMs,
    torchTokensPerSecond: out.tokensPerSecond,
  };
}
