// Cooperative cancellation of a run: stop aborts the run's AbortSignal, and
// pause only sets a flag; the training loop (core/loop.ts) checks both
// between optimizer steps, so a step is never cut in half. An evaluation
// that runs while the run is paused listens to the same signal.

import type { PauseGate } from '../core/loop';

export class RunControl implements PauseGate {
  private readonly abort = new AbortController();
  private pausedFlag = false;
  private wake: (() => void) | undefined;

  /** Aborted when the run is stopped. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }
  get paused(): boolean {
    return this.pausedFlag;
  }

  pause(): void {
    if (!this.abort.signal.aborted) this.pausedFlag = true;
  }

  resume(): void {
    this.pausedFlag = false;
    this.wake?.();
  }

  stop(): void {
    this.abort.abort();
    this.pausedFlag = false;
    this.wake?.();
  }

  async whilePaused(): Promise<void> {
    while (this.pausedFlag && !this.abort.signal.aborted) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

/** An error's message, for notes and combined messages. */
export const errMsg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Calls a Comlink-proxied listener without waiting for the page, and without
 * letting a closed page break the run. */
export function fireAndForget<T>(fn: (arg: T) => unknown, arg: T): void {
  try {
    void Promise.resolve(fn(arg)).catch(() => undefined);
  } catch {
    // the page went away; training state is unaffected
  }
}

/** A FIFO mutex: training steps and an evaluation run while paused must not
 * interleave on the same model. */
export class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
