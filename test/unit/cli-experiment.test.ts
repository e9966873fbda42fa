// `mcckd experiment` end to end on a tiny budget, as a user runs it (a child
// process): two alphas, two seeds, two steps each on the demo generator's
// data, cpu backend. Checks the files, the report's arithmetic (recomputed
// here from the per-run numbers), that the SVG is well-formed XML with its
// text escaped, and that a second invocation reuses the finished runs.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { demoFiles } from '../../scripts/demo/generate';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin/mcckd.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function mcckd(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: process.env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

interface Stat {
  mean: number | null;
  sd: number | null;
  n: number;
}
interface Run {
  name: string;
  alpha: number;
  seed: number;
  steps: number;
  curve: { step: number; loss: number }[];
  evalCurve: { step: number; accuracy: number }[];
  [k: string]: unknown;
}
interface Report {
  config: { alphas: number[]; seeds: number[] };
  runs: Run[];
  summary: Record<string, Record<string, Stat>>;
  paired: Record<string, Record<string, { diffs: (number | null)[]; stat: Stat }>>;
}

function value(r: Run, metric: string): number | null {
  let v: unknown = r;
  for (const k of metric.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' ? v : null;
}

/** Mean and sample sd (n - 1), computed here independently of the runner. */
function stat(xs: (number | null)[]): Stat {
  const v = xs.filter((x): x is number => x !== null);
  if (!v.length) return { mean: null, sd: null, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return {
    mean,
    sd: v.length > 1 ? Math.sqrt(v.map((x) => (x - mean) ** 2).reduce((a, b) => a + b, 0) / (v.length - 1)) : null,
    n: v.length,
  };
}

/** A strict, small XML well-formedness check: one root, tags nested and
 * closed, attributes quoted, no raw "<" or stray "&" in text or values. */
function checkXml(xml: string): void {
  let s = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  while (s.length) {
    const lt = s.indexOf('<');
    const text = lt < 0 ? s : s.slice(0, lt);
    if (text.replace(entity, '').includes('&')) throw new Error(`unescaped & in text: ${text.slice(0, 40)}`);
    if (stack.length === 0 && text.trim()) throw new Error(`text outside the root: ${text.slice(0, 40)}`);
    if (lt < 0) break;
    s = s.slice(lt);
    const m = /^<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*="[^"<]*")*)\s*(\/?)>/.exec(s);
    if (!m) throw new Error(`malformed tag: ${s.slice(0, 60)}`);
    const [all, close, name, attrs, self] = m;
    if (attrs.replace(entity, '').includes('&')) throw new Error(`unescaped & in attributes of <${name}>`);
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`);
    } else if (!self) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
    s = s.slice(all.length);
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
}

describe('mcckd experiment', () => {
  it('trains every (alpha, seed), writes report.json, report.md and curves.svg, and reuses finished runs', async () => {
    // a name with XML and Markdown specials: the SVG and the table must escape it
    const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-exp-'));
    const files = demoFiles({ seed: 11, train: 16, test: 4 });
    const train = path.join(dir, 'train&<demo>|x.jsonl');
    const test = path.join(dir, 'test.jsonl');
    const ood = path.join(dir, 'ood.jsonl');
    writeFileSync(train, files['train.jsonl']);
    writeFileSync(test, files['test.jsonl']);
    writeFileSync(ood, demoFiles({ seed: 12, train: 1, test: 3 })['test.jsonl']);
    const out = path.join(dir, 'exp');
    const args = [
      'experiment',
      '--data',
      train,
      '--eval',
      test,
      '--eval-ood',
      ood,
      '--alphas',
      '0,0.5',
      '--seeds',
      '1,2',
      '--steps',
      '2',
      '--preset',
      'tiny',
      '--vocab-size',
      '300',
      '--batch',
      '1',
      '--backend',
      'cpu',
      '--samples',
      '2',
      '--eval-limit',
      '2',
      '--max-new-tokens',
      '4',
      '--eval-every',
      '1',
      '--eval-every-limit',
      '1',
      '--out',
      out,
    ];
    const r = await mcckd(args);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['report.json', 'report.md', 'curves.svg']) expect(existsSync(path.join(out, f)), f).toBe(true);

    const rep = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    expect(rep.runs.map((x) => [x.alpha, x.seed]).sort()).toEqual([
      [0, 1],
      [0, 2],
      [0.5, 1],
      [0.5, 2],
    ]);
    for (const x of rep.runs) {
      expect(x.steps).toBe(2);
      expect(x.curve.map((p) => p.step)).toEqual([1, 2]);
      expect(x.evalCurve.map((p) => p.step)).toEqual([1, 2]);
      expect(existsSync(path.join(out, 'runs', x.name, 'result.json'))).toBe(true);
      for (const m of ['id.accuracy', 'id.agreement', 'id.majorityAccuracy', 'ood.accuracy', 'final.loss'])
        expect(value(x, m), `${x.name} ${m}`).not.toBeNull();
      expect(value(x, 'id.total')).toBe(2);
      expect(value(x, 'ood.total')).toBe(2);
    }
    const metrics = Object.keys(rep.summary['0']);
    expect(metrics).toEqual(
      expect.arrayContaining([
        'final.loss',
        'id.accuracy',
        'id.agreement',
        'id.majorityAccuracy',
        'id.sampleAccuracy',
        'id.answerKL',
        'ood.accuracy',
      ]),
    );
    const run = (a: number, s: number): Run => rep.runs.find((x) => x.alpha === a && x.seed === s)!;
    for (const a of [0, 0.5]) {
      for (const m of metrics) {
        const want = stat([1, 2].map((s) => value(run(a, s), m)));
        const got = rep.summary[String(a)][m];
        expect(got.n, m).toBe(want.n);
        if (want.mean === null) expect(got.mean).toBeNull();
        else expect(got.mean!).toBeCloseTo(want.mean, 12);
        if (want.sd === null) expect(got.sd).toBeNull();
        else expect(got.sd!).toBeCloseTo(want.sd, 12);
      }
    }
    for (const m of metrics) {
      const diffs = [1, 2].map((s) => {
        const x = value(run(0.5, s), m);
        const y = value(run(0, s), m);
        return x !== null && y !== null ? x - y : null;
      });
      const p = rep.paired['0.5'][m];
      expect(p.diffs.length).toBe(2);
      p.diffs.forEach((d, i) => (diffs[i] === null ? expect(d).toBeNull() : expect(d!).toBeCloseTo(diffs[i]!, 12)));
      const want = stat(diffs);
      if (want.mean !== null) expect(p.stat.mean!).toBeCloseTo(want.mean, 12);
    }

    // the table shows the same numbers (4 decimals)
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    const f4 = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(4));
    for (const m of ['final.loss', 'id.accuracy', 'ood.agreement']) {
      const row = md.split('\n').find((l) => l.startsWith(`| ${m} |`))!;
      expect(row, m).toBeDefined();
      for (const a of ['0', '0.5']) {
        const s = rep.summary[a][m];
        expect(row).toContain(`${f4(s.mean)} ± ${f4(s.sd)}`);
      }
    }
    expect(md).toContain('alpha 0.5 − alpha 0, paired by seed');
    expect(md).toContain('train&<demo>\\|x.jsonl'); // a pipe would split the table's cell

    const svg = readFileSync(path.join(out, 'curves.svg'), 'utf8');
    checkXml(svg);
    expect(svg).toContain('train&amp;&lt;demo&gt;|x.jsonl');
    expect(svg.match(/<path /g)!.length).toBe(8); // a loss line and an accuracy line per run
    expect(new Set([...svg.matchAll(/<path [^>]*stroke="(#[0-9a-f]+)"/g)].map((x) => x[1])).size).toBe(2); // one colour per alpha

    // a second invocation keeps every finished run and writes the same report
    const again = await mcckd(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/done before, kept/g)?.length).toBe(4);
    expect(again.stderr).not.toMatch(/training/);
    expect(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'))).toEqual(rep);

    // a run whose result is gone but whose training finished is evaluated again, not retrained
    rmSync(path.join(out, 'runs', 'alpha-0.5_seed-2', 'result.json'));
    const third = await mcckd(args);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr.match(/done before, kept/g)?.length).toBe(3);
    expect(third.stderr).not.toMatch(/training/);
    expect(third.stderr).toMatch(/alpha-0.5_seed-2: evaluating/);
    expect(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'))).toEqual(rep);

    // a run interrupted after step 1 (as `train --stop-at 1` leaves it) resumes
    // and ends where the uninterrupted run ended (cpu: exact)
    const out2 = path.join(dir, 'exp2');
    const trainFlags = args.slice(args.indexOf('--steps'), args.indexOf('--samples'));
    const half = await mcckd([
      'train',
      '--data',
      train,
      '--eval',
      test,
      '--alpha',
      '0',
      '--seed',
      '1',
      '--out',
      path.join(out2, 'runs', 'alpha-0_seed-1'),
      ...trainFlags,
      '--stop-at',
      '1',
    ]);
    expect(half.stderr).toMatch(/stopped at step 1 of 2/);
    const args2 = args.map((a) => (a === out ? out2 : a === '0,0.5' ? '0' : a === '1,2' ? '1' : a));
    const resumed = await mcckd(args2);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/alpha-0_seed-1: resuming at step 1/);
    const rep2 = JSON.parse(readFileSync(path.join(out2, 'report.json'), 'utf8')) as Report;
    const [a, b] = [rep2.runs[0], run(0, 1)];
    expect(a.curve).toEqual(b.curve);
    expect([a.id, a.ood]).toEqual([b.id, b.ood]);
  }, 900_000);

  it('train --eval-every prints accuracy lines among the step lines; eval --samples adds consistency', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-exp-'));
    const files = demoFiles({ seed: 13, train: 8, test: 3 });
    const train = path.join(dir, 'train.jsonl');
    const test = path.join(dir, 'test.jsonl');
    writeFileSync(train, files['train.jsonl']);
    writeFileSync(test, files['test.jsonl']);
    const run = path.join(dir, 'run');
    const t = await mcckd([
      'train',
      '--data',
      train,
      '--eval',
      test,
      '--preset',
      'tiny',
      '--vocab-size',
      '300',
      '--batch',
      '1',
      '--steps',
      '2',
      '--backend',
      'cpu',
      '--eval-every',
      '1',
      '--eval-every-limit',
      '2',
      '--max-new-tokens',
      '4',
      '--out',
      run,
    ]);
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // step 1, its evaluation, step 2, its evaluation, then the final evaluation of every question
    expect(lines.map((l) => ('eval' in l ? `e${String(l.step ?? '')}` : `s${String(l.step)}`))).toEqual(['s1', 'e1', 's2', 'e2', 'e']);
    for (const l of [lines[1], lines[3]]) {
      const e = l.eval as { accuracy: number; correct: number; total: number };
      expect(Object.keys(e).sort()).toEqual(['accuracy', 'correct', 'total']);
      expect(e.total).toBe(2);
      expect(e.accuracy).toBe(e.correct / 2);
    }
    const e = await mcckd([
      'eval',
      '--run',
      run,
      '--data',
      test,
      '--samples',
      '3',
      '--temperature',
      '1.5',
      '--seed',
      '4',
      '--max-new-tokens',
      '4',
    ]);
    expect(e.code, e.stderr).toBe(0);
    const res = JSON.parse(e.stdout) as { accuracy: number; consistency: Record<string, unknown> };
    expect(res.consistency).toMatchObject({ questions: 3, samples: 3, temperature: 1.5, seed: 4, greedyAccuracy: res.accuracy });
    for (const k of ['agreement', 'majorityAccuracy', 'sampleAccuracy', 'answered']) expect(typeof res.consistency[k]).toBe('number');
    expect('answerKL' in res.consistency).toBe(true);
    const bad = await mcckd(['eval', '--run', run, '--data', test, '--samples', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--samples must be at least 2/);
  });

  it('refuses bad lists with a one-line reason', async () => {
    const r = await mcckd(['experiment', '--data', BIN, '--eval', BIN, '--alphas', '0,x', '--seeds', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--alphas: "x" is not a number/);
    const s = await mcckd(['experiment', '--data', BIN, '--eval', BIN, '--alphas', '0,0.1', '--seeds', '1,1.5']);
    expect(s.stderr).toMatch(/--seeds: "1.5" is not an integer/);
  });
});
