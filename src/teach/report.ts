// The teach report: per question, how many rationales were generated, had an
// answer read, were correct, diverse and kept (K), and why the others were
// dropped. The answer reading, correctness, diversity and K cap are
// src/data's curation itself (settleGolds + curate, one question at a time
// with its own ReportBuilder), so the report counts exactly what training
// will keep from the native file. Hostile output is a drop reason here,
// never an exception.

import { detectTaskType } from '../data/answer';
import { curate, settleGolds } from '../data/curate';
import { CURATION_DEFAULTS } from '../data/defaults';
import type { RawGroup } from '../data/group';
import { resolveLimits } from '../data/limits';
import { ReportBuilder } from '../data/report';
import type { TaskType } from '../data/types';
import { byQuestion, hygiene } from './records';
import type { SampleFailure, SampleRecord, TeachQuestion } from './types';

export const TEACH_DROP_REASONS = [
  'empty',
  'too-long',
  'control-characters',
  'no-answer-sentence',
  'wrong-answer',
  'no-reasoning',
  'near-duplicate',
  'over-k',
  'teacher-error',
] as const;
export type TeachDropReason = (typeof TEACH_DROP_REASONS)[number];

export interface QuestionReport {
  id: string;
  generated: number;
  answerRead: number;
  correct: number;
  diverse: number;
  kept: number;
  /** Only the reasons that occurred. */
  dropped: Partial<Record<TeachDropReason, number>>;
  /** The gold answer does not fit the task type: nothing can be kept. */
  badGold?: string;
}

export interface TeachReport {
  taskType: TaskType;
  k: number;
  questions: QuestionReport[];
  totals: Omit<QuestionReport, 'id' | 'badGold'>;
  /** Questions with fewer than 2 kept rationales: the re-ask list. */
  reask: string[];
}

export interface ReportOptions {
  k?: number;
  taskType?: TaskType;
  ngram?: number;
  similarityThreshold?: number;
}

// src/data's drop reasons, in the teach report's words.
const FROM_CURATION: Record<string, TeachDropReason> = {
  'answer-not-found': 'no-answer-sentence',
  'wrong-answer': 'wrong-answer',
  'no-reasoning': 'no-reasoning',
  'duplicate-rationale': 'near-duplicate',
  'too-similar': 'near-duplicate',
  'over-k': 'over-k',
};

export function teachReport(
  questions: TeachQuestion[],
  records: SampleRecord[],
  failures: SampleFailure[] = [],
  o: ReportOptions = {},
): TeachReport {
  const k = o.k ?? CURATION_DEFAULTS.k;
  const taskType = o.taskType ?? detectTaskType(questions.map((q) => q.answer));
  const settings = {
    k,
    filterCorrect: true,
    ngram: o.ngram ?? CURATION_DEFAULTS.ngram,
    similarityThreshold: o.similarityThreshold ?? CURATION_DEFAULTS.similarityThreshold,
    // Generated rationales carry no correctness label.
    unreadable: 'drop' as const,
  };
  const limits = resolveLimits();
  const grouped = byQuestion(records);
  const failed = new Map<string, number>();
  for (const f of failures) failed.set(f.questionId, (failed.get(f.questionId) ?? 0) + 1);

  const out: QuestionReport[] = questions.map((q) => {
    const recs = grouped.get(q.id) ?? [];
    const dropped: Partial<Record<TeachDropReason, number>> = {};
    const add = (r: TeachDropReason, n = 1): void => {
      if (n > 0) dropped[r] = (dropped[r] ?? 0) + n;
    };
    add('teacher-error', failed.get(q.id) ?? 0);
    const clean = recs.filter((r) => {
      const p = hygiene(r);
      if (p) add(p);
      return p === null;
    });
    const group: RawGroup = {
      id: q.id,
      question: q.question,
      answers: [{ raw: q.answer, where: {} }],
      choices: q.choices,
      rationales: clean.map((r, i) => ({ text: r.text, field: `rationales[${i}]` })),
    };
    const rb = new ReportBuilder(limits);
    const { golds } = settleGolds([group], taskType, rb);
    const base = { id: q.id, generated: recs.length };
    if (golds.length === 0)
      return { ...base, answerRead: 0, correct: 0, diverse: 0, kept: 0, dropped, badGold: `"${q.answer}" is not a ${taskType} answer` };
    const kept = curate(golds, taskType, settings, rb)[0]?.rationales.length ?? 0;
    const d = rb.report.dropped;
    for (const [reason, n] of Object.entries(d)) if (FROM_CURATION[reason]) add(FROM_CURATION[reason], n);
    const answerRead = clean.length - (d['answer-not-found'] ?? 0);
    const correct = answerRead - (d['wrong-answer'] ?? 0);
    const diverse = correct - (d['no-reasoning'] ?? 0) - (d['duplicate-rationale'] ?? 0) - (d['too-similar'] ?? 0);
    return { ...base, answerRead, correct, diverse, kept, dropped };
  });

  const totals: TeachReport['totals'] = { generated: 0, answerRead: 0, correct: 0, diverse: 0, kept: 0, dropped: {} };
  for (const r of out) {
    totals.generated += r.generated;
    totals.answerRead += r.answerRead;
    totals.correct += r.correct;
    totals.diverse += r.diverse;
    totals.kept += r.kept;
    for (const [reason, n] of Object.entries(r.dropped) as [TeachDropReason, number][])
      totals.dropped[reason] = (totals.dropped[reason] ?? 0) + n;
  }
  return { taskType, k, questions: out, totals, reask: out.filter((r) => r.kept < 2).map((r) => r.id) };
}

/** The report as a text table: one row per question (the first `rows`),
 * then the totals and the drop reasons. */
export function reportTable(r: TeachReport, rows = 30): string {
  const head = ['question', 'generated', 'answer read', 'correct', 'diverse', 'kept'];
  const line = (cells: (string | number)[]): string =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(16).slice(0, 16) : String(c).padStart(head[i].length))).join('  ');
  const body = r.questions.slice(0, rows).map((q) => line([q.id, q.generated, q.answerRead, q.correct, q.diverse, q.kept]));
  const more = r.questions.length > rows ? [`… ${r.questions.length - rows} more questions`] : [];
  const t = r.totals;
  const reasons = Object.entries(t.dropped)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    line(head),
    ...body,
    ...more,
    line(['total', t.generated, t.answerRead, t.correct, t.diverse, t.kept]),
    `dropped: ${reasons || 'none'}`,
    `${r.reask.length} of ${r.questions.length} questions kept fewer than 2 rationales (task ${r.taskType}, K ${r.k})`,
  ].join('\n');
}
