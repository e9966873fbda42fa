// The plan `mcckd train` prints (src/core/plan.ts describePlan) and the
// device limits it is checked against (src/core/limits.ts gpuLimits): on the
// cpu backend none; on Dawn (a child process: Dawn needs LD_LIBRARY_PATH
// from process start) the limits of the device tfjs created, which are the
// adapter's (tfjs-backend-webgpu asks for them), not WebGPU's defaults.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LORA_TARGETS, modelConfigFor, type ModelConfig } from '../../src/core/config';
import { gpuLimits } from '../../src/core/limits';
import { ASSUMED_ANSWER_TOKENS, REFERENCE_MODELS, describePlan } from '../../src/core/plan';
import { swiftShaderEnv } from '../../src/cli/node-gpu';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('describePlan', () => {
  const qwen: ModelConfig = { ...REFERENCE_MODELS[2].config, lora: { rank: 8, alpha: 16, targets: [...DEFAULT_LORA_TARGETS.qwen2] } };

  it('refuses a trainable embedding over the binding limit, with the figures; a frozen one is held in row blocks', () => {
    const limits = { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 128 * MiB };
    const full = describePlan({ ...qwen, lora: undefined }, { rows: 8, seqLen: 256, limits, name: 'Qwen2.5-0.5B' });
    expect(full.fits).toBe(false);
    expect(full.reasons[0]).toMatch(
      /^model\.embed_tokens\.weight \(tied output head\) \[151936, 896\] is 519\.3 MB, over this GPU's 128\.0 MB per-binding limit/,
    );
    const p = describePlan(qwen, { rows: 8, seqLen: 256, limits, name: 'Qwen2.5-0.5B' });
    expect(p.reasons.filter((r) => /embed_tokens/.test(r))).toEqual([]);
    // 128 MiB / (896 x 4 B) = 37,449 rows a block: 5 blocks
    expect(p.text).toMatch(/model\.embed_tokens\.weight \(tied output head\), frozen, in 5 row blocks \[37449, 896\]/);
    expect(p.text).toMatch(
      /^memory plan \(KL term: 8 answer tokens a question assumed\):\nQwen2\.5-0\.5B: 494,032,768 parameters, LoRA r 8/,
    );
    // the trainer's head chunks: 32 MiB of logits, 55 rows of 151,936
    expect(p.text).toMatch(/chunks of 55 x 151,936, head frozen/);
    expect(p.text).toMatch(new RegExp(`KL ${4 * ASSUMED_ANSWER_TOKENS} rows a side`));
    expect(p.text).toMatch(/with recomputation \(--recompute\): peak/);
    expect(p.peak).toBeGreaterThan(4 * GiB);
  });

  it('fits where the limits and the memory allow it', () => {
    const p = describePlan(qwen, {
      rows: 2,
      seqLen: 64,
      limits: { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: GiB },
      memoryBytes: 8 * GiB,
      klRows: 4,
    });
    expect(p).toMatchObject({ fits: true, reasons: [] });
    expect(p.text).not.toMatch(/assumed/);
    expect(describePlan(qwen, { rows: 2, seqLen: 64, memoryBytes: 1 * GiB }).reasons).toEqual([
      expect.stringMatching(/^the step's peak, .* is over the 1\.00 GB of memory$/),
    ]);
  });

  it('a small vocabulary takes the whole logits (the trainer does), and no limits means no buffer check', () => {
    const tiny = modelConfigFor('tiny', 512);
    const p = describePlan(tiny, { rows: 16, seqLen: 128 });
    expect(p.fits).toBe(true);
    expect(p.text).toMatch(/whole logits 2,048 x 512, head gradient sums/);
    expect(p.text).toMatch(/no buffer limits/);
    expect(describePlan(tiny, { rows: 16, seqLen: 300 }).reasons).toEqual(["300 tokens per row is more than the model's 256 positions"]);
  });
});

describe('gpuLimits', () => {
  it('is undefined on another backend', async () => {
    await tf.setBackend('cpu');
    expect(gpuLimits()).toBeUndefined();
  });

  const gpuEnv = swiftShaderEnv();
  it.skipIf(!gpuEnv)("reads the device tfjs created on Dawn + SwiftShader: the adapter's limits", { timeout: 120_000 }, async () => {
    const code = [
      "const { setupBackend } = await import('./src/cli/setup.ts');",
      "const { gpuLimits } = await import('./src/core/limits.ts');",
      'const before = gpuLimits();',
      "await setupBackend('webgpu');",
      'const a = await navigator.gpu.requestAdapter();',
      'console.log(JSON.stringify({ before: before ?? null, device: gpuLimits(), adapter: { maxBufferSize: a.limits.maxBufferSize, maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize } }));',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), '--input-type=module', '-e', code],
        { cwd: ROOT, env: { ...process.env, ...gpuEnv }, timeout: 100_000 },
        (err, stdout, stderr) => {
          const line = stdout.split('\n').find((l) => l.startsWith('{'));
          if (err || !line) reject(new Error(`limits check failed: ${String(err)}\n${stderr.slice(-2000)}`));
          else resolve(line);
        },
      );
    });
    const r = JSON.parse(out) as {
      before: null;
      device: { maxBufferSize: number; maxStorageBufferBindingSize: number };
      adapter: { maxBufferSize: number; maxStorageBufferBindingSize: number };
    };
    expect(r.before).toBeNull(); // no backend yet
    expect(r.device).toEqual(r.adapter);
    // SwiftShader offers 1 GiB of each: above WebGPU's defaults (256 MiB, 128 MiB)
    expect(r.device.maxStorageBufferBindingSize).toBeGreaterThan(128 * MiB);
    expect(r.device.maxBufferSize).toBeGreaterThan(256 * MiB);
  });
});
