// The defaults of a training run that depend on what is trained, in one
// place for `mcckd train`, the worker and the page's settings form. No
// tfjs here: the page (src/ui) imports this module.

import { DEFAULT_TRAIN, PRETRAINED_LR, type TrainConfig } from './records';

/** What trains: a student from scratch, a pretrained one through a LoRA
 * adapter (new, or continued from a PEFT adapter), or every weight of a
 * pretrained one. */
export type StudentKind = 'scratch' | 'lora' | 'full';

export function studentKind(pretrained: boolean, lora: boolean): StudentKind {
  if (!pretrained) return 'scratch';
  return lora ? 'lora' : 'full';
}

/** The peak learning rate a run of this kind starts from: the preset's rate
 * from scratch, the usual LoRA rate, a lower one when every pretrained
 * weight moves (config.ts holds the values). */
export function defaultLr(kind: StudentKind): number {
  return kind === 'scratch' ? DEFAULT_TRAIN.lr : PRETRAINED_LR[kind];
}

/** The learning rate a form shows after the student changes from `from` to
 * `to`: a value the user has not changed (still `from`'s default) follows
 * the student; a typed one stays. */
export function followLr(current: number, from: StudentKind, to: StudentKind): number {
  return current === defaultLr(from) ? defaultLr(to) : current;
}

/** The settings of a new run: `input` (flags, the page's form) over the
 * defaults, the learning rate defaulting to the student's kind, checked and
 * derived by prepareTrainConfig (the caller's message for a bad value). */
export function withDefaultLr(input: Partial<TrainConfig>, kind: StudentKind): Partial<TrainConfig> {
  return input.lr === undefined && kind !== 'scratch' ? { ...input, lr: defaultLr(kind) } : input;
}

/** Accuracy while training: how many held-out questions a check answers
 * when not told. The page's checks run in an interactive session and are
 * charted live (16: a trend, at about the cost of a handful of steps); the
 * CLI's go to a log, opted into with --eval-every (32, steadier; the
 * documented `--eval-every-limit` default). */
export const ACCURACY_QUESTIONS = { page: 16, cli: 32 } as const;

/** Auto cadence: about a tenth of the run, but not more often than every 25
 * steps, so a short run is not slowed down by checks that say little. */
export const MIN_AUTO_EVERY = 25;

/** How often to check, from the setting (undefined: auto) and the run's
 * length; 0: never. */
export function accuracyEvery(setting: number | undefined, totalSteps: number): number {
  if (setting === undefined) return Math.max(MIN_AUTO_EVERY, Math.round(totalSteps / 10));
  return Math.max(0, Math.floor(setting));
}

/** Whether a check follows this step: every `every` steps, and at the last
 * step when the run is longer than one interval (the curve then ends at
 * the model the run leaves). */
export function isAccuracyStep(step: number, every: number, totalSteps: number): boolean {
  if (every <= 0) return false;
  return step % every === 0 || (step === totalSteps && totalSteps > every);
}

/** Accuracy while training: how the run checks a small held-out set. */
export interface AccuracyCheck {
  /** Check every N steps; 0 turns the checks off; undefined: about a tenth
   * of the run (at least 25 steps), when there is held-out data. */
  every?: number;
  /** Held-out questions per check (the first ones of the evaluation file,
   * else of the dev split). */
  questions: number;
  /** Longest generation per question; undefined: from the training rationales. */
  maxNewTokens?: number;
}

/** One accuracy check (greedy, on the first `total` held-out questions). */
export interface AccuracyPoint {
  step: number;
  accuracy: number;
  correct: number;
  total: number;
}
