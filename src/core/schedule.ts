// Learning-rate schedule: linear warmup, then cosine decay to minLr.
//
// A finished run trained further ("Train N more steps", `mcckd train
// --resume --steps N` on a done run) keeps the decay it had: its steps
// stay where they were, and the steps added run at the final rate, minLr
// (a constant tail). Re-planning the cosine over the new total would lift
// the rate from minLr back up in the middle of a run that had already
// settled (a warm restart the user did not ask for), and would change what
// the learning-rate chart already shows for the steps trained.

interface ScheduleConfig {
  lr: number;
  minLr: number;
  warmupSteps: number;
  steps: number;
  /** Where the cosine decay ends (default: steps); set when a finished run
   * is trained further, so the added steps are a tail at minLr. */
  decaySteps?: number;
}

/** Learning rate for optimizer step `step` (0-based: the step being taken). */
export function learningRate(step: number, c: ScheduleConfig): number {
  if (c.warmupSteps > 0 && step < c.warmupSteps) return (c.lr * (step + 1)) / c.warmupSteps;
  const end = Math.min(c.decaySteps ?? c.steps, c.steps);
  const span = Math.max(1, end - c.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - c.warmupSteps) / span));
  return c.minLr + 0.5 * (c.lr - c.minLr) * (1 + Math.cos(Math.PI * progress));
}

/** The schedule of a run trained `more` steps past its total: the total
 * raised, the decay kept where it ended (see above). */
export function extendSchedule<T extends ScheduleConfig>(c: T, more: number): T {
  if (!Number.isInteger(more) || more < 1) throw new Error(`steps to add must be a whole number of at least 1, got ${more}`);
  return { ...c, steps: c.steps + more, decaySteps: Math.min(c.decaySteps ?? c.steps, c.steps) };
}
