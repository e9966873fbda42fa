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
import { parseFlags, str, num, positiveInt, UsageError } from './args';
import { EXPERIMENT_DEFAULTS, EXPERIMENT_FLAGS, EXPERIMENT_TRAIN_FLAGS, MAX_EXPERIMENT_SEEDS } from './flags';
import { runTrain } from './train';
import { runEval } from './evaluate';
import { loadRunDir, CHECKPOINT_FILE, writeFileAtomic } from '../checkpoint/runDir';
import { checkRange, ConfigRangeError, TRAIN_LIMITS, type Range } from '../core/config';
import { MAX_CONSISTENCY_SAMPLES } from '../core/consistency';
import { buildReport, curvesSvg, reportMarkdown, type ExperimentRun, type Report, type SplitMetrics } from '../core/experiment-report';

/** "0,0.1" -> [0, 0.1]: distinct finite numbers, each in `range` (the
 * trainer's own limit), all checked before the first run trains. */
function numberList(f: { alphas?: string; seeds?: string }, name: 'alphas' | 'seeds', integer: boolean, range: Range): number[] {
  const v = f[name];
  if (!v) throw new UsageError(`--${name} is required (a comma-separated list, e.g. ${integer ? '1,2,3' : '0,0.1'})`);
  const xs = v.split(',').map((x) => x.trim());
  const out = xs.map((x) => Number(x));
  out.forEach((x, i) => {
    if (xs[i] === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x)))
      throw new UsageError(`--${name}: "${xs[i]}" is not ${integer ? 'an integer' : 'a number'}`);
    try {
      checkRange(name.slice(0, -1), x, range);
    } catch (e) {
      if (e instanceof ConfigRangeError) throw new UsageError(`--${name}: ${xs[i]} is out of range: ${e.message}`);
      throw e;
    }
  });
  if (new Set(out).size !== out.length) throw new UsageError(`--${name} lists a value twice`);
  return out;
}

/** A file an earlier attempt wrote, as JSON; damage is refused naming the
 * file, since the fix (delete it) is the person's call: it holds a finished
 * run's evaluation. */
