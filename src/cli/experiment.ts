// `mcckd experiment`: trains every (alpha, seed) with the same budget through
// the train command's own code path (runTrain), evaluates each run through
// the eval command's (runEval: greedy accuracy and the consistency metrics)
// on the in-distribution file and, when given, an out-of-distribution one,
// and writes DIR/report.json, DIR/report.md (mean ± sd over seeds per alpha,
// and the paired difference to the first alpha seed by seed) and
// DIR/curves.svg (learning curves). A run whose result.json exists is not
// trained again; a run interrupted in training resumes from its checkpoint.

import { appendFileSync, mkdirSync } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, str, num, positiveInt, UsageError, type Flags } from './args';
import { runTrain } from './train';
import { runEval } from './evaluate';
import { loadRunDir, CHECKPOINT_FILE } from '../checkpoint/runDir';

const SPEC = {
  data: 'string', eval: 'string', 'eval-ood': 'string', alphas: 'string', seeds: 'string', out: 'string',
  samples: 'number', 'sample-temperature': 'number', 'sample-seed': 'number', 'eval-limit': 'number',
  // passed to every run's `mcckd train` as they are
  steps: 'number', preset: 'string', backend: 'string', batch: 'number', lr: 'number', k: 'number', temperature: 'number',
  warmup: 'number', 'weight-decay': 'number', 'vocab-size': 'number', 'log-every': 'number', 'max-new-tokens': 'number',
  'eval-every': 'number', 'eval-every-limit': 'number', 'prompt-template': 'string',
} as const;

/** Flags given to each run's `mcckd train` unchanged. */
const TRAIN_FLAGS = ['steps', 'preset', 'backend', 'batch', 'lr', 'k', 'temperature', 'warmup', 'weight-decay', 'vocab-size', 'log-every', 'max-new-tokens', 'eval-every', 'eval-every-limit', 'prompt-template'] as const;

export const EXPERIMENT_DEFAULTS = { samples: 4, sampleTemperature: 1, sampleSeed: 1, out: 'experiment' } as const;

/** The evaluation of one run on one file. */
export interface SplitMetrics {
  file: string;
  total: number;
  accuracy: number;
  majorityAccuracy: number;
  agreement: number;
  sampleAccuracy: number;
  answered: number;
  answerKL: number | null;
}

export interface RunResult {
  name: string;
  alpha: number;
  seed: number;
  steps: number;
  trainSeconds: number;
  final: { loss: number; ce: number; kl: number };
  curve: { step: number; loss: number; ce: number; kl: number }[];
  evalCurve: { step: number; accuracy: number }[];
  id: SplitMetrics;
  ood?: SplitMetrics;
}

export interface Stat {
  mean: number | null;
  sd: number | null;
  n: number;
}

/** Metrics reported per run, as paths into RunResult. */
export function metricNames(hasOod: boolean): string[] {
  const split = ['accuracy', 'majorityAccuracy', 'agreement', 'sampleAccuracy', 'answered', 'answerKL'];
  return ['final.loss', 'final.ce', 'final.kl', ...split.map((m) => `id.${m}`), ...(hasOod ? split.map((m) => `ood.${m}`) : [])];
}

