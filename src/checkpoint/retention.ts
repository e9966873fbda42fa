// Which checkpoints a run keeps. Pure, so the rule is testable on its own.

import type { CheckpointMeta } from './schema';

export interface RetentionPolicy {
  /** Newest 'auto' checkpoints kept per run (>= 1). */
  keepAuto: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { keepAuto: 3 };

/** Newest first: by creation, then step. */
export const byNewest = (a: CheckpointMeta, b: CheckpointMeta): number => b.createdAt - a.createdAt || b.step - a.step;

/** Furthest trained first: by step, then creation. A run is one line of
 * training (resuming an older checkpoint branches into a new run), so the
 * autosaves worth keeping are the latest steps, whenever they were written. */
export const byStep = (a: CheckpointMeta, b: CheckpointMeta): number => b.step - a.step || b.createdAt - a.createdAt;

/** Which of a run's checkpoints retention deletes: 'auto' ones beyond the
 * newest keepAuto, and 'best' ones that are no longer the best; the one with
 * the highest accuracy (any kind) is always kept, as are pause/stop/manual. */
export function retentionVictims(metas: CheckpointMeta[], policy: RetentionPolicy): CheckpointMeta[] {
  const keepAuto = Math.max(1, Math.floor(policy.keepAuto));
  let best: CheckpointMeta | undefined;
  for (const m of [...metas].sort(byNewest)) {
    if (m.accuracy !== undefined && Number.isFinite(m.accuracy) && (!best || m.accuracy > (best.accuracy as number))) best = m;
  }
  const autos = metas.filter((m) => m.kind === 'auto').sort(byStep);
  const victims = autos.slice(keepAuto).filter((m) => m !== best);
  for (const m of metas) if (m.kind === 'best' && best && m !== best && m.accuracy !== undefined) victims.push(m);
  return victims;
}
