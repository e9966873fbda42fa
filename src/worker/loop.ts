// The training loop the worker runs: one Trainer.trainStep at a time, with
// pause/stop checked between steps, progress events for the page, periodic
// autosave and an optional hook (the classroom demo's distributions).

import type { Trainer } from '../core/trainer';
import type { MetricPoint } from '../core/state';
import { fireAndForget, yieldToEvents, type RunControl } from './control';
import type { RunLabel, RunResult, TrainListener } from './protocol';

export interface LoopOptions {
  label: RunLabel;
  trainer: Trainer;
  control: RunControl;
  emit: TrainListener;
  /** Metrics of the run so far (appended to; kept with checkpoints). */
  metrics: MetricPoint[];
  /** Save every N steps (0 = never) and when paused or stopped. */
  autosaveEvery: number;
  save?(reason: 'autosave' | 'pause' | 'stop' | 'done'): Promise<void>;
  /** Runs GPU work exclusively (an evaluation may run while paused). */
  exclusive?<T>(fn: () => Promise<T>): Promise<T>;
  /** Called every `every` steps and after the last one. */
  hook?: { every: number; fn(step: number): Promise<void> };
}

/** Step times of the last few steps give the time left; the first step of a
 * run is left out because it includes shader compilation. */
class Eta {
  private times: number[] = [];
  add(ms: number): void {
    this.times.push(ms);
    if (this.times.length > 20) this.times.shift();
  }
  estimate(stepsLeft: number): number | undefined {
    if (this.times.length === 0) return undefined;
    const mean = this.times.reduce((a, b) => a + b, 0) / this.times.length;
    return mean * stepsLeft;
  }
}

export async function runLoop(o: LoopOptions): Promise<RunResult> {
  const { trainer, control, label } = o;
  const emit = (e: Parameters<TrainListener>[0]): void => fireAndForget(o.emit, e);
  const t0 = performance.now();
  const eta = new Eta();
  let first = true;
  emit({ type: 'status', label, status: 'running', step: trainer.step });
  while (trainer.step < trainer.totalSteps && !control.stopped) {
    if (control.paused) {
      emit({ type: 'status', label, status: 'paused', step: trainer.step });
      await o.save?.('pause');
      await control.whilePaused();
      if (control.stopped) break;
      emit({ type: 'status', label, status: 'running', step: trainer.step });
      first = true; // the next step may wait on a GPU that went idle
    }
    const ts = performance.now();
    const m = o.exclusive ? await o.exclusive(() => trainer.trainStep()) : await trainer.trainStep();
    const dt = performance.now() - ts;
    if (!first) eta.add(dt);
    first = false;
    if (m) o.metrics.push(m);
    emit({
      type: 'step',
      label,
      step: trainer.step,
      totalSteps: trainer.totalSteps,
      epoch: trainer.epoch,
      elapsedMs: performance.now() - t0,
      etaMs: eta.estimate(trainer.totalSteps - trainer.step),
      metrics: m,
    });
    if (o.hook && (trainer.step % o.hook.every === 0 || trainer.step === trainer.totalSteps)) await o.hook.fn(trainer.step);
    if (o.autosaveEvery > 0 && trainer.step % o.autosaveEvery === 0 && trainer.step < trainer.totalSteps) await o.save?.('autosave');
    await yieldToEvents();
  }
  const status = trainer.step >= trainer.totalSteps ? 'done' : 'stopped';
  await o.save?.(status === 'done' ? 'done' : 'stop');
  emit({ type: 'status', label, status, step: trainer.step });
  return { label, status, step: trainer.step, totalSteps: trainer.totalSteps, metrics: o.metrics.slice() };
}