export function metricOf(r: RunResult, name: string): number | null {
  let v: unknown = r;
  for (const k of name.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Mean and sample standard deviation (n - 1) of the values that exist; sd
 * is null below two values, the mean below one. */
export function meanSd(xs: readonly (number | null)[]): Stat {
  const v = xs.filter((x): x is number => x !== null);
  const n = v.length;
  if (n === 0) return { mean: null, sd: null, n };
  const mean = v.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : null;
  return { mean, sd, n };
}

export interface Report {
  format: 'mcckd-experiment/1';
  config: { data: string; eval: string; evalOod?: string; alphas: number[]; seeds: number[]; samples: number; sampleTemperature: number; sampleSeed: number; evalLimit?: number; train: Record<string, string | number> };
  runs: RunResult[];
  /** summary[alpha][metric] over seeds. */
  summary: Record<string, Record<string, Stat>>;
  /** paired[alpha][metric]: alpha minus the first alpha, seed by seed, and their mean ± sd. */
  paired: Record<string, Record<string, { diffs: (number | null)[]; stat: Stat }>>;
}

export function buildReport(config: Report['config'], runs: RunResult[]): Report {
  const names = metricNames(config.evalOod !== undefined);
  const find = (a: number, s: number): RunResult | undefined => runs.find((r) => r.alpha === a && r.seed === s);
  const summary: Report['summary'] = {};
  const paired: Report['paired'] = {};
  const base = config.alphas[0];
  for (const a of config.alphas) {
    summary[String(a)] = Object.fromEntries(names.map((m) => [m, meanSd(config.seeds.map((s) => { const r = find(a, s); return r ? metricOf(r, m) : null; }))]));
    if (a === base) continue;
    paired[String(a)] = Object.fromEntries(
      names.map((m) => {
        const diffs = config.seeds.map((s) => {
          const r = find(a, s);
          const r0 = find(base, s);
          const x = r ? metricOf(r, m) : null;
          const y = r0 ? metricOf(r0, m) : null;
          return x !== null && y !== null ? x - y : null;
        });
        return [m, { diffs, stat: meanSd(diffs) }];
      }),
    );
  }
  return { format: 'mcckd-experiment/1', config, runs, summary, paired };
}

const fmt = (x: number | null): string => (x === null ? 'n/a' : Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(4));
const pm = (s: Stat): string => (s.mean === null ? 'n/a' : `${fmt(s.mean)} ± ${fmt(s.sd)}`);
const signed = (x: number | null): string => (x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${fmt(x)}`);

/** Markdown cells hold any text safely: no pipes or line breaks. */
const cell = (t: string): string => t.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function reportMarkdown(r: Report): string {
  const c = r.config;
  const names = metricNames(c.evalOod !== undefined);
  const lines: string[] = [];
  lines.push('# MCC-KD experiment', '');
  lines.push(`Teacher data \`${cell(c.data)}\`, in-distribution evaluation \`${cell(c.eval)}\`${c.evalOod ? `, out-of-distribution \`${cell(c.evalOod)}\`` : ''}.`);
  lines.push(`Alphas ${c.alphas.join(', ')}; seeds ${c.seeds.join(', ')}; training: ${Object.entries(c.train).map(([k, v]) => `--${k} ${cell(String(v))}`).join(' ') || 'defaults'}.`);
  lines.push(`Evaluation: greedy accuracy and ${c.samples} sampled rationales per question at temperature ${c.sampleTemperature} (seed ${c.sampleSeed})${c.evalLimit ? `, first ${c.evalLimit} questions of each file` : ''}.`);
  lines.push('Mean ± sample standard deviation (n − 1) over seeds; n/a where a value is missing (answerKL: no question had two samples stating an answer).', '');
  lines.push(`| metric | ${c.alphas.map((a) => `alpha ${a}`).join(' | ')} |`);
  lines.push(`| --- | ${c.alphas.map(() => '---').join(' | ')} |`);
  for (const m of names) lines.push(`| ${m} | ${c.alphas.map((a) => pm(r.summary[String(a)][m])).join(' | ')} |`);
  for (const a of c.alphas.slice(1)) {
    lines.push('', `## alpha ${a} − alpha ${c.alphas[0]}, paired by seed`, '');
    lines.push(`| metric | ${c.seeds.map((s) => `seed ${s}`).join(' | ')} | mean ± sd |`);
    lines.push(`| --- | ${c.seeds.map(() => '---').join(' | ')} | --- |`);
    for (const m of names) {
      const p = r.paired[String(a)][m];
      lines.push(`| ${m} | ${p.diffs.map(signed).join(' | ')} | ${p.stat.mean === null ? 'n/a' : `${signed(p.stat.mean)} ± ${fmt(p.stat.sd)}`} |`);
    }
  }
  lines.push('', '## Runs', '', '| run | alpha | seed | steps | train s | final loss | id accuracy | ood accuracy |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const x of r.runs) lines.push(`| ${cell(x.name)} | ${x.alpha} | ${x.seed} | ${x.steps} | ${x.trainSeconds.toFixed(1)} | ${fmt(x.final.loss)} | ${fmt(x.id.accuracy)} | ${x.ood ? fmt(x.ood.accuracy) : 'n/a'} |`);
  return `${lines.join('\n')}\n`;
}

/** Text for XML: the five characters with a meaning there escaped. */
export function escapeXml(t: string): string {
  return t.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
/** Runs of two alphas with the same seed can lie on top of each other: the
 * dash tells them apart where the colours mix. */
const DASHES = ['', '7 3', '2 2', '9 3 2 3'];

/** Round steps for an axis from lo to hi (about n ticks). */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** One panel: lines of (x, y) points in a box, with axes, ticks and labels. */
function panel(o: { x: number; y: number; w: number; h: number; title: string; yLabel: string; yRange?: [number, number]; series: { color: string; dash: string; points: [number, number][] }[] }): string {
  const pts = o.series.flatMap((s) => s.points);
  const out: string[] = [];
  out.push(`<text x="${o.x + o.w / 2}" y="${o.y - 8}" text-anchor="middle" font-size="13">${escapeXml(o.title)}</text>`);
  out.push(`<rect x="${o.x}" y="${o.y}" width="${o.w}" height="${o.h}" fill="none" stroke="#888"/>`);
  if (pts.length === 0) {
    out.push(`<text x="${o.x + o.w / 2}" y="${o.y + o.h / 2}" text-anchor="middle" font-size="12" fill="#888">no points</text>`);
    return out.join('\n');
  }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), ...(o.yRange ?? [Math.min(...ys), Math.max(...ys)])];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (v: number): number => o.x + ((v - x0) / (x1 - x0)) * o.w;
  const sy = (v: number): number => o.y + o.h - ((v - y0) / (y1 - y0)) * o.h;
  for (const t of ticks(x0, x1)) out.push(`<line x1="${sx(t).toFixed(1)}" y1="${o.y + o.h}" x2="${sx(t).toFixed(1)}" y2="${o.y + o.h + 4}" stroke="#888"/><text x="${sx(t).toFixed(1)}" y="${o.y + o.h + 16}" text-anchor="middle" font-size="10">${t}</text>`);
  for (const t of ticks(y0, y1)) out.push(`<line x1="${o.x - 4}" y1="${sy(t).toFixed(1)}" x2="${o.x}" y2="${sy(t).toFixed(1)}" stroke="#888"/><text x="${o.x - 6}" y="${(sy(t) + 3).toFixed(1)}" text-anchor="end" font-size="10">${t}</text>`);
  out.push(`<text x="${o.x + o.w / 2}" y="${o.y + o.h + 32}" text-anchor="middle" font-size="11">step</text>`);
  out.push(`<text x="${o.x - 40}" y="${o.y + o.h / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${o.x - 40} ${o.y + o.h / 2})">${escapeXml(o.yLabel)}</text>`);
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.2" stroke-opacity="0.85"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
  }
  return out.join('\n');
}

