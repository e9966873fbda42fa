// Curation steps 1-6 on grouped questions, each drop counted in the report:
// answer extraction, correctness filter, diversity filter, K cap, canonical
// answer sentence, and questions left without a rationale.

import { answersMatch, detectTaskType, extractAnswer, isValidGold, normalizeAnswer } from './answer';
import { canonicalRationale, stripAnswerStatement } from './canonical';
import { CURATION_DEFAULTS } from './defaults';
import type { RawGroup, RawRationaleAt } from './group';
import type { ReportBuilder } from './report';
import { jaccard, ngramSet, words } from './similarity';
import type { CuratedRationale, QuestionGroup, TaskType, UnreadablePolicy } from './types';

interface CurateSettings {
  k: number;
  filterCorrect: boolean;
  ngram: number;
  similarityThreshold: number;
  /** Default CURATION_DEFAULTS.unreadable. */
  unreadable?: UnreadablePolicy;
}

/** A question whose gold is settled: normalized, checked against the type. */
interface GoldGroup {
  raw: RawGroup;
  id: string;
  gold: string;
}

/** Gold of a chat group without an "answer" field: the answer most of its
 * rationales state (first one on a tie). */
function majorityAnswer(g: RawGroup): string | undefined {
  const counts = new Map<string, number>();
  for (const r of g.rationales) {
    const a = extractAnswer(r.text, 'text');
    if (a !== null) counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [a, n] of counts) if (best === undefined || n > (counts.get(best) ?? 0)) best = a;
  return best;
}

/** Step 1's first half: the task type, then every question's canonical gold;
 * a question with no gold, a gold that does not fit the type, or
 * conflicting golds in merged duplicates is dropped. */
export function settleGolds(
  groups: RawGroup[],
  override: TaskType | undefined,
  rb: ReportBuilder,
): { taskType: TaskType; golds: GoldGroup[] } {
  for (const g of groups) {
    if (g.answers.length === 0) {
      const m = majorityAnswer(g);
      if (m !== undefined) g.answers.push({ raw: m, where: { line: g.line, index: g.index } });
    }
  }
  const taskType = override ?? detectTaskType(groups.flatMap((g) => (g.answers.length ? [g.answers[0].raw] : [])));
  const golds: GoldGroup[] = [];
  groups.forEach((g, i) => {
    const where = { line: g.line, index: g.index };
    if (g.answers.length === 0) {
      rb.error({ ...where, field: 'answer', message: 'no gold answer: no "answer" field and no rationale states one' });
      rb.drop('no-gold-answer', { ...where, question: g.question }, 1);
      return;
    }
    const raw = g.answers[0].raw;
    if (!isValidGold(raw, taskType)) {
      rb.error({ ...g.answers[0].where, field: 'answer', message: `gold answer "${raw}" is not a valid ${taskType} answer` });
      rb.drop('bad-gold-answer', { ...where, question: g.question, text: raw });
      return;
    }
    const gold = normalizeAnswer(raw, taskType);
    for (const other of g.answers.slice(1)) {
      if (answersMatch(normalizeAnswer(other.raw, taskType), gold, taskType)) continue;
      rb.error({
        ...other.where,
        field: 'answer',
        message: `answer "${other.raw}" conflicts with "${raw}" given earlier for the same question`,
      });
      rb.drop('conflicting-answer', { ...other.where, question: g.question, text: other.raw });
      // The conflicting record's rationales argue for another answer.
      g.rationales = g.rationales.filter((r) => r.line !== other.where.line || r.index !== other.where.index);
    }
    golds.push({ raw: g, id: g.id ?? `q${i}`, gold });
  });
  return { taskType, golds };
}

/** Steps 1-5 for one question; undefined when no rationale survives. */
function curateOne(q: GoldGroup, type: TaskType, s: CurateSettings, rb: ReportBuilder): CuratedRationale[] {
  const kept: CuratedRationale[] = [];
  const keptGrams: Set<string>[] = [];
  const keptWords = new Set<string>();
  const { question, choices } = q.raw;
  const policy = s.unreadable ?? CURATION_DEFAULTS.unreadable;
  const ex = (r: RawRationaleAt): { line?: number; index?: number; question: string; text: string } => ({
    line: r.line,
    index: r.index,
    question,
    text: r.text,
  });
  // Step 1-2: the correctness filter. Rationales kept on their label alone
  // come after those whose answer was read, so the K cap below prefers the
  // ones that state the gold themselves.
  const read: RawRationaleAt[] = [];
  const onLabel: RawRationaleAt[] = [];
  for (const r of q.raw.rationales) {
    if (!s.filterCorrect) {
      read.push(r);
      continue;
    }
    if (r.markedIncorrect) {
      rb.drop('marked-incorrect', ex(r));
      continue;
    }
    const said = r.teacherAnswer !== undefined ? normalizeAnswer(r.teacherAnswer, type) : extractAnswer(r.text, type, choices);
    if (said === null) {
      if (policy === 'keep-labelled' && r.markedCorrect) {
        onLabel.push(r);
        continue;
      }
      rb.error({ line: r.line, index: r.index, field: r.field, message: `no ${type} answer found in the rationale` });
      rb.drop('answer-not-found', ex(r));
      continue;
    }
    if (!answersMatch(said, q.gold, type)) {
      rb.drop('wrong-answer', { ...ex(r), text: `${said} != ${q.gold}: ${r.text}` });
      continue;
    }
    read.push(r);
  }
  const labelled = new Set(onLabel);
  for (const r of [...read, ...onLabel]) {
    const body = stripAnswerStatement(r.text);
    if (body === '') {
      rb.drop('no-reasoning', ex(r));
      continue;
    }
    const exact = words(body).join(' ');
    if (keptWords.has(exact)) {
      rb.drop('duplicate-rationale', ex(r));
      continue;
    }
    const grams = ngramSet(body, s.ngram);
    if (keptGrams.some((k) => jaccard(k, grams) >= s.similarityThreshold)) {
      rb.drop('too-similar', ex(r));
      continue;
    }
    if (kept.length >= s.k) {
      rb.drop('over-k', ex(r));
      continue;
    }
    keptWords.add(exact);
    keptGrams.push(grams);
    kept.push(canonicalRationale(body, q.gold));
    if (labelled.has(r)) rb.report.keptOnLabel++;
  }
  return kept.slice(); // exact length: kept for the whole run
}

export function curate(golds: GoldGroup[], type: TaskType, s: CurateSettings, rb: ReportBuilder): QuestionGroup[] {
  const out: QuestionGroup[] = [];
  // Recorded here, where it acts, so every caller's report names it.
  if (s.filterCorrect) rb.report.settings.unreadable = s.unreadable ?? CURATION_DEFAULTS.unreadable;
  for (const q of golds) {
    const rationales = curateOne(q, type, s, rb);
    if (rationales.length === 0) {
      rb.drop('no-rationale-left', { line: q.raw.line, index: q.raw.index, question: q.raw.question });
      continue;
    }
    const group: QuestionGroup = { id: q.id, question: q.raw.question, answer: q.gold, rationales };
    if (q.raw.choices) group.choices = q.raw.choices;
    out.push(group);
  }
  return out;
}
