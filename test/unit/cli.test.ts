// The CLI end to end, as a user runs it: `node bin/mcckd.js ...` in a child
// process, on a file the test writes and on a slice of the real data.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { swiftShaderEnv } from '../../src/cli/node-gpu';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin/mcckd.js');
const SHARED = path.resolve(ROOT, '../shared/data');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function mcckd(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function jsonLines(s: string): Record<string, unknown>[] {
  return s
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function writeData(dir: string, nTrain = 12): { train: string; test: string } {
  const lines: string[] = [];
  const tests: string[] = [];
  for (let i = 0; i < nTrain + 4; i++) {
    const a = 2 + (i % 5);
    const b = 1 + ((i * 3) % 7);
    const q = `Tom has ${a} pens and buys ${b} more. How many pens does he have?`;
    const ans = a + b;
    const rec = {
      id: `p${i}`,
      question: q,
      answer: String(ans),
      rationales: [
        `${a} + ${b} = ${ans}. The answer is ${ans}.`,
        `He ends with ${b} more than ${a}, so ${ans}. So the answer is ${ans}.`,
        `Adding gives ${ans} pens. Therefore, the answer is ${ans}.`,
      ],
    };
    (i < nTrain ? lines : tests).push(JSON.stringify(i < nTrain ? rec : { id: rec.id, question: q, answer: String(ans) }));
  }
  const train = path.join(dir, 'train.jsonl');
  const test = path.join(dir, 'test.jsonl');
  writeFileSync(train, `${lines.join('\n')}\n`);
  writeFileSync(test, `${tests.join('\n')}\n`);
  return { train, test };
}

const TINY = ['--preset', 'tiny', '--vocab-size', '300', '--batch', '2', '--seed', '3'];

describe('mcckd train / eval / inspect', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-cli-'));
  const { train, test } = writeData(dir);

  it('trains, logs JSON per step, saves a run, resumes to --steps and evaluates', async () => {
    const out = path.join(dir, 'run');
    const r = await mcckd(['train', '--data', train, ...TINY, '--steps', '3', '--out', out, '--backend', 'cpu']);
    expect(r.stderr).toContain('parameters');
    expect(r.code).toBe(0);
    const steps = jsonLines(r.stdout).filter((l) => 'step' in l);
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3]);
    for (const s of steps) for (const k of ['loss', 'ce', 'kl', 'lr', 'tokensPerSecond']) expect(typeof s[k]).toBe('number');
    expect(readdirSync(out).length).toBeGreaterThan(0);

    // bad lines: the good records train (the same data as before: the resume
    // accepts it) and are scored; the bad ones are named by file and line
    const withBad = (file: string): string => {
      const bad = file.replace(/\.jsonl$/, '-bad.jsonl');
      writeFileSync(bad, `${readFileSync(file, 'utf8')}{"id": "broken"\n`);
      return bad;
    };
    const [badTrain, badTest] = [withBad(train), withBad(test)];
    const more = await mcckd(['train', '--data', badTrain, '--resume', out, '--steps', '5', '--eval', test, '--max-new-tokens', '12']);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stderr).toContain(`${badTrain} line 13: invalid JSON`);
    expect(more.stderr).toContain('dropped: 1 invalid-json');
    const lines = jsonLines(more.stdout);
    expect(lines.filter((l) => 'step' in l).map((l) => l.step)).toEqual([4, 5]);
    // the finished run keeps its decay: the added steps run at its last rate (core/schedule.ts)
    const lrs = [...steps, ...lines.filter((l) => 'step' in l)].map((l) => l.lr as number);
    expect(lrs[3]).toBe(lrs[4]);
    expect(lrs[3]).toBeLessThan(lrs[1]);
    const ev = lines.find((l) => 'eval' in l)!.eval as { total: number; accuracy: number };
    expect(ev.total).toBe(4);
    expect(ev.accuracy).toBeGreaterThanOrEqual(0);

    const e = await mcckd(['eval', '--run', out, '--data', badTest, '--limit', '2', '--max-new-tokens', '8']);
    expect(e.code).toBe(0);
    expect(e.stderr).toContain(`${badTest} line 5: invalid JSON`);
    const res = JSON.parse(e.stdout) as { total: number; samples: unknown[] };
    expect(res.total).toBe(2);
    expect(res.samples.length).toBe(2);
    expect((res as { taskType?: string }).taskType).toBe('number');

    // --task overrides the detected task type; a wrong one is a usage error
    const asText = await mcckd(['eval', '--run', out, '--data', test, '--limit', '1', '--max-new-tokens', '4', '--task', 'text']);
    expect(asText.code, asText.stderr).toBe(0);
    expect((JSON.parse(asText.stdout) as { taskType: string }).taskType).toBe('text');
    const bad = await mcckd(['eval', '--run', out, '--data', test, '--task', 'essay']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--task must be one of number, choice, yesno, text, got "essay"/);
  });

  it('resumed losses equal an uninterrupted run on the cpu backend', async () => {
    const a = await mcckd(['train', '--data', train, ...TINY, '--steps', '4', '--backend', 'cpu']);
    const out = path.join(dir, 'half');
    const first = await mcckd(['train', '--data', train, ...TINY, '--steps', '4', '--stop-at', '2', '--out', out, '--backend', 'cpu']);
    expect(first.stderr).toMatch(/stopped at step 2 of 4/);
    const b = await mcckd(['train', '--data', train, '--resume', out]);
    expect(b.code).toBe(0);
    const losses = (s: string): unknown[] =>
      jsonLines(s)
        .filter((l) => 'step' in l)
        .map((l) => l.loss);
    expect(losses(first.stdout).length).toBe(2);
    expect(losses(b.stdout)).toEqual(losses(a.stdout).slice(2));
  });

  it('inspect prints the curation report', async () => {
    const r = await mcckd(['inspect', '--data', train]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as { format: string; rationalesIn: number };
    expect(rep.rationalesIn).toBe(36);
  });

  it('inspect --unreadable: a labelled rationale without a readable answer is kept or dropped as asked', async () => {
    const file = path.join(dir, 'labelled.json');
    // Mentor-KD records: one rationale states its answer, the other only argues it
    const recs = [
      { input: 'Is 7 greater than 3?', chain: 'Seven is more than three. So, yes, it is.', answer: 'yes', initial_correct: true },
      { input: 'Is 7 greater than 3?', chain: 'Seven comes after three when counting up from one.', answer: 'yes', initial_correct: true },
    ];
    writeFileSync(file, JSON.stringify(recs));
    const kept = JSON.parse((await mcckd(['inspect', '--data', file])).stdout) as { rationalesKept: number; keptOnLabel: number };
    const dropped = JSON.parse((await mcckd(['inspect', '--data', file, '--unreadable', 'drop'])).stdout) as {
      rationalesKept: number;
      keptOnLabel: number;
    };
    expect([kept.rationalesKept, kept.keptOnLabel]).toEqual([2, 1]);
    expect([dropped.rationalesKept, dropped.keptOnLabel]).toEqual([1, 0]);
    const bad = await mcckd(['inspect', '--data', file, '--unreadable', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--unreadable must be keep-labelled or drop/);
  });

  it('fails with a one-line reason on bad usage and bad files', async () => {
    const empty = path.join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    for (const args of [
      ['train'],
      ['train', '--data', path.join(dir, 'nope.json')],
      ['train', '--data', empty],
      ['train', '--data', train, '--backend', 'tpu'],
      ['frobnicate'],
    ]) {
      const r = await mcckd(args);
      expect(r.code).not.toBe(0);
      const errs = r.stderr.split('\n').filter((l) => l.startsWith('mcckd: '));
      expect(errs.length, r.stderr).toBe(1);
      expect(errs[0].length).toBeGreaterThan(12);
    }
  });

  it('refuses settings out of range before training (a learning rate of 1e30 once wrote NaN weights over the checkpoint)', async () => {
    for (const [flag, value, msg] of [
      ['--lr', '1e30', /lr must be a number in \(0, 1\], got 1e\+30/],
      ['--batch', '100000', /batchSize must be/],
      ['--temperature', '1e-40', /temperature must be/],
    ] as const) {
      const r = await mcckd(['train', '--data', train, ...TINY, flag, value, '--steps', '2', '--out', path.join(dir, 'never')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(existsSync(path.join(dir, 'never'))).toBe(false);
    }
  });
});

describe.skipIf(!existsSync(SHARED))('mcckd train on real teacher data (../shared/data)', () => {
  it('trains a few steps on a slice of Mentor-KD SVAMP and evaluates', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-real-'));
    const all = JSON.parse(readFileSync(path.join(SHARED, 'mentor-kd/svamp_3_train.json'), 'utf8')) as unknown[];
    const slice = path.join(dir, 'slice.json');
    writeFileSync(slice, JSON.stringify(all.slice(0, 60)));
    const test = JSON.parse(readFileSync(path.join(SHARED, 'mentor-kd/svamp_test.json'), 'utf8')) as unknown[];
    const testSlice = path.join(dir, 'test.json');
    writeFileSync(testSlice, JSON.stringify(test.slice(0, 3)));
    const r = await mcckd([
      'train',
      '--data',
      slice,
      '--eval',
      testSlice,
      ...TINY,
      '--steps',
      '2',
      '--backend',
      'wasm',
      '--max-new-tokens',
      '16',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/data: mentor-kd/);
    const lines = jsonLines(r.stdout);
    expect(lines.filter((l) => 'step' in l).length).toBe(2);
    expect((lines.find((l) => 'eval' in l)!.eval as { total: number }).total).toBe(3);
  });
});

const gpuEnv = swiftShaderEnv();
describe.skipIf(!gpuEnv)('WebGPU in Node (Dawn on SwiftShader)', () => {
  it('trains with losses within 2e-3 of the cpu backend', async () => {
    // two steps: the second runs on weights the first updated (SwiftShader takes seconds a step)
    const args = ['train', '--data', train(), ...TINY, '--steps', '2'];
    const cpu = await mcckd([...args, '--backend', 'cpu']);
    const gpu = await mcckd([...args, '--backend', 'webgpu'], gpuEnv);
    expect(gpu.stderr).toMatch(/backend: webgpu/);
    expect(gpu.stderr).not.toMatch(/validation|invalid/i);
    expect(gpu.code).toBe(0);
    const a = jsonLines(cpu.stdout)
      .filter((l) => 'step' in l)
      .map((l) => l.loss as number);
    const b = jsonLines(gpu.stdout)
      .filter((l) => 'step' in l)
      .map((l) => l.loss as number);
    expect(b.length).toBe(2);
    b.forEach((x, i) => expect(Math.abs(x - a[i])).toBeLessThan(2e-3));
  }, 900_000);
});

function train(): string {
  // 8 questions: no dev split, so no evaluation (slow on SwiftShader)
  return writeData(mkdtempSync(path.join(tmpdir(), 'mcckd-gpu-')), 8).train;
}
