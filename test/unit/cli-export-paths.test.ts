// Where `mcckd export` writes (issue 22, defects 2 and 5): a GGUF export
// that failed partway left a truncated file under the final name (the rerun
// was then refused as "already exists"); `--out DIR/` always failed for hf
// and peft and left an empty folder; `--out x/../y` left a stray x. The
// failures here are real: the child runs under `ulimit -f` (a file size
// limit), so its writes fail with EFBIG partway, as on a full disk.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, lastLine, ok, pythonHas, tinyModels, writePensData, type CliResult } from '../../support/cli';

/** mcckd ARGS with files limited to `kib` KiB each (bash's ulimit -f). */
function mcckdLimited(kib: number, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', `ulimit -f ${kib} && exec "$0" "$@"`, process.execPath, BIN, ...args], { cwd: ROOT }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-export-paths-'));
const at = (...p: string[]): string => path.join(dir, ...p);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mcckd export: paths and failures', () => {
  const run = at('run');
  beforeAll(async () => {
    writePensData(at('pens.jsonl'));
    await ok([
      'train',
      '--data',
      at('pens.jsonl'),
      '--preset',
      'tiny',
      '--vocab-size',
      '300',
      '--steps',
      '1',
      '--batch',
      '2',
      '--out',
      run,
    ]);
  }, 120_000);

  it('a GGUF write that fails partway leaves nothing under the final name, names the path, and the rerun writes it', async () => {
    mkdirSync(at('gguf'));
    const out = at('gguf', 'model.gguf');
    const limit = 64; // KiB: far below a tiny model's GGUF file
    const r = await mcckdLimited(limit, ['export', '--run', run, '--format', 'gguf', '--out', out]);
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toBe(`mcckd: could not write ${out}: EFBIG: file too large, write (nothing was left under that name)`);
    expect(readdirSync(at('gguf'))).toEqual([]); // neither the file nor its temporary
    const w = await ok(['export', '--run', run, '--format', 'gguf', '--out', out]);
    expect(statSync(out).size).toBe(w.bytes);
    expect(w.bytes as number).toBeGreaterThan(limit * 1024);
    expect(readdirSync(at('gguf'))).toEqual(['model.gguf']);
  });

  it('a folder export that fails partway leaves no folder, not even the parents it made', async () => {
    const r = await mcckdLimited(64, ['export', '--run', run, '--format', 'hf', '--out', at('made', 'by', 'export')]);
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toMatch(`mcckd: could not write ${at('made', 'by', 'export')}: EFBIG`);
    expect(existsSync(at('made'))).toBe(false);
  });

  it('hf: --out DIR/ (new or an empty folder) and --out x/../y write DIR and y, and nothing else', async () => {
    for (const [flag, made] of [
      [`${at('hf-new')}/`, at('hf-new')],
      [`${at('hf-empty')}/`, at('hf-empty')],
      [at('x', '..', 'hf-y'), at('hf-y')],
    ]) {
      if (made.endsWith('empty')) mkdirSync(made);
      const w = await ok(['export', '--run', run, '--format', 'hf', '--out', flag]);
      expect(w.out).toBe(made);
      expect(readdirSync(made)).toContain('model.safetensors');
    }
    expect(existsSync(at('x'))).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});

describe.skipIf(!pythonHas('numpy'))('mcckd export --format peft: paths', () => {
  it('--out DIR/ and --out x/../y write the adapter folder, and nothing else', async () => {
    tinyModels(at('m'), [['gpt2-tiny', 'gpt2']]);
    writePensData(at('pens.jsonl'));
    const lora = at('run-lora');
    await ok(['train', '--student', at('m', 'gpt2-tiny'), '--data', at('pens.jsonl'), '--steps', '1', '--batch', '2', '--out', lora]);
    for (const [flag, made] of [
      [`${at('peft-new')}/`, at('peft-new')],
      [at('z', '..', 'peft-y'), at('peft-y')],
    ]) {
      const w = await ok(['export', '--run', lora, '--format', 'peft', '--out', flag]);
      expect(w.out).toBe(made);
      expect(readdirSync(made)).toContain('adapter_model.safetensors');
    }
    expect(existsSync(at('z'))).toBe(false);
  });
});