/** Learning curves: the loss per step of every run (one line each, coloured
 * by alpha) and, when runs were evaluated while training, their accuracy. */
export function curvesSvg(r: Report): string {
  const colorOf = (a: number): string => PALETTE[r.config.alphas.indexOf(a) % PALETTE.length];
  const dashOf = (a: number): string => DASHES[r.config.alphas.indexOf(a) % DASHES.length];
  const withAcc = r.runs.some((x) => x.evalCurve.length > 0);
  const pw = 520;
  const ph = 300;
  const right = withAcc ? 2 * pw + 130 : pw + 60; // where the panels end; the legend goes after
  const width = right + 120;
  const height = ph + 120;
  const parts: string[] = [];
  parts.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`);
  parts.push(`<title>${escapeXml(`MCC-KD learning curves: ${r.config.data}`)}</title>`);
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(panel({ x: 60, y: 40, w: pw, h: ph, title: 'training loss', yLabel: 'loss', series: r.runs.map((x) => ({ color: colorOf(x.alpha), dash: dashOf(x.alpha), points: x.curve.map((p) => [p.step, p.loss] as [number, number]) })) }));
  if (withAcc) parts.push(panel({ x: pw + 130, y: 40, w: pw, h: ph, title: 'held-out accuracy while training (greedy)', yLabel: 'accuracy', yRange: [0, 1], series: r.runs.map((x) => ({ color: colorOf(x.alpha), dash: dashOf(x.alpha), points: x.evalCurve.map((p) => [p.step, p.accuracy] as [number, number]) })) }));
  const lx = right + 15;
  r.config.alphas.forEach((a, i) => {
    const dash = dashOf(a) ? ` stroke-dasharray="${dashOf(a)}"` : '';
    parts.push(`<line x1="${lx}" y1="${50 + i * 18}" x2="${lx + 24}" y2="${50 + i * 18}" stroke="${colorOf(a)}" stroke-width="2"${dash}/><text x="${lx + 30}" y="${54 + i * 18}" font-size="11">${escapeXml(`alpha ${a}`)}</text>`);
  });
  parts.push(`<text x="${width / 2}" y="${height - 10}" text-anchor="middle" font-size="10" fill="#555">${escapeXml(`${r.runs.length} runs; seeds ${r.config.seeds.join(', ')}`)}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** "0,0.1" -> [0, 0.1]: distinct finite numbers. */
function numberList(f: Flags, name: string, integer: boolean): number[] {
  const v = str(f, name);
  if (!v) throw new UsageError(`--${name} is required (a comma-separated list, e.g. ${integer ? '1,2,3' : '0,0.1'})`);
  const xs = v.split(',').map((x) => x.trim());
  const out = xs.map((x) => Number(x));
  out.forEach((x, i) => {
    if (xs[i] === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) throw new UsageError(`--${name}: "${xs[i]}" is not ${integer ? 'an integer' : 'a number'}`);
  });
  if (new Set(out).size !== out.length) throw new UsageError(`--${name} lists a value twice`);
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

const RESULT_FILE = 'result.json';
const EVAL_CURVE_FILE = 'eval-curve.jsonl';

export async function runExperiment(argv: string[]): Promise<number> {
  const f = parseFlags(argv, SPEC);
  const data = str(f, 'data');
  const evalFile = str(f, 'eval');
  const ood = str(f, 'eval-ood');
  if (!data) throw new UsageError('--data FILE is required');
  if (!evalFile) throw new UsageError('--eval FILE is required (the in-distribution test file; every run trains on all of --data)');
  for (const [flag, file] of [['--data', data], ['--eval', evalFile], ['--eval-ood', ood]] as const) if (file && !(await exists(file))) throw new UsageError(`${flag} ${file}: no such file`);
  const alphas = numberList(f, 'alphas', false);
  const seeds = numberList(f, 'seeds', true);
  const samples = positiveInt(f, 'samples') ?? EXPERIMENT_DEFAULTS.samples;
  if (samples < 2) throw new UsageError('--samples must be at least 2');
  const sampleTemperature = num(f, 'sample-temperature') ?? EXPERIMENT_DEFAULTS.sampleTemperature;
  const sampleSeed = num(f, 'sample-seed') ?? EXPERIMENT_DEFAULTS.sampleSeed;
  const out = str(f, 'out') ?? EXPERIMENT_DEFAULTS.out;
  const train: Record<string, string | number> = {};
  for (const k of TRAIN_FLAGS) if (f[k] !== undefined) train[k] = f[k] as string | number;
  const trainArgs = Object.entries(train).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const evalLimit = positiveInt(f, 'eval-limit');
  const config: Report['config'] = { data, eval: evalFile, ...(ood ? { evalOod: ood } : {}), alphas, seeds, samples, sampleTemperature, sampleSeed, ...(evalLimit ? { evalLimit } : {}), train };
  await mkdir(path.join(out, 'runs'), { recursive: true });

  const runs: RunResult[] = [];
  for (const seed of seeds) {
    for (const alpha of alphas) {
      const name = `alpha-${alpha}_seed-${seed}`;
      const dir = path.join(out, 'runs', name);
      const resultFile = path.join(dir, RESULT_FILE);
      if (await exists(resultFile)) {
        const { config: made, ...prev } = JSON.parse(await readFile(resultFile, 'utf8')) as RunResult & { config?: unknown };
        if (JSON.stringify(made) === JSON.stringify(runConfig(config))) {
          log(`${name}: done before, kept (${resultFile})`);
          runs.push(prev);
          continue;
        }
        log(`${name}: the result there was made with other settings: training again`);
        await rm(dir, { recursive: true, force: true });
      }
      const r = await oneRun(config, trainArgs, name, dir, alpha, seed);
      if (r === 'interrupted') {
        log(`interrupted: ${name} is saved; run the same command again to go on`);
        return 130;
      }
      await writeFile(resultFile, JSON.stringify({ ...r, config: runConfig(config) }, null, 1));
      runs.push(r);
    }
  }
  const report = buildReport(config, runs);
  await writeFile(path.join(out, 'report.json'), JSON.stringify(report, null, 1));
  await writeFile(path.join(out, 'report.md'), reportMarkdown(report));
  await writeFile(path.join(out, 'curves.svg'), curvesSvg(report));
  log(`wrote ${path.join(out, 'report.md')}, report.json and curves.svg`);
  process.stdout.write(`${JSON.stringify({ report: path.resolve(out, 'report.json'), summary: report.summary, paired: Object.fromEntries(Object.entries(report.paired).map(([a, ms]) => [a, Object.fromEntries(Object.entries(ms).map(([m, p]) => [m, p.stat]))])) })}\n`);
  return 0;
}

/** What a stored result must have been made with to be reused. */
function runConfig(c: Report['config']): unknown {
  return { data: c.data, eval: c.eval, evalOod: c.evalOod ?? null, evalLimit: c.evalLimit ?? null, samples: c.samples, sampleTemperature: c.sampleTemperature, sampleSeed: c.sampleSeed, train: c.train };
}

/** Trains (or resumes) one run and evaluates it. */
async function oneRun(c: Report['config'], trainArgs: string[], name: string, dir: string, alpha: number, seed: number): Promise<RunResult | 'interrupted'> {
  const curveFile = path.join(dir, EVAL_CURVE_FILE);
  const io = {
    finalEval: false,
    out: (x: object): void => {
      const o = x as { step?: number; eval?: { accuracy: number } };
      if (o.step === undefined || !o.eval) return;
      // kept in the run's directory, so that a resumed run keeps its earlier points
      mkdirSync(dir, { recursive: true });
      appendFileSync(curveFile, `${JSON.stringify({ step: o.step, accuracy: o.eval.accuracy })}\n`);
    },
  };
  const resume = await exists(path.join(dir, CHECKPOINT_FILE));
  const state0 = resume ? await loadRunDir(dir) : undefined;
  // points of an attempt that never saved belong to no checkpoint
  if (!resume) await rm(curveFile, { force: true });
  if (!state0 || state0.step < state0.trainConfig.steps) {
    log(`${name}: ${state0 ? `resuming at step ${state0.step}` : 'training'}`);
    const args = resume ? ['--data', c.data, '--eval', c.eval, '--resume', dir, ...trainArgs] : ['--data', c.data, '--eval', c.eval, '--alpha', String(alpha), '--seed', String(seed), '--out', dir, ...trainArgs];
    if ((await runTrain(args, io)) !== 0) return 'interrupted';
  }
  const st = await loadRunDir(dir);
  const steps = st.trainConfig.steps;
  if (st.step < steps) return 'interrupted';
  const last = st.metrics[st.metrics.length - 1];
  const evalCurve = (await exists(curveFile)) ? (await readFile(curveFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; accuracy: number }) : [];
  const split = async (file: string): Promise<SplitMetrics> => {
    let got: Record<string, unknown> | undefined;
    const args = ['--run', dir, '--data', file, '--samples', String(c.samples), '--temperature', String(c.sampleTemperature), '--seed', String(c.sampleSeed)];
    for (const k of ['backend', 'max-new-tokens'] as const) if (c.train[k] !== undefined) args.push(`--${k}`, String(c.train[k]));
    if (c.evalLimit !== undefined) args.push('--limit', String(c.evalLimit));
    log(`${name}: evaluating on ${file}`);
    await runEval(args, { out: (x) => (got = x as Record<string, unknown>) });
    const cons = got!.consistency as Record<string, number | null>;
    return {
      file,
      total: got!.total as number,
      accuracy: got!.accuracy as number,
      majorityAccuracy: cons.majorityAccuracy as number,
      agreement: cons.agreement as number,
      sampleAccuracy: cons.sampleAccuracy as number,
      answered: cons.answered as number,
      answerKL: cons.answerKL,
    };
  };
  const id = await split(c.eval);
  const oodM = c.evalOod ? await split(c.evalOod) : undefined;
  return {
    name,
    alpha,
    seed,
    steps,
    // the trainer's own clock, which a resumed run carries on (no data reading or set-up)
    trainSeconds: (last?.time ?? 0) / 1000,
    final: { loss: last?.loss ?? NaN, ce: last?.ce ?? NaN, kl: last?.kl ?? NaN },
    curve: st.metrics.map((m) => ({ step: m.step, loss: m.loss, ce: m.ce, kl: m.kl })),
    evalCurve,
    id,
    ...(oodM ? { ood: oodM } : {}),
  };
}

