// The worker's side of the shared training loop (core/loop.ts): its status
// and progress go to the page as events, pause and stop come from the
// run's RunControl; accuracy checks on a small held-out set run between
// steps when the page asks for them.

import type { Trainer } from '../core/trainer';
import { isAccuracyStep, trainLoop, type SaveReason, type StepProgress } from '../core/loop';

export { isAccuracyStep };
import type { StudentTokenizer } from '../core/tokenizer';
import type { EvalItem, QuestionGroup, TaskType } from '../data/types';
import { BackendLostError } from '../core/backend';
import { errMsg, fireAndForget, type RunControl } from './control';
import type { AccuracyPoint, RunLabel, RunResult, TrainListener } from './protocol';

/** What an accuracy check reads: the first questions of a held-out set. */
export interface AccuracyPlan {
  every: number;
  items: EvalItem[];
  taskType: TaskType;
  maxNewTokens: number;
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

/** Auto: about a tenth of the run, but not more often than every 25 steps,
 * so a short run is not slowed down by checks that say little. */
export const MIN_AUTO_EVERY = 25;

/** How often to check, from the page's setting (undefined: auto) and the
 * run's length; 0: never. */
export function accuracyEvery(setting: number | undefined, totalSteps: number): number {
  if (setting === undefined) return Math.max(MIN_AUTO_EVERY, Math.round(totalSteps / 10));
  return Math.max(0, Math.floor(setting));
}

/** A generation long enough for the training rationales the student
 * imitates (the longest of a sample of them, plus room for the end token),
 * within the model's positions: a check with a shorter limit would cut
 * answers off, a longer one only wastes time on a rambling student. */
export function autoMaxNewTokens(tok: Pick<StudentTokenizer, 'encode'>, groups: readonly QuestionGroup[], blockSize: number, sample = 64): number {
  let longest = 0;
  for (const g of groups.slice(0, sample)) for (const r of g.rationales) longest = Math.max(longest, tok.encode(r.text).length);
  return Math.max(8, Math.min(blockSize, longest + 8));
}

export async function runLoop(o: LoopOptions): Promise<RunResult> {
  const { trainer, label, hook } = o;
  const emit = (e: Parameters<TrainListener>[0]): void => fireAndForget(o.emit, e);
  let acc = o.accuracy;
  const check = async (step: number): Promise<void> => {
    if (!acc || o.control.signal.aborted) return;
    const a = acc;
    try {
      // outside the step's tf.tidy: evaluate disposes what it makes; a stop
      // cancels it between decoding batches
      const r = await (o.exclusive ?? ((fn) => fn()))(() =>
        trainer.evaluate(a.items, { taskType: a.taskType, maxNewTokens: a.maxNewTokens, signal: o.control.signal }),
      );
      const point: AccuracyPoint = { step, accuracy: r.accuracy, correct: r.correct, total: r.total };
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
