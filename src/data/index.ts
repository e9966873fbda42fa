// Public entry of the teacher-data pipeline. Runs in Node and in a browser
// Web Worker alike, so nothing here (or below) may import node:* modules.

import { ACCEPTED_FORMATS } from './formats';
import { resolveLimits, type Limits } from './limits';
import { curate, settleGolds } from './curate';
import { Rng } from '../shared/rng';
import { CURATION_DEFAULTS } from './defaults';
import { readAll } from './read';
import { DataError, ReportBuilder, whereText, type DataReport } from './report';
import type { Source } from './decode';
import type { EvalItem, QuestionGroup, TaskType, UnreadablePolicy } from './types';

export { DEFAULT_LIMITS, type Limits } from './limits';
export { DataError } from './report';
export type { DataReport, ReportError, DroppedExample } from './report';
export { ACCEPTED_FORMATS, type FormatName } from './formats';
export { detectTaskType, normalizeAnswer, extractAnswer, answersMatch, parseChoices } from './answer';
export type { Source } from './decode';

export { CURATION_DEFAULTS } from './defaults';

export interface ReadOptions {
  /** Max rationales kept per question (default 3). */
  k?: number;
  /** Seed of the dev split (default 1337). */
  seed?: number;
  /** Override the task type detected from the gold answers. */
  taskType?: TaskType;
  /** Drop rationales whose answer differs from the gold (default true). */
  filterCorrect?: boolean;
  /** Word n-gram size of the diversity filter (default 3). */
  ngram?: number;
  /** Jaccard similarity at which a rationale counts as a near-duplicate (default 0.7). */
  similarityThreshold?: number;
  /** Share of questions held out as dev (default 0.1, at least 1 question
   * when there are 10 or more; 0 = no dev split). */
  devFraction?: number;
  /** A rationale whose answer can't be read: dropped, or kept (with the
   * answer sentence appended) when the record marks it correct (default). */
  unreadable?: UnreadablePolicy;
  limits?: Partial<Limits>;
  onProgress?: (bytesRead: number) => void;
}

export interface EvalReadOptions {
  taskType?: TaskType;
  onProgress?: (bytesRead: number) => void;
  limits?: Partial<Limits>;
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(msg);
}

/** One-line refusal when nothing usable was read: the reason of the first
 * problem (often the only one: empty, binary, too large) and the formats. */
function refuseUnreadable(rb: ReportBuilder, sawBytes: boolean): never {
  const r = rb.report;
  if (!sawBytes) throw new DataError('file is empty');
  if (r.records === 0) throw new DataError('file contains only whitespace: no record');
  const first = r.errors[0];
  const where = first ? whereText({ ...first, field: undefined }) : '';
  const more = r.records > 1 ? ` (${r.records} records, none usable)` : '';
  throw new DataError(
    `no usable record${more}: ${first ? `${where ? `${where}: ` : ''}${first.message}` : 'no record'}; ${ACCEPTED_FORMATS}`,
    r,
  );
}

export async function readTeacherFile(
  source: Source,
  opts: ReadOptions = {},
): Promise<{ groups: QuestionGroup[]; dev: EvalItem[]; taskType: TaskType; report: DataReport }> {
  const k = opts.k ?? CURATION_DEFAULTS.k;
  const ngram = opts.ngram ?? CURATION_DEFAULTS.ngram;
  const threshold = opts.similarityThreshold ?? CURATION_DEFAULTS.similarityThreshold;
  const devFraction = opts.devFraction ?? CURATION_DEFAULTS.devFraction;
  const seed = opts.seed ?? CURATION_DEFAULTS.seed;
  const filterCorrect = opts.filterCorrect ?? true;
  const unreadable = opts.unreadable ?? CURATION_DEFAULTS.unreadable;
  check(unreadable === 'drop' || unreadable === 'keep-labelled', `unreadable must be "drop" or "keep-labelled", got ${String(unreadable)}`);
  check(Number.isInteger(k) && k > 0, `k must be a positive integer, got ${k}`);
  check(Number.isInteger(ngram) && ngram > 0, `ngram must be a positive integer, got ${ngram}`);
  check(threshold > 0 && threshold <= 1, `similarityThreshold must be in (0, 1], got ${threshold}`);
  check(devFraction >= 0 && devFraction < 1, `devFraction must be in [0, 1), got ${devFraction}`);

  const limits = resolveLimits(opts.limits);
  const rb = new ReportBuilder(limits);
  const r = rb.report;
  r.settings = { k, filterCorrect, ngram, similarityThreshold: threshold, devFraction, seed };
  if (opts.taskType) r.settings.taskTypeOverride = opts.taskType;

  const { grouper, usable } = await readAll(source, limits, rb, true, opts.onProgress);
  if (usable === 0) refuseUnreadable(rb, r.bytes > 0);

  const { taskType, golds } = settleGolds(grouper.groups, opts.taskType, rb);
  r.taskType = taskType;
  const kept = curate(golds, taskType, { k, filterCorrect, ngram, similarityThreshold: threshold, unreadable }, rb);
  r.questions = kept.length;
  r.rationalesKept = kept.reduce((n, g) => n + g.rationales.length, 0);
  if (kept.length === 0) {
    const top = Object.entries(r.dropped)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k2, v]) => `${k2} ${v}`)
      .join(', ');
    throw new DataError(`no question kept after curation (${r.questionsIn} questions read; dropped: ${top})`, r);
  }

  // Dev split: a seeded choice of questions, both parts in file order.
  let nDev = Math.round(kept.length * devFraction);
  if (devFraction > 0 && kept.length >= 10) nDev = Math.max(1, nDev);
  nDev = Math.min(nDev, kept.length - 1);
  const devIdx = new Set(new Rng(seed).shuffle(kept.map((_, i) => i)).slice(0, nDev));
  const groups = kept.filter((_, i) => !devIdx.has(i));
  const dev: EvalItem[] = kept
    .filter((_, i) => devIdx.has(i))
    .map((g) =>
      g.choices
        ? { id: g.id, question: g.question, answer: g.answer, choices: g.choices }
        : { id: g.id, question: g.question, answer: g.answer },
    );
  r.trainQuestions = groups.length;
  r.devQuestions = dev.length;
  return { groups, dev, taskType, report: r };
}

export async function readEvalFile(
  source: Source,
  opts: EvalReadOptions = {},
): Promise<{ items: EvalItem[]; taskType: TaskType; report: DataReport }> {
  const limits = resolveLimits(opts.limits);
  const rb = new ReportBuilder(limits);
  const r = rb.report;
  if (opts.taskType) r.settings.taskTypeOverride = opts.taskType;
  const { grouper, usable } = await readAll(source, limits, rb, false, opts.onProgress);
  if (usable === 0) refuseUnreadable(rb, r.bytes > 0);
  const { taskType, golds } = settleGolds(grouper.groups, opts.taskType, rb);
  r.taskType = taskType;
  if (golds.length === 0) throw new DataError('no usable question: every gold answer was refused', r);
  const items: EvalItem[] = golds.map((g) => {
    const item: EvalItem = { id: g.id, question: g.raw.question, answer: g.gold };
    if (g.raw.choices) item.choices = g.raw.choices;
    return item;
  });
  r.questions = items.length;
  return { items, taskType, report: r };
}