async function readResult(file: string): Promise<Record<string, unknown>> {
  let j: unknown;
  try {
    j = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is damaged (not valid JSON: ${(e as Error).message}): delete it to evaluate that run again`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j))
    throw new Error(`${file} is damaged (not a JSON object): delete it to evaluate that run again`);
  return j as Record<string, unknown>;
}

type CurvePoint = { step: number; accuracy: number };

/** eval-curve.jsonl: one {step, accuracy} a line. A last line without its
 * newline is an append that was cut short (the process was killed): it is
 * dropped with a warning. Any other bad line is refused naming it. */
function parseEvalCurve(text: string, file: string, warn: (msg: string) => void): CurvePoint[] {
  const lines = text.split('\n');
  const out: CurvePoint[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const torn = i === lines.length - 1; // no newline after it
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      if (torn) {
        warn(`${file} line ${i + 1}: incomplete (an interrupted write); dropped`);
        return;
      }
      throw new Error(`${file} line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const p = o as Partial<CurvePoint> | null;
    if (
      typeof p !== 'object' ||
      p === null ||
      !Number.isSafeInteger(p.step) ||
      (p.step as number) < 0 ||
      typeof p.accuracy !== 'number' ||
      !(p.accuracy >= 0 && p.accuracy <= 1)
    )
      throw new Error(`${file} line ${i + 1}: expected {"step": a non-negative integer, "accuracy": a number in [0, 1]}`);
    out.push({ step: p.step as number, accuracy: p.accuracy });
  });
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
  const f = parseFlags(argv, EXPERIMENT_FLAGS);
  const data = str(f, 'data');
  const evalFile = str(f, 'eval');
  const ood = str(f, 'eval-ood');
  if (!data) throw new UsageError('--data FILE is required');
  if (!evalFile) throw new UsageError('--eval FILE is required (the in-distribution test file; every run trains on all of --data)');
  for (const [flag, file] of [
    ['--data', data],
    ['--eval', evalFile],
    ['--eval-ood', ood],
  ] as const)
    if (file && !(await exists(file))) throw new UsageError(`${flag} ${file}: no such file`);
  const alphas = numberList(f, 'alphas', false, TRAIN_LIMITS.alpha);
  const seeds = numberList(f, 'seeds', true, TRAIN_LIMITS.seed);
  if (seeds.length > MAX_EXPERIMENT_SEEDS)
    throw new UsageError(`--seeds lists ${seeds.length} seeds; at most ${MAX_EXPERIMENT_SEEDS} are allowed (each trains a run per alpha)`);
  const samples = positiveInt(f, 'samples') ?? EXPERIMENT_DEFAULTS.samples;
  if (samples < 2) throw new UsageError('--samples must be at least 2');
  if (samples > MAX_CONSISTENCY_SAMPLES)
    throw new UsageError(
      `--samples must be at most ${MAX_CONSISTENCY_SAMPLES}, got ${samples} (each question's samples are compared at once)`,
    );
  const sampleTemperature = num(f, 'sample-temperature') ?? EXPERIMENT_DEFAULTS.sampleTemperature;
  const sampleSeed = num(f, 'sample-seed') ?? EXPERIMENT_DEFAULTS.sampleSeed;
  const out = str(f, 'out') ?? EXPERIMENT_DEFAULTS.out;
  const train: Record<string, string | number> = {};
  for (const k of EXPERIMENT_TRAIN_FLAGS) {
    const v = f[k];
    if (v !== undefined) train[k] = v;
  }
  const trainArgs = Object.entries(train).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const evalLimit = positiveInt(f, 'eval-limit');
  const config: Report['config'] = {
    data,
    eval: evalFile,
    ...(ood ? { evalOod: ood } : {}),
    alphas,
    seeds,
    samples,
    sampleTemperature,
    sampleSeed,
    ...(evalLimit ? { evalLimit } : {}),
    train,
  };
  await mkdir(path.join(out, 'runs'), { recursive: true });

  const runs: ExperimentRun[] = [];
  for (const seed of seeds) {
    for (const alpha of alphas) {
      const name = `alpha-${alpha}_seed-${seed}`;
      const dir = path.join(out, 'runs', name);
      const resultFile = path.join(dir, RESULT_FILE);
      if (await exists(resultFile)) {
        const { config: made, ...prev } = (await readResult(resultFile)) as unknown as ExperimentRun & { config?: unknown };
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
      // whole or not at all: a result.json is the mark of a finished run
      await writeFileAtomic(resultFile, JSON.stringify({ ...r, config: runConfig(config) }, null, 1));
      runs.push(r);
    }
  }
  const report = buildReport(config, runs);
  await writeFile(path.join(out, 'report.json'), JSON.stringify(report, null, 1));
  await writeFile(path.join(out, 'report.md'), reportMarkdown(report));
  await writeFile(path.join(out, 'curves.svg'), curvesSvg(report));
  log(`wrote ${path.join(out, 'report.md')}, report.json and curves.svg`);
  process.stdout.write(
    `${JSON.stringify({ report: path.resolve(out, 'report.json'), summary: report.summary, paired: Object.fromEntries(Object.entries(report.paired).map(([a, ms]) => [a, Object.fromEntries(Object.entries(ms).map(([m, p]) => [m, p.stat]))])) })}\n`,
  );
  return 0;
}

/** What a stored result must have been made with to be reused. */
function runConfig(c: Report['config']): unknown {
  return {
    data: c.data,
    eval: c.eval,
    evalOod: c.evalOod ?? null,
    evalLimit: c.evalLimit ?? null,
    samples: c.samples,
    sampleTemperature: c.sampleTemperature,
    sampleSeed: c.sampleSeed,
    train: c.train,
  };
}

/** Trains (or resumes) one run and evaluates it. */
async function oneRun(
  c: Report['config'],
  trainArgs: string[],
  name: string,
  dir: string,
  alpha: number,
  seed: number,
): Promise<ExperimentRun | 'interrupted'> {
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
    const args = resume
      ? ['--data', c.data, '--eval', c.eval, '--resume', dir, ...trainArgs]
      : ['--data', c.data, '--eval', c.eval, '--alpha', String(alpha), '--seed', String(seed), '--out', dir, ...trainArgs];
    if ((await runTrain(args, io)) !== 0) return 'interrupted';
  }
  const st = await loadRunDir(dir);
  const steps = st.trainConfig.steps;
  if (st.step < steps) return 'interrupted';
  const last = st.metrics[st.metrics.length - 1];
  const evalCurve = (await exists(curveFile))
    ? parseEvalCurve(await readFile(curveFile, 'utf8'), curveFile, (m) => log(`warning: ${m}`))
    : [];
  const split = async (file: string): Promise<SplitMetrics> => {
    let got: Record<string, unknown> | undefined;
    const args = [
      '--run',
      dir,
      '--data',
      file,
      '--samples',
      String(c.samples),
      '--temperature',
      String(c.sampleTemperature),
      '--seed',
      String(c.sampleSeed),
    ];
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
