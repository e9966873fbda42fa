// Cooperative cancellation for the training loop: the UI's pause/stop calls
// only set flags here; the loop checks them between optimizer steps, so a step
// is never cut in half and the model stays consistent.

export class RunControl {
  private pausedFlag = false;
  private stoppedFlag = false;
  private wake: (() => void) | undefined;

  get paused(): boolean {
    return this.pausedFlag;
  }
  get stopped(): boolean {
    return this.stoppedFlag;
  }

  pause(): void {
    if (!this.stoppedFlag) this.pausedFlag = true;
  }

  resume(): void {
    this.pausedFlag = false;
    this.wake?.();
  }

  stop(): void {
    this.stoppedFlag = true;
    this.pausedFlag = false;
    this.wake?.();
  }

  /** Resolves once resumed or stopped. */
  async whilePaused(): Promise<void> {
    while (this.pausedFlag && !this.stoppedFlag) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

/** Lets queued messages (pause, stop, evaluate requests) run between steps:
 * a step that needs no GPU read-back otherwise never leaves the microtask
 * queue. */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
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
