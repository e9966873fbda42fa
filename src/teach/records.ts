// The teach step's output: the native teacher JSONL, one record per question
// {id, question, answer, choices?, rationales: [{text, teacher, temperature,
// top_p, seed, prompt}, ...]}, which src/data's reader takes as it is (a
// rationale given as an object is read from its `text`). Rationales that
// fail the hygiene check (empty, too long, control characters) stay out of
// the file; the report counts them.

import type { SampleRecord, TeachQuestion } from './types';

export interface NativeRationale {
  text: string;
  teacher: string;
  temperature: number;
  top_p: number;
  seed: number;
  prompt: string;
}

export interface NativeRecord {
  id: string;
  question: string;
  answer: string;
  choices?: string[];
  rationales: NativeRationale[];
}

export type HygieneProblem = 'empty' | 'too-long' | 'control-characters';

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** Longest rationale kept, characters: far past what maxTokens allows (a
 * token is rarely over 16 characters), and never past the reader's limit. */
export function maxRationaleChars(maxTokens: number): number {
  return Math.min(100_000, Math.max(1, maxTokens) * 16);
}

/** Why a generated text is unusable before any curation, or null. */
export function hygiene(rec: Pick<SampleRecord, 'text' | 'maxTokens'>): HygieneProblem | null {
  const t = rec.text;
  if (typeof t !== 'string' || t.trim() === '') return 'empty';
  if (t.length > maxRationaleChars(rec.maxTokens)) return 'too-long';
  if (CONTROL.test(t)) return 'control-characters';
  return null;
}

/** Records grouped by question (questions in their order, samples by k). */
export function byQuestion(records: SampleRecord[]): Map<string, SampleRecord[]> {
  const m = new Map<string, SampleRecord[]>();
  for (const r of records) {
    const list = m.get(r.questionId);
    if (list) list.push(r);
    else m.set(r.questionId, [r]);
  }
  for (const list of m.values()) list.sort((a, b) => a.sample - b.sample);
  return m;
}

/** One native record per question, every question listed (one that got no
 * usable rationale has an empty list, which curation counts). */
export function nativeRecords(questions: TeachQuestion[], records: SampleRecord[]): NativeRecord[] {
  const m = byQuestion(records);
  return questions.map((q) => {
    const rationales = (m.get(q.id) ?? [])
      .filter((r) => hygiene(r) === null)
      .map((r) => ({ text: r.text, teacher: r.teacher, temperature: r.temperature, top_p: r.topP, seed: r.seed, prompt: r.prompt }));
    const rec: NativeRecord = { id: q.id, question: q.question, answer: q.answer, rationales };
    if (q.choices) rec.choices = q.choices;
    return rec;
  });
}

export function nativeJsonl(questions: TeachQuestion[], records: SampleRecord[]): string {
  return nativeRecords(questions, records)
    .map((r) => `${JSON.stringify(r)}\n`)
    .join('');
}

/** A stored sample line back to a record; null when it is not one. */
export function parseSampleLine(line: string): SampleRecord | null {
  let j: unknown;
  try {
    j = JSON.parse(line);
  } catch {
    return null;
  }
  const r = j as Partial<SampleRecord>;
  if (!r || typeof r !== 'object' || typeof r.questionId !== 'string' || !Number.isInteger(r.sample) || typeof r.text !== 'string')
    return null;
  return r as SampleRecord;
}
