// The worker's side of the shared training loop (core/loop.ts): its status
// and progress go to the page as events, pause and stop come from the
// run's RunControl; accuracy checks on a small held-out set run between
// steps when the page asks for them.

import type { Trainer } from '../core/trainer';
import { trainLoop, type SaveReason, type StepProgress } from '../core/loop';
import { checkAccuracy, type AccuracySchedule } from '../core/run';
import { isAccuracyStep } from '../core/run-settings';
import { BackendLostError } from '../core/backend';
import { errMsg, fireAndForget, type RunControl } from './control';
import type { AccuracyPoint, RunLabel, RunResult, TrainListener } from './protocol';

/** The core's accuracy schedule (core/run.ts), with where its points go. */
export interface AccuracyPlan extends AccuracySchedule {
  source: 'eval-file' | 'dev-split';
  /** Where each check's point is kept (the live model's history). */
  record(p: AccuracyPoint): void;
}

export interface LoopOptions {
  label: RunLabel;
  trainer: Trainer;
  control: RunControl;
  emit: TrainListener;
  /** Save every N steps (0 = never) and when paused or stopped. */
  autosaveEvery: number;
  save?(reason: SaveReason): Promise<void>;
  /** Runs GPU work exclusively (an evaluation may run while paused). */
  exclusive?<T>(fn: () => Promise<T>): Promise<T>;
  /** Called every `every` steps and after the last one. */
  hook?: { every: number; fn(step: number): Promise<void> };
  accuracy?: AccuracyPlan;
}

export async function runLoop(o: LoopOptions): Promise<RunResult> {
  const { trainer, label, hook } = o;
  const emit = (e: Parameters<TrainListener>[0]): void => fireAndForget(o.emit, e);
  let acc = o.accuracy;
  const check = async (step: number): Promise<void> => {
    if (!acc || o.control.signal.aborted) return;
    const a = acc;
    try {
      const point = await (o.exclusive ?? ((fn) => fn()))(() => checkAccuracy(trainer, a, step, o.control.signal));
      a.record(point);
      emit({ type: 'accuracy', label, source: a.source, ...point });
    } catch (e) {
      if (o.control.signal.aborted) return; // stopped mid-check: the run ends as asked
      if (e instanceof BackendLostError) throw e;
      // a failed check must not end the training it measures
      acc = undefined;
      emit({ type: 'note', label, level: 'error', message: `accuracy checks are off for this run: ${errMsg(e)}` });
    }
  };
  const r = await trainLoop({
    trainer,
    signal: o.control.signal,
    pause: o.control,
    autosaveEvery: o.autosaveEvery,
    save: o.save,
    exclusive: o.exclusive,
    onStatus: (status, step) => emit({ type: 'status', label, status, step }),
    onStep: async (p: StepProgress) => {
      emit({ type: 'step', label, ...p });
      if (hook && (p.step % hook.every === 0 || p.step === p.totalSteps)) await hook.fn(p.step);
      if (acc && isAccuracyStep(p.step, acc.every, p.totalSteps)) await check(p.step);
    },
  });
  emit({ type: 'status', label, status: r.status, step: r.step });
  return { label, ...r, metrics: trainer.metrics.slice() };
}
