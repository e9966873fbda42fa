// Turns the settings the page sends into a TrainConfig the trainer accepts.
// Pure, so it is testable without a worker.

import { DEFAULT_TRAIN, PRESETS, type TrainConfig } from '../core/config';

export function prepareConfig(input: Partial<TrainConfig>, groups: number): TrainConfig {
  const c: TrainConfig = { ...DEFAULT_TRAIN, ...input };
  if (!(c.preset in PRESETS)) throw new Error(`unknown preset "${String(c.preset)}"`);
  if (input.vocabSize === undefined) c.vocabSize = PRESETS[c.preset].vocabSize;
  const positive = (k: keyof TrainConfig, v: number | undefined): void => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new Error(`${k} must be a positive number, got ${String(v)}`);
  };
  positive('batchSize', c.batchSize);
  positive('lr', c.lr);
  positive('temperature', c.temperature);
  positive('k', c.k);
  positive('logEvery', c.logEvery);
  if (!(c.alpha >= 0)) throw new Error(`alpha must be >= 0, got ${c.alpha}`);
  if (groups < 1) throw new Error('the curated data has no question to train on (see the report)');
  if (c.epochs !== undefined) {
    positive('epochs', c.epochs);
    // One step sees batchSize questions, so an epoch is groups / batchSize steps.
    c.steps = Math.max(1, Math.ceil((c.epochs * groups) / c.batchSize));
  } else {
    positive('steps', c.steps);
    c.steps = Math.floor(c.steps);
  }
  if (c.warmupSteps >= c.steps) c.warmupSteps = Math.floor(c.steps / 10);
  if (c.minLr > c.lr) c.minLr = c.lr / 10;
  return c;
}
