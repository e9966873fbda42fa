// Reading a Hugging Face model folder (src/hf/folder.ts) on the tiny models of
// scripts/hf/make_tiny.py and the broken folders of make_hostile.py: our names
// and float32 weights out, shards and BF16/F16 handled, every file-level
// problem refused naming the file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HfConfigError, hfTensorShapes } from '../../src/hf/config';
import { readHfFolder } from '../../src/hf/folder';
import { nodeFolder } from '../../src/node/folder';

import { PY } from '../../support/python';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hasNumpy = spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
if (!hasNumpy) console.warn(`hf-folder: skipped, ${PY} cannot import numpy (.ci/run's .venv, or MCCKD_PYTHON: support/python.ts)`);

describe.skipIf(!hasNumpy)('readHfFolder', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'hf-folder-'));
  const tiny = (c: string): string => path.join(tmp, 'tiny', c);
  beforeAll(() => {
    for (const [script, out, extra] of [
      ['make_tiny.py', 'tiny', ['--variants']],
      ['make_hostile.py', 'hostile', []],
    ] as const) {
      const r = spawnSync(PY, [path.join(ROOT, 'scripts/hf', script), path.join(tmp, out), ...extra], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      });
      if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
    }
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('gives every parameter of the table, under our names, as float32', async () => {
    for (const c of ['gpt2-tiny', 'gpt2-noprefix', 'gpt2-f16', 'llama-gqa', 'llama-tied', 'qwen2-tiny', 'llama-sharded']) {
      const f = await readHfFolder(nodeFolder(tiny(c)));
      const table = hfTensorShapes(f.spec);
      expect(Object.keys(f.weights).sort(), c).toEqual(table.map(([n]) => n).sort());
      for (const [n, shape] of table) {
        expect(f.weights[n].shape, `${c} ${n}`).toEqual(shape);
        expect(f.weights[n].data).toBeInstanceOf(Float32Array);
        expect(f.weights[n].data.length).toBe(shape.reduce((a, b) => a * b, 1));
      }
      expect(f.generationConfig, c).toBeDefined();
    }
    expect((await readHfFolder(nodeFolder(tiny('llama-tied')))).dtypes).toEqual(['BF16']);
    expect((await readHfFolder(nodeFolder(tiny('gpt2-f16')))).dtypes).toEqual(['F16']);
  });

  it('reads the same weights from shards as from one file, and BF16 as the rounded F32', async () => {
    const sharded = await readHfFolder(nodeFolder(tiny('llama-sharded')));
    const single = await readHfFolder(nodeFolder(tiny('llama-sharded.single')));
    for (const [n, t] of Object.entries(single.weights)) expect(Array.from(sharded.weights[n].data), n).toEqual(Array.from(t.data));
    const bf16 = await readHfFolder(nodeFolder(tiny('llama-tied')));
    const f32 = await readHfFolder(nodeFolder(tiny('llama-tied.f32')));
    for (const [n, t] of Object.entries(f32.weights)) {
      const b = bf16.weights[n].data;
      // BF16 keeps 8 bits of mantissa: within 2^-8 relative
      t.data.forEach((x, i) => expect(Math.abs(b[i] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8 + 1e-30));
    }
  });

  it('refuses every broken folder with an HfConfigError that names the file, field or tensor', async () => {
    const cases = JSON.parse(readFileSync(path.join(tmp, 'hostile', 'hostile.json'), 'utf8')) as Record<
      string,
      { problem: string; expect: string }
    >;
    expect(Object.keys(cases).length).toBeGreaterThanOrEqual(17);
    for (const [name, c] of Object.entries(cases)) {
      const err = await readHfFolder(nodeFolder(path.join(tmp, 'hostile', name))).catch((e: unknown) => e);
      expect(err, `${name}: ${c.problem}`).toBeInstanceOf(HfConfigError);
      expect((err as Error).message, name).toContain(c.expect);
    }
  });
});
