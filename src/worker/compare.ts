// Comparison: MCC-KD (the settings' alpha) and the alpha = 0 baseline,
// trained on the same data with the same seed, one after the other, for each
// seed asked; summarised by the same buildReport as `mcckd experiment`.

import { curationOf, DEFAULT_TRAIN, prepareTrainConfig, type TrainConfig } from '../core/config';
import type { BaseDtype } from '../core/base-dtype-choice';
import { MAX_COMPARE_SEEDS, buildReport, type ExperimentRun, type Report } from '../core/experiment-report';
import type { AccuracyCheck, CompareOptions, CompareResult, CompareRun, EvalOptions, EvalResultView, TrainListener } from './protocol';
import type { RunControl } from './control';
import { errMsg } from './control';
import { dataFor, disposeLive, type Session, type TeacherData } from './session';
import { announce, createTrainer, emitter, evaluateLive, exclusive, loop, type Emit } from './runs';

/** For each seed, trains MCC-KD (the settings' alpha) and then the
 * baseline (alpha = 0) on the same data, and evaluates both. Stopping ends
 * the comparison after the current step; what finished is reported. Only
 * the last MCC-KD model stays loaded. */
export function compare(
  session: Session,
  input: Partial<TrainConfig>,
  evalOpts: EvalOptions,
  listener: TrainListener,
  opts: CompareOptions = {},
): Promise<CompareResult> {
  const emit = emitter(listener);
  return exclusive(session, 'comparing', async (control) => {
    const seeds = checkSeeds(opts.seeds ?? [input.seed ?? DEFAULT_TRAIN.seed]);
    // refused before anything is touched: the model in memory stays
    if ((input.alpha ?? DEFAULT_TRAIN.alpha) === 0) throw new Error('set alpha above 0 to compare MCC-KD with the alpha = 0 baseline');
    const runs: CompareRun[] = [];
    const finished: ExperimentRun[] = [];
    let first: { data: TeacherData; config: TrainConfig } | undefined;
    let failed = false;
    for (const [seedIndex, seed] of seeds.entries()) {
      if (control.signal.aborted || failed) break;
      // curation draws rationales (and the dev split) with the seed, as each `mcckd train --seed` does
      const data = await dataFor(session, curationOf({ ...input, seed }));
      const config = prepareTrainConfig({ ...input, seed }, data.groups.length);
      first ??= { data, config };
      for (const c of [config, { ...config, alpha: 0 }]) {
        if (control.signal.aborted) break;
        const label = c.alpha === 0 ? 'baseline' : 'mcckd';
        emit({ type: 'compare-run', label, alpha: c.alpha, seed, seedIndex, seeds: seeds.length });
        let run: CompareRun;
        try {
          run = await oneRun(session, label, data, c, { evalOpts, accuracy: opts.accuracy, baseDtype: opts.baseDtype }, control, emit);
        } catch (e) {
          // a run that fails (diverged, a GPU that did not come back) ends
          // the comparison, but the runs before it are reported, not lost
          emit({
            type: 'note',
            label,
            level: 'error',
            message: `seed ${seed}: ${errMsg(e)}; the comparison stops here and reports the runs that finished`,
          });
          // the run's own loop has already said 'failed' with its step
          failed = true;
          break;
        }
        runs.push(run);
        // a run whose evaluation a stop cut short has no result to report
        if (run.result.status === 'done' && (run.eval || !control.signal.aborted))
          finished.push(experimentRun(run, evalName(session, data)));
      }
    }
    const firstOf = (label: CompareRun['label']): CompareResult['mcckd'] => {
      const r = runs.find((x) => x.label === label);
      return r
        ? { result: r.result, ...(r.eval ? { eval: r.eval } : {}) }
        : { result: { label, status: 'stopped', step: 0, totalSteps: first?.config.steps ?? 0, metrics: [] } };
    };
    return { mcckd: firstOf('mcckd'), baseline: firstOf('baseline'), runs, report: report(session, first, finished, evalOpts) };
  });
}

/** Trains and evaluates one model. An MCC-KD model becomes the session's
 * (replacing the previous seed's); a baseline is freed when it is done. */
