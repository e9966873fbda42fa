// A run's metrics as one JSON string of a checkpoint's metadata (key
// "metrics"), for the loop back of the recipe (issue 27): `mcckd import`
// writes them into the run folder's checkpoint, so that the page's Import,
// which takes that one file, charts the run like any other. Checkpoints
// otherwise carry no metrics (the store and metrics.jsonl hold them).
//
// Column-wise ({step: [...], loss: [...], ...}): a few thousand steps are a
// few hundred kB, far below the header limit (safetensors' maxHeaderBytes,
// 16 MiB). Longer histories are thinned to MAX_EMBEDDED_POINTS evenly
// spaced points (the last one kept): enough for a chart, and a file that
// always loads.

import type { MetricPoint } from '../core/state';

export const METRICS_KEY = 'metrics';
/** About 130 bytes a point: 40,000 points are about 5 MiB of header. */
export const MAX_EMBEDDED_POINTS = 40_000;
const COLUMNS = ['loss', 'ce', 'kl', 'lr', 'tokensPerSecond', 'time'] as const;

type Columns = { step: number[] } & Record<(typeof COLUMNS)[number], (number | null)[]>;

/** The metadata string for `points` (JSON writes a diverged NaN loss as null). */
export function encodeMetrics(points: MetricPoint[]): string {
  const stride = Math.ceil(points.length / MAX_EMBEDDED_POINTS);
  const kept = stride <= 1 ? points : points.filter((_, i) => i % stride === 0 || i === points.length - 1);
  const cols = { step: kept.map((p) => p.step) } as Columns;
  for (const k of COLUMNS) cols[k] = kept.map((p) => p[k]);
  return JSON.stringify(cols);
}

/** The points of a parsed "metrics" value, checked: columns of equal length,
 * integer steps rising within [0, lastStep], numbers or null (NaN). Throws a
 * message naming what is wrong (the caller adds which metadata). */
export function decodeMetrics(x: unknown, lastStep: number): MetricPoint[] {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error('must be an object of columns');
  const o = x as Record<string, unknown>;
  const step = o.step;
  if (!Array.isArray(step)) throw new Error('"step" must be an array');
  if (step.length > MAX_EMBEDDED_POINTS) throw new Error(`holds ${step.length} points, more than ${MAX_EMBEDDED_POINTS}`);
  step.forEach((s, i) => {
    if (!Number.isSafeInteger(s) || (s as number) < 0 || (s as number) > lastStep)
      throw new Error(`step[${i}] must be an integer from 0 to the checkpoint's step ${lastStep}`);
    if (i > 0 && (s as number) <= (step[i - 1] as number)) throw new Error(`step[${i}] is not after step[${i - 1}]`);
  });
  for (const k of COLUMNS) {
    const c = o[k];
    if (!Array.isArray(c) || c.length !== step.length) throw new Error(`"${k}" must be an array of ${step.length} values`);
    c.forEach((v, i) => {
      if (v !== null && typeof v !== 'number') throw new Error(`${k}[${i}] must be a number or null`);
    });
  }
  return step.map((s: number, i) => {
    const p = { step: s } as MetricPoint;
    for (const k of COLUMNS) p[k] = ((o[k] as (number | null)[])[i] ?? NaN) as number;
    return p;
  });
}
