// The fused WebGPU kernels (src/core/fused) against the unfused tfjs ops they
// replace, on real WebGPU: Dawn in Node on SwiftShader (needs Debian's
// chromium for the Vulkan ICD; skipped without it). The comparison runs in a
// child process because Dawn needs LD_LIBRARY_PATH from process start.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { swiftShaderEnv } from '../../src/cli/node-gpu';
import type { Diff, Report } from '../gpu/fused.check';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const gpuEnv = swiftShaderEnv();

function check(): Promise<Report> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(ROOT, 'test/gpu/fused.check.ts')],
      { cwd: ROOT, env: { ...process.env, ...gpuEnv }, maxBuffer: 64 << 20, timeout: 840_000 },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (err || !line) reject(new Error(`fused check failed: ${String(err)}\n${stderr.slice(-2000)}`));
        else resolve(JSON.parse(line) as Report);
      },
    );
  });
}

const close = (d: Diff, tol: number): void => {
  const bound = tol * Math.max(1, d.scale);
  expect(d.value).toBeLessThanOrEqual(bound);
  for (const g of d.grads) expect(g).toBeLessThanOrEqual(bound);
};

describe.skipIf(!gpuEnv)('fused WebGPU kernels (Dawn + SwiftShader)', () => {
  it('match the unfused ops, forward and gradient, train to the same losses with fewer kernels, and resume exactly', {
    timeout: 900_000,
  }, async () => {
    const r = await check();
    expect(r.backend).toBe('webgpu');
    expect(r.gpuErrors).toEqual([]);
    close(r.layerNorm, 1e-5);
    for (const d of r.layerNormFolded) close(d, 1e-5);
    for (const d of r.causalSoftmax) close(d, 1e-5);
    close(r.crossEntropy, 1e-5);
    close(r.gelu, 1e-5);
    // the update itself is ~1e-2; the fused one agrees to float rounding
    expect(r.adamW.update).toBeGreaterThan(1e-3);
    expect(Math.max(r.adamW.p, r.adamW.m, r.adamW.v)).toBeLessThan(1e-6);
    // a skipped step (non-finite gradient, scale 0) leaves all three as they were
    expect(r.adamWSkip).toEqual({ p: 0, m: 0, v: 0, nonFinite: 0 });
    expect(Math.abs(r.sumSquares.fused - r.sumSquares.unfused) / r.sumSquares.unfused).toBeLessThan(1e-5);

    const { fused, unfused, cpu } = r.train;
    expect(fused.losses).toHaveLength(3);
    expect(unfused.losses).toHaveLength(2);
    fused.losses.forEach((l, i) => {
      if (i < unfused.losses.length) expect(Math.abs(l - unfused.losses[i])).toBeLessThan(1e-4);
      expect(Math.abs(l - cpu.losses[i])).toBeLessThan(1e-4);
    });
    expect(fused.losses[2]).toBeLessThan(fused.losses[0]);
    expect(fused.growth).toBe(0);
    expect(unfused.growth).toBe(0);
    expect(fused.dispatches).toBeLessThan(unfused.dispatches * 0.6);

    // Resuming on WebGPU from a snapshot continues the run: each loss within
    // 1e-5 of the uninterrupted run's (the stated WebGPU tolerance; on cpu
    // they are identical, test/unit/core-train.test.ts).
    expect(r.resume.resumed).toHaveLength(2);
    r.resume.resumed.forEach((l, i) => expect(Math.abs(l - r.resume.straight[i])).toBeLessThan(1e-5));
  });
});
