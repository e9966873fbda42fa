// The worker's side of the shared training loop (core/loop.ts): its status
// and progress go to the page as events, pause and stop come from the
// run's RunControl.

import type { Trainer } from '../core/trainer';
import { trainLoop, type SaveReason, type StepProgress } from '../core/loop';
import { fireAndForget, type RunControl } from './control';
import type { RunLabel, RunResult, TrainListener } from '../shared/protocol';

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
}

export async function runLoop(o: LoopOptions): Promise<RunResult> {
  const { trainer, label, hook } = o;
  const emit = (e: Parameters<TrainListener>[0]): void => fireAndForget(o.emit, e);
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
    },
  });
  emit({ type: 'status', label, status: r.status, step: r.step });
  return { label, ...r, metrics: trainer.metrics.slice() };
}
