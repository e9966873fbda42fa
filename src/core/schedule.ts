// Learning-rate schedule: linear warmup, then cosine decay to minLr.

interface ScheduleConfig {
  lr: number;
  minLr: number;
  warmupSteps: number;
  steps: number;
}

/** Learning rate for optimizer step `step` (0-based: the step being taken). */
export function learningRate(step: number, c: ScheduleConfig): number {
  if (c.warmupSteps > 0 && step < c.warmupSteps) return (c.lr * (step + 1)) / c.warmupSteps;
  const span = Math.max(1, c.steps - c.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - c.warmupSteps) / span));
  return c.minLr + 0.5 * (c.lr - c.minLr) * (1 + Math.cos(Math.PI * progress));
}
