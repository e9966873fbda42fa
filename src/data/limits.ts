// Size limits of the reader: settings with defaults, so a hostile or broken
// file is refused with a reason instead of exhausting the tab's memory.

export interface Limits {
  /** Whole input, bytes. */
  maxFileBytes: number;
  /** One JSON Lines line or one JSON array element, bytes (UTF-8). */
  maxRecordBytes: number;
  /** Nesting depth of JSON inside one record (arrays + objects). */
  maxDepth: number;
  /** One question, answer or rationale text, characters. */
  maxTextChars: number;
  /** Records of one file (JSON Lines lines, array elements); a file with
   * more is refused as soon as the next one is met. What the reader holds
   * grows with the records, not only with the bytes: 500,000 short records
   * (60 MB) peak at about 0.7 GB (scripts/measure-teacher-memory.ts). */
  maxRecords: number;
  /** Raw rationales read per question; the rest are dropped and counted. */
  maxRationalesPerQuestion: number;
  /** Entries kept in report.errors; the rest are only counted. */
  maxReportedErrors: number;
  /** Examples kept in report.droppedExamples per reason. */
  examplesPerReason: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFileBytes: 1024 * 1024 * 1024,
  maxRecordBytes: 4 * 1024 * 1024,
  maxDepth: 64,
  maxTextChars: 100_000,
  maxRecords: 500_000,
  maxRationalesPerQuestion: 256,
  maxReportedErrors: 100,
  examplesPerReason: 3,
});

export function resolveLimits(partial?: Partial<Limits>): Limits {
  const out: Limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(partial ?? {}) as [keyof Limits, number | undefined][]) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_LIMITS)) throw new RangeError(`unknown limit "${key}"`);
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`limit ${key} must be a non-negative integer, got ${value}`);
    out[key] = value;
  }
  return out;
}
