// `mcckd experiment`'s own inputs (issue 22, defect 10), in process and
// without training: every alpha is checked before the first run trains (a
// bad last alpha used to cost the whole first run), --seeds has a cap that
// the refusal and --help state, and a damaged result.json or eval-curve.jsonl
// of an earlier attempt is refused naming the file (and the line).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/args';
import { runExperiment } from '../../src/cli/experiment';
import { EXPERIMENT_FLAGS, MAX_EXPERIMENT_SEEDS } from '../../src/cli/flags';
import { saveRunDir } from '../../src/checkpoint/runDir';
import { tinyState } from './ckpt-fixtures';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// any existing file: these refusals come before a data file is read
const FILE = path.join(ROOT, 'package.json');
const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-exp-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const args = (out: string, alphas: string, seeds: string): string[] => [
  '--data',
  FILE,
  '--eval',
  FILE,
  '--alphas',
  alphas,
  '--seeds',
  seeds,
  '--out',
  out,
];

describe('mcckd experiment refuses bad input before training', () => {
  it('checks every alpha first: --alphas 0,-1 is refused naming -1, and nothing is created', async () => {
    for (const [alphas, bad] of [
      ['0,-1', '-1'],
      ['0.1,1000', '1000'],
    ]) {
      const out = path.join(dir, `alphas-${alphas}`);
      const run = runExperiment(args(out, alphas, '1'));
      await expect(run).rejects.toThrow(UsageError);
      await expect(runExperiment(args(out, alphas, '1'))).rejects.toThrow(
        new RegExp(`^--alphas: ${bad} is out of range: alpha must be a number in \\[0, 100\\]`),
      );
      expect(existsSync(out)).toBe(false);
    }
  });

  it(`caps --seeds at ${MAX_EXPERIMENT_SEEDS}, saying so in the refusal and in --help`, async () => {
    const many = Array.from({ length: MAX_EXPERIMENT_SEEDS + 1 }, (_, i) => i + 1).join(',');
    const out = path.join(dir, 'seeds');
    await expect(runExperiment(args(out, '0', many))).rejects.toThrow(
      `--seeds lists ${MAX_EXPERIMENT_SEEDS + 1} seeds; at most ${MAX_EXPERIMENT_SEEDS} are allowed`,
    );
    expect(existsSync(out)).toBe(false);
    expect(EXPERIMENT_FLAGS.seeds.help).toContain(`at most ${MAX_EXPERIMENT_SEEDS}`);
  });

  it('a truncated result.json is refused naming the file', async () => {
    const out = path.join(dir, 'truncated');
    const run = path.join(out, 'runs', 'alpha-0_seed-1');
    mkdirSync(run, { recursive: true });
    const file = path.join(run, 'result.json');
    writeFileSync(file, '{\n "name": "alpha-0_seed-1",\n "alp');
    await expect(runExperiment(args(out, '0', '1'))).rejects.toThrow(`${file} is damaged (not valid JSON:`);
    writeFileSync(file, 'null');
    await expect(runExperiment(args(out, '0', '1'))).rejects.toThrow(`${file} is damaged (not a JSON object)`);
    expect(readdirSync(run)).toEqual(['result.json']); // nothing removed, nothing trained
  });

  it('a bad eval-curve.jsonl line is refused naming the file and line; a torn last line is dropped', async () => {
    const out = path.join(dir, 'curve');
    const run = path.join(out, 'runs', 'alpha-0_seed-1');
    // a finished run (step = steps): no training, the curve is read next
    await saveRunDir(run, tinyState({ step: 50 }));
    const curve = path.join(run, 'eval-curve.jsonl');
    writeFileSync(curve, '{"step":10,"accuracy":0.5}\n{"step":20,"accu\n{"step":30,"accuracy":0.7}\n');
    await expect(runExperiment(args(out, '0', '1'))).rejects.toThrow(`${curve} line 2: not valid JSON`);
    writeFileSync(curve, '{"step":10,"accuracy":0.5}\n{"step":"x","accuracy":0.5}\n');
    await expect(runExperiment(args(out, '0', '1'))).rejects.toThrow(
      `${curve} line 2: expected {"step": a non-negative integer, "accuracy": a number in [0, 1]}`,
    );
    // an interrupted append leaves a last line without its newline: dropped,
    // and the run goes on to its evaluation (which fails here on the
    // non-teacher file, after the curve was read)
    writeFileSync(curve, '{"step":10,"accuracy":0.5}\n{"step":20,"accu');
    const said: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((x) => said.push(String(x)) > 0);
    try {
      await expect(runExperiment(args(out, '0', '1'))).rejects.not.toThrow(/eval-curve\.jsonl/);
    } finally {
      spy.mockRestore();
    }
    expect(said.join('')).toContain(`warning: ${curve} line 2: incomplete (an interrupted write); dropped`);
    expect(said.join('')).toContain(`alpha-0_seed-1: evaluating on ${FILE}`);
  });
});
