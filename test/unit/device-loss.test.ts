// A WebGPU device lost in the middle of a run (issue 11, item 8): detected,
// reported, the backend set up again and the run resumed from its last
// checkpoint without a reload, on real WebGPU: Dawn in Node on SwiftShader
// (needs Debian's chromium for the Vulkan ICD; skipped without it). The run
// is a child process (test/gpu/device-loss.check.ts) because Dawn needs
// LD_LIBRARY_PATH from process start.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { swiftShaderEnv } from '../../src/cli/node-gpu';
import type { Report } from '../gpu/device-loss.check';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const gpuEnv = swiftShaderEnv();
if (!gpuEnv)
  console.warn(
    'device-loss test skipped: no Chromium SwiftShader Vulkan ICD (/usr/lib/chromium/vk_swiftshader_icd.json) for Dawn: apt-get install chromium',
  );

function check(): Promise<Report> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(ROOT, 'test/gpu/device-loss.check.ts')],
      { cwd: ROOT, env: { ...process.env, ...gpuEnv }, maxBuffer: 16 << 20, timeout: 400_000 },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (err || !line) reject(new Error(`device-loss check failed: ${String(err)}\n${stderr.slice(-2000)}`));
        else resolve(JSON.parse(line) as Report);
      },
    );
  });
}

const LOST = 'the GPU device was lost (destroyed: device was destroyed)';

describe.skipIf(!gpuEnv)('a lost WebGPU device (Dawn + SwiftShader)', () => {
  it('is detected and reported, fails the next step recognisably, and the run resumes from its checkpoint on a new device', {
    timeout: 420_000,
  }, async () => {
    const r = await check();
    expect(r.backend).toBe('webgpu');
    expect(r.before).toHaveLength(3);
    expect(r.lostBackend).toBe('webgpu');

    // (a) detected and reported once, with the reason
    expect(r.events).toEqual([{ backend: 'webgpu', reason: LOST, kind: 'destroyed', message: 'device was destroyed' }]);
    expect(r.lostAfterWait).toEqual(r.events[0]);

    // (b) the next step fails: guarded, a BackendLostError saying what to do;
    // unguarded, Dawn's bare DOMException AbortError (empty message)
    expect(r.guarded.isBackendLostError).toBe(true);
    expect(r.guarded.name).toBe('BackendLostError');
    expect(r.guarded.message).toContain(LOST);
    if (r.guarded.cause) expect(r.guarded.cause).toMatchObject({ name: 'AbortError', isDOMException: true });
    expect(r.stepError).toMatchObject({ name: 'AbortError', ctor: 'DOMException', message: '', isDOMException: true });
    expect(r.lostRightAfterFailure).toEqual(r.events[0]);
    // a save (snapshot) can't read the weights back either
    expect(r.snapshotError.name).toBe('BackendLostError');
    // the dead model's tensors can be disposed, all of them
    expect(r.disposeError).toBeUndefined();
    expect(r.tensors.live).toBeGreaterThan(r.tensors.baseline + 10);
    expect(r.tensors.afterDispose).toBe(r.tensors.baseline);

    // (c) a working webgpu backend again, saying why it was set up again
    expect(r.recreated).toMatchObject({ backend: 'webgpu', reason: `webgpu: ${LOST}` });
    expect(r.recreated.fellBackFrom).toBeUndefined();
    expect(r.lostAfterRecreate).toBeUndefined();

    // (d) step 3 again from the step-2 checkpoint: the same loss, then training goes on
    expect(Math.abs(r.replayedStep3 - r.before[2])).toBeLessThan(1e-4);
    expect(r.after).toHaveLength(4);
    for (const l of r.after) expect(Number.isFinite(l)).toBe(true);
    expect(r.after[3]).toBeLessThan(r.before[2]);

    // (e) no tensors pile up across the recovered steps
    expect(new Set(r.tensorsAfterSteps).size).toBe(1);

    // an uncaptured validation error is recorded but is no loss
    expect(r.errors).toMatchObject({ backend: 'webgpu', count: 1 });
    expect(r.errors?.first).toMatch(/^GPUValidationError: /);
    expect(r.lostAfterError).toBeUndefined();

    // our own removals (a new device while healthy, a switch to cpu and back) are not reported
    expect(r.eventsAfterDeliberate).toBe(0);
    expect(r.deliberateBackend).toBe('webgpu');
    expect(r.disposeAfterRecreateError).toBeUndefined();
  });
});
