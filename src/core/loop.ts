// The training loop, shared by the CLI and the browser worker: one
// Trainer.trainStep at a time; stop (an AbortSignal) and pause are checked
// between steps, so a step is never cut in half and the model stays
// consistent; periodic saves; progress with an estimate of the time left.

import type { MetricPoint } from './state';
import type { RunStatus, SaveReason } from './run-status';
import type { Trainer } from './trainer';

export type { SaveReason };

/** Pausing, as the worker offers it (the CLI has none). */
export interface PauseGate {
  readonly paused: boolean;
  /** Resolves once resumed or stopped. */
  whilePaused(): Promise<void>;
}

export interface StepProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  elapsedMs: number;
  /** Estimated ms left, from recent step times; undefined until known. */
  etaMs?: number;
  /** Present on log steps (TrainConfig.logEvery). */
  metrics?: MetricPoint;
}

export interface LoopOptions {
  trainer: Trainer;
  /** Aborting stops the run after the current step. */
  signal?: AbortSignal;
  pause?: PauseGate;
  /** Stop after this step (a long run trained in sessions); the schedule
   * still spans the run's total steps. */
  stopAt?: number;
  /** Save every N steps (0 = never) and when paused, stopped or done. */
  autosaveEvery?: number;
  save?(reason: SaveReason): Promise<void>;
  /** Runs a step exclusively (an evaluation may run while paused). */
  exclusive?<T>(fn: () => Promise<T>): Promise<T>;
  onStatus?(status: Extract<RunStatus, 'running' | 'paused'>, step: number): void;
  /** After every step, awaited (the classroom demo reads the model here). */
  onStep?(p: StepProgress): void | Promise<void>;
}

export interface LoopResult {
  status: Extract<RunStatus, 'stopped' | 'done'>;
  step: number;
  totalSteps: number;
}

/** Step times of the last few steps give the time left; the first step of a
 * run (and after a pause) is left out because it includes shader
 * compilation or a GPU waking up. */
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

/** Lets queued events (pause, stop, Ctrl-C, evaluate requests) run between
 * steps: a step that needs no read-back never leaves the microtask queue. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const { trainer } = o;
  const stopAt = Math.min(o.stopAt ?? trainer.totalSteps, trainer.totalSteps);
  const from = trainer.step;
  const autosaveEvery = o.autosaveEvery ?? 0;
  const t0 = performance.now();
  const eta = new Eta();
  let first = true;
  o.onStatus?.('running', trainer.step);
  while (trainer.step < stopAt && !o.signal?.aborted) {
    if (o.pause?.paused) {
      o.onStatus?.('paused', trainer.step);
      await o.save?.('pause');
      await o.pause.whilePaused();
      if (o.signal?.aborted) break;
      o.onStatus?.('running', trainer.step);
      first = true;
    }
    const ts = performance.now();
    const metrics = o.exclusive ? await o.exclusive(() => trainer.trainStep()) : await trainer.trainStep();
    const dt = performance.now() - ts;
    if (!first) eta.add(dt);
    first = false;
    await o.onStep?.({
      step: trainer.step,
      totalSteps: trainer.totalSteps,
      epoch: trainer.epoch,
      elapsedMs: performance.now() - t0,
      etaMs: eta.estimate(trainer.totalSteps - trainer.step),
      metrics,
    });
    if (autosaveEvery > 0 && trainer.step % autosaveEvery === 0 && trainer.step < stopAt) await o.save?.('autosave');
    await yieldToEvents();
  }
  const status = trainer.step >= trainer.totalSteps ? 'done' : 'stopped';
  // a finished run given nothing to train has its final checkpoint already
  if (!(status === 'done' && trainer.step === from)) await o.save?.(status === 'done' ? 'done' : 'stop');
  return { status, step: trainer.step, totalSteps: trainer.totalSteps };
}
