// The data report: plain JSON that the CLI prints and the app shows. Every
// skipped record and every dropped rationale is counted by reason here.

import type { Limits } from './limits';
import type { TaskType, UnreadablePolicy } from './types';

export interface Where {
  line?: number;
  index?: number;
}

export interface ReportError extends Where {
  field?: string;
  message: string;
}

/** Where a record's problem is, in words shared by the page, the CLI and the
 * refusals: `record 4 (line 57)` in a JSON array whose lines are known,
 * `line 9` in JSON Lines, then the field: `line 9, field "answer"`. '' when
 * nothing is known. */
export function whereText(e: Where & { field?: string }): string {
  const at =
    e.index !== undefined
      ? `record ${e.index}${e.line !== undefined ? ` (line ${e.line})` : ''}`
      : e.line !== undefined
        ? `line ${e.line}`
        : '';
  const field = e.field ? `field "${e.field}"` : '';
  return [at, field].filter(Boolean).join(', ');
}

export interface DroppedExample extends Where {
  reason: string;
  question?: string;
  text?: string;
}

export interface DataReport {
  /** "mcc-kd", "mentor-kd", ... plus the container, e.g. "mcc-kd (json array)". */
  format: string;
  container: 'json-array' | 'jsonl' | 'json-document' | 'none';
  taskType: TaskType;
  bytes: number;
  /** Records read (lines or array elements), good and bad. */
  records: number;
  /** Distinct questions read (after merging duplicates), before curation. */
  questionsIn: number;
  /** Questions kept after curation (training + dev). */
  questions: number;
  trainQuestions: number;
  devQuestions: number;
  /** Records whose question had already been seen and were merged into it. */
  mergedDuplicates: number;
  rationalesIn: number;
  rationalesKept: number;
  /** Of rationalesKept: rationales in which no answer could be read, kept
   * because the record marks them correct (settings.unreadable
   * 'keep-labelled'); their only answer is the appended canonical sentence. */
  keptOnLabel: number;
  /** Counts by reason: records skipped and rationales or questions dropped. */
  dropped: Record<string, number>;
  droppedExamples: DroppedExample[];
  errors: ReportError[];
  /** Errors past limits.maxReportedErrors, counted but not listed. */
  errorsOmitted: number;
  settings: {
    k?: number;
    filterCorrect?: boolean;
    ngram?: number;
    similarityThreshold?: number;
    devFraction?: number;
    seed?: number;
    taskTypeOverride?: TaskType;
    unreadable?: UnreadablePolicy;
  };
  limits: Limits;
}

const EXAMPLE_CHARS = 200;

const clip = (s: string | undefined): string | undefined =>
  s === undefined || s.length <= EXAMPLE_CHARS ? s : `${s.slice(0, EXAMPLE_CHARS)}…`;

/** Mutable accumulator; `report` is the plain object handed out at the end. */
export class ReportBuilder {
  readonly report: DataReport;
  private examples = new Map<string, number>();

  constructor(limits: Limits) {
    this.report = {
      format: 'unknown',
      container: 'none',
      taskType: 'text',
      bytes: 0,
      records: 0,
      questionsIn: 0,
      questions: 0,
      trainQuestions: 0,
      devQuestions: 0,
      mergedDuplicates: 0,
      rationalesIn: 0,
      rationalesKept: 0,
      keptOnLabel: 0,
      dropped: {},
      droppedExamples: [],
      errors: [],
      errorsOmitted: 0,
      settings: {},
      limits,
    };
  }

  error(e: ReportError): void {
    if (this.report.errors.length < this.report.limits.maxReportedErrors) this.report.errors.push(e);
    else this.report.errorsOmitted++;
  }

  drop(reason: string, ex: Omit<DroppedExample, 'reason'> = {}, count = 1): void {
    this.report.dropped[reason] = (this.report.dropped[reason] ?? 0) + count;
    const seen = this.examples.get(reason) ?? 0;
    if (seen >= this.report.limits.examplesPerReason) return;
    this.examples.set(reason, seen + 1);
    const example: DroppedExample = { reason, ...ex, question: clip(ex.question), text: clip(ex.text) };
    for (const key of Object.keys(example) as (keyof DroppedExample)[]) if (example[key] === undefined) delete example[key];
    this.report.droppedExamples.push(example);
  }

  /** A bad record: listed as an error and counted as a dropped record. */
  reject(reason: string, e: ReportError): void {
    this.error(e);
    this.drop(reason, { line: e.line, index: e.index, text: e.message });
  }
}

/** The refusal of a whole file; its message is one line, shown as is. */
export class DataError extends Error {
  /** The report so far, when the file was read but nothing was usable. */
  readonly report?: DataReport;
  constructor(message: string, report?: DataReport) {
    super(message.split('\n')[0]);
    this.name = 'DataError';
    if (report) this.report = report;
  }
}
