// Answer handling shared by curation (step 1-2) and the trainer's evaluation:
// detect the task type from gold answers, canonicalise golds, pull the answer
// out of a rationale or a generated text, and compare. Pure functions only.

import type { EvalItem, EvalSample, TaskType } from './types';

// A sign counts only when it does not follow a word or ")": "5-4" is a
// subtraction, not the numbers 5 and -4.
const NUMBER_RE = /(?<![\w.)])(-?)\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)/g;
const WHOLE_NUMBER_RE = /^[+-]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$|^[+-]?\$?\.\d+%?$/;
const CHOICE_GOLD_RE = /^\(?([A-Z])\)?[.:]?(?:\s.*)?$/;
// "the answer is", "answer:", "the correct choice is", "option" ... The last
// cue in a text is where the model states its final answer.
const CUE_RE = /\b(?:answer|choice|option)\s*(?:is|would be|will be|should be|=)?\s*:?/gi;

/** Canonical number: no thousands separators, sign, "$" or "%", no trailing
 * zeros ("32.0" -> "32", "1,000" -> "1000", "-0.50" -> "-0.5"). */
function canonicalNumber(raw: string): string | null {
  const s = raw.trim().replace(/[.]$/, '');
  if (!WHOLE_NUMBER_RE.test(s)) return null;
  let t = s.replace(/[$,%+]/g, '');
  const neg = t.startsWith('-');
  if (neg) t = t.slice(1);
  let [int, frac = ''] = t.split('.');
  int = int.replace(/^0+(?=\d)/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return neg && body !== '0' ? `-${body}` : body;
}

function canonicalText(raw: string): string {
  return raw
    .trim()
    .replace(/^[\s"'`“”‘’*]+|[\s"'`“”‘’*.!?,;:]+$/g, '')
    .replace(/\s+/g, ' ')
    .toLowerCase();
}

function isGoldOf(raw: string, type: TaskType): boolean {
  const s = raw.trim();
  switch (type) {
    case 'number':
      return canonicalNumber(s) !== null;
    case 'choice':
      return CHOICE_GOLD_RE.test(s);
    case 'yesno':
      return /^(yes|no)\.?$/i.test(s);
    case 'text':
      return canonicalText(s) !== '';
  }
}

/** The type that fits (almost) every gold answer. 95% rather than 100% so a
 * couple of odd golds are reported as bad records instead of silently
 * turning a numeric task into free text. */
export function detectTaskType(golds: string[]): TaskType {
  const g = golds.filter((x) => x.trim() !== '');
  if (g.length === 0) return 'text';
  for (const type of ['yesno', 'number', 'choice'] as const) {
    const fit = g.filter((x) => isGoldOf(x, type)).length;
    if (fit >= Math.max(1, Math.ceil(g.length * 0.95))) return type;
  }
  return 'text';
}

/** Whether `raw` can be a gold answer of this type (curation drops the rest). */
export function isValidGold(raw: string, type: TaskType): boolean {
  return isGoldOf(raw, type);
}

export function normalizeAnswer(raw: string, taskType: TaskType): string {
  const s = raw.trim();
  switch (taskType) {
    case 'number':
      return canonicalNumber(s) ?? s;
    case 'choice': {
      // Lower case is accepted here (a model may write "(b)"), not when
      // detecting the type, where "a" is more likely free text.
      const m = /^\(?([A-Za-z])\)?[.:]?(?:\s.*)?$/.exec(s);
      return m ? m[1].toUpperCase() : s.toUpperCase();
    }
    case 'yesno':
      return canonicalText(s);
    case 'text':
      return canonicalText(s);
  }
}

/** Choice texts listed in a question as "(A) orange ball, (B) white ball". */
export function parseChoices(question: string): string[] | undefined {
  const re = /\(([A-Z])\)\s*([^\n(]*?)\s*(?=,?\s*(?:or\s+)?\([A-Z]\)|[.\n]|$)/g;
  const out: string[] = [];
  for (const m of question.matchAll(re)) {
    if (m[1].charCodeAt(0) - 65 !== out.length) break; // (A), (B), ... in order
    out.push(m[2].replace(/[,.]$/, '').trim());
  }
  return out.length >= 2 ? out : undefined;
}

/** Start offsets of the sentences of `text` (split at ". " and newlines). */
function lastSentence(text: string): string {
  const t = text.trimEnd();
  const re = /[.!?]["”')\]]*\s+|\n+/g;
  let start = 0;
  for (const m of t.matchAll(re)) {
    const end = (m.index ?? 0) + m[0].length;
    if (end < t.length && /[\p{L}\p{N}]/u.test(t.slice(end))) start = end;
  }
  return t.slice(start);
}

/** Text after the last answer cue, up to the end of that sentence. */
function afterLastCue(text: string): string | null {
  let last: RegExpMatchArray | undefined;
  for (const m of text.matchAll(CUE_RE)) last = m;
  if (!last) return null;
  const rest = text.slice((last.index ?? 0) + last[0].length);
  const end = rest.search(/[.!?](?:\s|$)|\n/);
  return end >= 0 ? rest.slice(0, end + 1) : rest;
}

function numbersIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(NUMBER_RE)) {
    const n = canonicalNumber(m[1] + m[2]);
    if (n !== null) out.push(n);
  }
  return out;
}

function extractNumber(text: string): string | null {
  const cue = afterLastCue(text);
  const fromCue = cue ? numbersIn(cue) : [];
  if (fromCue.length) return fromCue[0];
  const all = numbersIn(text);
  return all.length ? all[all.length - 1] : null;
}

function extractChoice(text: string, choices?: string[]): string | null {
  const n = choices?.length ?? 5;
  const valid = (l: string): boolean => l.charCodeAt(0) - 65 < Math.max(n, 1);
  // The letter after a cue must stand alone: "answer is Alice" is a name.
  const cueRe = /\b(?:answer|choice|option)\s*(?:is|would be|=)?\s*:?\s*\(?([A-Z])\)?(?![\w'])/g;
  let found: string | null = null;
  for (const m of text.matchAll(cueRe)) if (valid(m[1])) found = m[1];
  if (found) return found;
  for (const m of text.matchAll(/\(([A-Z])\)/g)) if (valid(m[1])) found = m[1];
  if (found) return found;
  if (!choices) return null;
  // No letter at all: the choice text named last in the final sentence.
  const last = lastSentence(text).toLowerCase();
  let best = -1;
  let bestEnd = -1;
  choices.forEach((c, i) => {
    const needle = c.trim().toLowerCase();
    const at = needle ? last.lastIndexOf(needle) : -1;
    if (at < 0) return;
    const end = at + needle.length;
    // Latest mention wins; on a tie the longer text ("red ball" over "ball").
    if (end > bestEnd || (end === bestEnd && needle.length > choices[best].trim().length)) {
      best = i;
      bestEnd = end;
    }
  });
  return best >= 0 ? String.fromCharCode(65 + best) : null;
}

function extractYesNo(text: string): string | null {
  const cue = afterLastCue(text);
  const fromCue = cue?.match(/\b(yes|no)\b/i);
  if (fromCue) return fromCue[1].toLowerCase();
  const last = lastSentence(text);
  const first = last.match(/^\W*(yes|no)\b/i);
  if (first) return first[1].toLowerCase();
  const all = [...last.matchAll(/\b(yes|no)\b/gi)];
  return all.length ? all[all.length - 1][1].toLowerCase() : null;
}

function extractText(text: string): string | null {
  const cue = afterLastCue(text);
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '');
  const line = cue ?? lines[lines.length - 1] ?? '';
  const quoted = [...line.matchAll(/["“]([^"”\n]+)["”]/g)];
  let cand: string;
  if (quoted.length) cand = quoted[quoted.length - 1][1];
  else if (cue) cand = cue;
  else {
    const sep = Math.max(line.lastIndexOf(':'), line.lastIndexOf('='));
    const is = line.toLowerCase().lastIndexOf(' is ');
    if (sep >= 0) cand = line.slice(sep + 1);
    else if (is >= 0) cand = line.slice(is + 4);
    else cand = line.split(/\s+/).pop() ?? '';
  }
  const out = canonicalText(cand);
  return out === '' ? null : out;
}

/** The answer a rationale (or a generated text) arrives at, canonicalised
 * like a gold answer, or null when it states none. */
export function extractAnswer(text: string, taskType: TaskType, choices?: string[]): string | null {
  const t = text.replace(/\r\n?/g, '\n');
  switch (taskType) {
    case 'number':
      return extractNumber(t);
    case 'choice':
      return extractChoice(t, choices);
    case 'yesno':
      return extractYesNo(t);
    case 'text':
      return extractText(t);
  }
}

export function answersMatch(predicted: string | null, gold: string, taskType: TaskType): boolean {
  if (predicted === null) return false;
  if (taskType === 'number') {
    const p = Number(canonicalNumber(predicted) ?? NaN);
    const g = Number(canonicalNumber(gold) ?? NaN);
    if (!Number.isFinite(p) || !Number.isFinite(g)) return false;
    return Math.abs(p - g) <= 1e-6 * Math.max(1, Math.abs(g));
  }
  const p = normalizeAnswer(predicted, taskType);
  const g = normalizeAnswer(gold, taskType);
  if (p === g) return true;
  if (taskType !== 'text' || g === '') return false;
  // Free text: "the result is nehl" still states "nehl" as its last words,
  // and "n e h l" spells it with spaces.
  return p.endsWith(` ${g}`) || p.replace(/\s+/g, '') === g.replace(/\s+/g, '');
}

/** Grades the student's generation for one evaluation question: the answer
 * it states, read as the teacher's rationales are, against the gold. */
export function gradeGeneration(item: EvalItem, generated: string, taskType: TaskType): EvalSample {
  const extracted = extractAnswer(generated, taskType, item.choices);
  return { id: item.id, question: item.question, gold: item.answer, generated, extracted, correct: answersMatch(extracted, item.answer, taskType) };
}
