// A run's status: ONE vocabulary for what the store records (RunRecord.status),
// what the worker reports (the 'status' event) and what the page shows.
//
// Two questions are really different and keep two types, related by the
// functions below:
//  - RunStatus: what state a run is in (it changes as the run goes on);
//  - CheckpointKind: why one checkpoint was saved (fixed once written; a
//    'best' or 'manual' save happens in any state).
// SaveReason is the loop's request to save, which the worker stores as a
// CheckpointKind (checkpointKindFor). Words written by earlier versions of
// the store are mapped in checkpoint/schema.ts (runStatusFromStored), only
// there.

export type RunStatus =
  /** Setting up: the backend, the model, the data (a stored run that has
   * not saved a checkpoint yet). */
  | 'preparing'
  | 'running'
  | 'paused'
  /** Ended before its last step; it can be resumed. */
  | 'stopped'
  /** All its steps trained. */
  | 'done'
  /** Ended by an error it can't go on from: the loss diverged, or the GPU
   * was lost and could not be recovered. Its checkpoints still load. */
  | 'failed';

export const RUN_STATUSES: readonly RunStatus[] = ['preparing', 'running', 'paused', 'stopped', 'done', 'failed'];

export function isRunStatus(word: unknown): word is RunStatus {
  return typeof word === 'string' && (RUN_STATUSES as readonly string[]).includes(word);
}

/** Why a checkpoint was saved (stored with it; the page words it). */
export type CheckpointKind = 'auto' | 'pause' | 'stop' | 'best' | 'manual';

/** Why the training loop asks for a save: 'done' is the stop after the last
 * step (stored as a 'stop' checkpoint whose step is the run's last). */
export type SaveReason = 'autosave' | 'pause' | 'stop' | 'done';

export function checkpointKindFor(reason: SaveReason): Extract<CheckpointKind, 'auto' | 'pause' | 'stop'> {
  switch (reason) {
    case 'autosave':
      return 'auto';
    case 'pause':
      return 'pause';
    case 'stop':
    case 'done':
      return 'stop';
  }
}

/** The run's status once a checkpoint of `kind` at `step` is saved. An
 * autosave is taken while running; a manual or best save does not change
 * what the run is doing, except that a model at its last step is done. */
export function statusAfterSave(kind: CheckpointKind, step: number, totalSteps: number, current: RunStatus): RunStatus {
  const finished = step >= totalSteps;
  switch (kind) {
    case 'auto':
      return 'running';
    case 'pause':
      return 'paused';
    case 'stop':
      return finished ? 'done' : 'stopped';
    case 'manual':
    case 'best':
      return finished ? 'done' : current;
  }
}
