// Typed errors of the store. Each class has its own `name`, which survives
// comlink's transfer of a thrown error from the worker (the class does not).

export type StoreErrorCode = 'quota' | 'damaged' | 'not-found' | 'version' | 'unavailable' | 'closed' | 'failed';

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    message: string,
    readonly code: StoreErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class QuotaError extends StoreError {
  override name = 'QuotaError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'quota', options);
  }
}

export class CheckpointDamagedError extends StoreError {
  override name = 'CheckpointDamagedError';
  constructor(
    message: string,
    readonly checkpointId: string,
    options?: { cause?: unknown },
  ) {
    super(message, 'damaged', options);
  }
}

export class NotFoundError extends StoreError {
  override name = 'NotFoundError';
  constructor(message: string) {
    super(message, 'not-found');
  }
}

export const errName = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null ? (e as { name?: string }).name : undefined;

/** Maps any failure to a typed error; a full disk becomes QuotaError. */
export function storeFailure(e: unknown, what: string): Error {
  if (e instanceof StoreError) return e;
  if (errName(e) === 'QuotaExceededError') {
    return new QuotaError(
      `Not enough storage space for ${what}. Nothing was written and earlier checkpoints are intact. ` +
        'Free space by deleting old runs or checkpoints (export them first), or allow persistent storage.',
      { cause: e },
    );
  }
  return new StoreError(`${what} failed: ${e instanceof Error ? e.message : String(e)}`, 'failed', { cause: e });
}
