// What the worker is doing, as one typed state with its allowed moves in
// one table. A run (training, a comparison, the classroom demo) owns a
// RunControl for stop and pause; an evaluation returns to where it started
// (idle, or a paused training run). Loading
// data or a student, switching the backend and deleting the live run need
// the idle state.
//
// This is what the worker is busy with, not a run's status (core/run-status.ts
// RunStatus): a comparison has two runs, an evaluation is no run at all.

import type { RunControl } from './control';

/** The long operations that own a RunControl. */
export type RunKind = 'training' | 'comparing' | 'classroom';

export type WorkerState =
  | { phase: 'idle' }
  | { phase: RunKind; control: RunControl }
  | { phase: 'paused'; run: RunKind; control: RunControl }
  | { phase: 'evaluating'; from: IdleOrPaused };

export type Phase = WorkerState['phase'];
type IdleOrPaused = Extract<WorkerState, { phase: 'idle' | 'paused' }>;

/** The allowed moves. A paused run resumes only as the run it was (checked
 * in `transition`); only a paused training run may be evaluated (its model
 * is the live one; a comparison's models come and go). */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  idle: ['training', 'comparing', 'classroom', 'evaluating'],
  training: ['paused', 'idle'],
  comparing: ['paused', 'idle'],
  classroom: ['paused', 'idle'],
  paused: ['training', 'comparing', 'classroom', 'evaluating', 'idle'],
  // back where it started; to idle also when the paused run under it is stopped
  evaluating: ['idle', 'paused'],
};

/** What the page's messages call each state. */
const SAID: Record<Phase, string> = {
  idle: 'idle',
  training: 'training',
  comparing: 'comparing',
  classroom: 'running the classroom demo',
  paused: 'paused',
  evaluating: 'evaluating',
};

export function describeState(s: WorkerState): string {
  return s.phase === 'paused' ? `${SAID[s.run]} (paused)` : SAID[s.phase];
}

export class TransitionError extends Error {
  override name = 'TransitionError';
  constructor(
    readonly from: WorkerState,
    readonly to: WorkerState,
  ) {
    super(`cannot go from ${describeState(from)} to ${describeState(to)}`);
  }
}

/** The next state, or a TransitionError naming both. Pure. */
export function transition(from: WorkerState, to: WorkerState): WorkerState {
  const allowed = TRANSITIONS[from.phase].includes(to.phase);
  // out of a pause, only the paused run itself goes on (its own control): a
  // new run would leave the paused one waiting on a control nobody resumes
  const sameRun =
    from.phase !== 'paused' || to.phase === 'idle' || to.phase === 'evaluating' || (to.phase === from.run && to.control === from.control);
  const evaluable = to.phase !== 'evaluating' || from.phase === 'idle' || (from.phase === 'paused' && from.run === 'training');
  if (!allowed || !sameRun || !evaluable) throw new TransitionError(from, to);
  return to;
}

/** The worker's one state, moved only through `transition`. */
export class WorkerMachine {
  private s: WorkerState = { phase: 'idle' };
  /** The evaluation in progress (on its own, or a comparison's): Cancel
   * and Stop abort it. */
  private evaluation: AbortController | undefined;

  get state(): WorkerState {
    return this.s;
  }

  /** The run in progress (running, paused, or paused under an evaluation). */
  get control(): RunControl | undefined {
    const s = this.s.phase === 'evaluating' ? this.s.from : this.s;
    return 'control' in s ? s.control : undefined;
  }

  get idle(): boolean {
    return this.s.phase === 'idle';
  }

  to(next: WorkerState): void {
    this.s = transition(this.s, next);
  }

  /** Refuses `what` unless idle: "cannot <what> while <state>; stop it first". */
  assertIdle(what: string): void {
    if (!this.idle) throw new Error(`cannot ${what} while ${describeState(this.s)}; stop it first`);
  }

  /** Pause and resume of the run in progress (no run, or one being
   * stopped: nothing to do). */
  pause(): void {
    const s = this.s;
    if (s.phase !== 'training' && s.phase !== 'comparing' && s.phase !== 'classroom') return;
    if (s.control.signal.aborted) return;
    this.to({ phase: 'paused', run: s.phase, control: s.control });
    s.control.pause();
  }

  resume(): void {
    const s = this.s;
    // the paused run goes on once the evaluation of its model is over
    if (s.phase === 'evaluating' && s.from.phase === 'paused') throw new TransitionError(s, { phase: s.from.run, control: s.from.control });
    if (s.phase !== 'paused') return;
    this.to({ phase: s.run, control: s.control });
    s.control.resume();
  }

  /** The run that owns `control` ended (done, stopped or failed). */
  endRun(control: RunControl): void {
    if (this.control === control) this.to({ phase: 'idle' });
  }

  /** The user's evaluation starts from here (idle, or a paused training
   * run); `end` goes back, unless stopping the paused run under it already
   * went to idle. */
  startEvaluation(): { end(): void } {
    const from = this.s;
    if (from.phase !== 'idle' && from.phase !== 'paused') throw new TransitionError(from, { phase: 'evaluating', from: { phase: 'idle' } });
    const mine: WorkerState = { phase: 'evaluating', from };
    this.to(mine);
    return { end: () => void (this.s === mine && this.to(from)) };
  }

  /** Makes `abort` the evaluation that cancelEvaluation (and stop) abort,
   * until the returned function is called. */
  trackEvaluation(abort: AbortController): () => void {
    this.evaluation = abort;
    return () => {
      if (this.evaluation === abort) this.evaluation = undefined;
    };
  }

  cancelEvaluation(): void {
    this.evaluation?.abort();
  }

  /** Stops the run in progress after its current step, and any evaluation. */
  stop(): void {
    this.control?.stop();
    this.cancelEvaluation();
  }
}