async function oneRun(
  session: Session,
  label: CompareRun['label'],
  data: TeacherData,
  config: TrainConfig,
  { evalOpts, accuracy, baseDtype }: { evalOpts: EvalOptions; accuracy?: AccuracyCheck; baseDtype?: BaseDtype },
  control: RunControl,
  emit: Emit,
): Promise<CompareRun> {
  if (label === 'mcckd') disposeLive(session);
  const { live, createMs } = await createTrainer(session, label, data, config, emit, baseDtype);
  if (label === 'mcckd') session.live = live;
  try {
    announce(session, emit, live, createMs, 0);
    const result = await loop(session, live, control, emit, { autosaveEvery: 0, ...(accuracy ? { accuracy } : {}) });
    let ev: EvalResultView | undefined;
    if (!control.signal.aborted) {
      try {
        ev = await evaluateLive(session, live, evalOpts, (done, total) => emit({ type: 'eval', label, done, total }));
        emit({ type: 'eval', label, done: ev.total, total: ev.total, result: ev });
      } catch (e) {
        emit({ type: 'note', label, level: 'error', message: `evaluation skipped: ${errMsg(e)}` });
      }
    }
    return {
      label,
      alpha: config.alpha,
      seed: config.seed,
      result,
      ...(ev ? { eval: ev } : {}),
      ...(live.accuracy?.length ? { accuracy: live.accuracy.slice() } : {}),
    };
  } finally {
    if (label === 'baseline') live.trainer.dispose();
  }
}

/** Distinct whole numbers, at least one and at most MAX_COMPARE_SEEDS (the
 * page checks them too; this guards the worker's own callers). */
function checkSeeds(seeds: readonly number[]): number[] {
  if (seeds.length === 0) throw new Error('give at least one seed');
  if (seeds.length > MAX_COMPARE_SEEDS) throw new Error(`at most ${MAX_COMPARE_SEEDS} seeds, got ${seeds.length}`);
  for (const s of seeds) if (!Number.isSafeInteger(s) || s < 0) throw new Error(`seed ${s} is not a whole number of 0 or more`);
  if (new Set(seeds).size !== seeds.length) throw new Error('a seed is listed twice');
  return [...seeds];
}

/** What the runs were evaluated on (runs.ts heldOut). */
function evalName(session: Session, data: TeacherData): string {
  return session.evalData?.name ?? `dev split of ${data.name} (drawn with each seed)`;
}

function experimentRun(r: CompareRun, file: string): ExperimentRun {
  const m = r.result.metrics;
  const last = m[m.length - 1];
  const ev = r.eval;
  const c = ev?.consistency;
  return {
    name: `alpha-${r.alpha}_seed-${r.seed}`,
    alpha: r.alpha,
    seed: r.seed,
    steps: r.result.totalSteps,
    trainSeconds: (last?.time ?? 0) / 1000,
    final: { loss: last?.loss ?? NaN, ce: last?.ce ?? NaN, kl: last?.kl ?? NaN },
    curve: m.map((p) => ({ step: p.step, loss: p.loss, ce: p.ce, kl: p.kl })),
    evalCurve: (r.accuracy ?? []).map((p) => ({ step: p.step, accuracy: p.accuracy })),
    id: {
      file,
      total: ev?.total ?? 0,
      accuracy: ev?.accuracy ?? null,
      majorityAccuracy: c?.majorityAccuracy ?? null,
      agreement: c?.agreement ?? null,
      sampleAccuracy: c?.sampleAccuracy ?? null,
      answered: c?.answered ?? null,
      answerKL: c?.answerKL ?? null,
    },
  };
}

/** The report over the finished runs; its seeds are those with one at least. */
function report(
  session: Session,
  first: { data: TeacherData; config: TrainConfig } | undefined,
  runs: ExperimentRun[],
  evalOpts: EvalOptions,
): Report {
  const c = first?.config;
  const seeds = [...new Set(runs.map((r) => r.seed))];
  const samples = evalOpts.samples !== undefined && evalOpts.samples >= 2 ? evalOpts.samples : 0;
  return buildReport(
    {
      data: first?.data.name ?? '',
      eval: first ? evalName(session, first.data) : '',
      alphas: [0, c?.alpha ?? DEFAULT_TRAIN.alpha],
      seeds,
      samples,
      sampleTemperature: evalOpts.temperature ?? 1,
      sampleSeed: evalOpts.seed ?? 1,
      ...(evalOpts.limit ? { evalLimit: evalOpts.limit } : {}),
      train: c ? trainFlags(session, c, evalOpts) : {},
    },
    runs,
  );
}

/** The training settings under the names of `mcckd train`'s flags, so the
 * report says how to run the same with the CLI. */
function trainFlags(session: Session, c: TrainConfig, evalOpts: EvalOptions): Record<string, string | number> {
  const out: Record<string, string | number> = {
    steps: c.steps,
    preset: c.preset,
    backend: c.backend,
    batch: c.batchSize,
    lr: c.lr,
    k: c.k,
    temperature: c.temperature,
    warmup: c.warmupSteps,
    'weight-decay': c.weightDecay,
    'vocab-size': c.vocabSize,
  };
  if (session.student) out.student = session.student.summary.name;
  if (c.promptTemplate !== undefined) out['prompt-template'] = c.promptTemplate;
  if (evalOpts.maxNewTokens) out['max-new-tokens'] = evalOpts.maxNewTokens;
  return out;
}
