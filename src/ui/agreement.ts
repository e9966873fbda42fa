// The classroom view's numbers in words a room understands. Pure (no DOM), so
// that the thresholds are unit-tested (test/unit/classroom.test.ts).

import type { AccuracyPoint } from '../worker/protocol';

interface Agreement {
  /** 0 (disagree) .. 4 (strongly agree); NaN gives -1. */
  level: number;
  /** The verdict: "strongly agree". */
  words: string;
  /** The number behind it, said plainly. */
  detail: string;
  /** '' or why the verdict means little yet: two near-uniform distributions
   * (an untrained model) overlap almost wholly while neither knows anything. */
  caveat: string;
}

/** Below this top probability the student is still guessing. */
const GUESSING_BELOW = 0.1;

/** Word bands of the overlap sum_v min(p_v, q_v) of the two answer
 * distributions (1 - total variation). It reads as "the share of the
 * answer probability that is the same after A and after B", so the bands
 * are plain shares: 95% shared is as good as the same answer; under half
 * shared, the two explanations point to different answers more than to the
 * same one. Highest first. */
const BANDS: readonly { min: number; words: string }[] = [
  { min: 0.95, words: 'strongly agree' },
  { min: 0.8, words: 'mostly agree' },
  { min: 0.5, words: 'partly agree' },
  { min: 0.2, words: 'mostly disagree' },
  { min: 0, words: 'strongly disagree' },
];

/** The verdict on an overlap in [0, 1] (values outside are clamped: float
 * sums can land a hair above 1); `top` is the largest probability of an
 * answer token after A or after B, when known. */
export function agreement(overlap: number, top?: number): Agreement {
  if (!Number.isFinite(overlap)) return { level: -1, words: 'unknown', detail: 'the distributions could not be compared', caveat: '' };
  const caveat =
    top !== undefined && top < GUESSING_BELOW
      ? `…but both are still guessing (no answer above ${Math.round(100 * GUESSING_BELOW)}% yet).`
      : '';
  const o = Math.min(1, Math.max(0, overlap));
  const i = BANDS.findIndex((b) => o >= b.min);
  // Rounded down, so that "100%" only ever means identical to a tenth of a percent.
  const pct = Math.floor(o * 1000) / 10;
  return {
    level: BANDS.length - 1 - i,
    words: BANDS[i].words,
    detail: `${pct.toFixed(1)}% of the answer probability is the same after A and after B`,
    caveat,
  };
}

/** The latest accuracy check in one line, or what to expect before one. */
export function accuracySoFar(latest: AccuracyPoint | undefined, over: boolean): string {
  if (!latest)
    return over
      ? 'No accuracy check ran in this run (too short, or no held-out questions).'
      : 'Right answers on held-out questions: not checked yet.';
  const n = latest.total === 1 ? '1 test question' : `${latest.total} test questions`;
  return `Right answers on ${n}: ${Math.round(100 * latest.accuracy)}% (step ${latest.step})`;
}
