// Answer handling shared by curation (step 1-2) and the trainer's evaluation:
// detect the task type from gold answers, canonicalise golds, pull the answer
// out of a rationale or a generated text, and compare. Pure functions only.

import { isSpace, lastIndexOf, lastQuoted, lastSentenceStart, meter, skipSpaces, trimChars } from './scan';
import type { EvalItem, EvalSample, TaskType } from './types';

// Every scan of a text here is linear in its length (see scan.ts): the
// regular expressions below have no overlapping quantifiers, and what they
// cannot do in one pass is written out by hand.

// A sign counts only when it does not follow a word or ")": "5-4" is a
// subtraction, not the numbers 5 and -4.
const NUMBER_RE = /(?<![\w.)])(-?)\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)/g;
const WHOLE_NUMBER_RE = /^[+-]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$|^[+-]?\$?\.\d+%?$/;
const CHOICE_GOLD_RE = /^\(?([A-Z])\)?[.:]?(?:\s.*)?$/;
// "the answer is", "answer:", "the correct choice is", "option" ... The last
// cue in a text is where the model states its final answer.
const CUE_RE = /\b(?:answer|choice|option)\s*(?:is|would be|will be|should be|=)?\s*:?/gi;
// Minus signs other than "-": U+2212 MINUS SIGN, figure and en dashes,
// small and fullwidth hyphen-minus. "−2" is -2, not 2. All one UTF-16 unit,
// so replacing them keeps every offset.
const MINUS_RE = /[\u2212\u2012\u2013\uFE63\uFF0D]/g;

/** `t` with every minus form written as "-". */
function asciiMinus(t: string): string {
  return t.replace(MINUS_RE, '-');
}

/** Canonical number: no thousands separators, sign, "$" or "%", no trailing
 * zeros ("32.0" -> "32", "1,000" -> "1000", "-0.50" -> "-0.5"). */
function canonicalNumber(raw: string): string | null {
  const s = asciiMinus(raw.trim()).replace(/[.]$/, '');
  if (!WHOLE_NUMBER_RE.test(s)) return null;
  let t = s.replace(/[$,%+]/g, '');
  const neg = t.startsWith('-');
  if (neg) t = t.slice(1);
  const [int, frac = ''] = t.split('.');
  // Leading zeros of the integer part, trailing zeros of the fraction, by
  // hand: /0+$/ retries every zero of a long run (quadratic).
  let a = 0;
  while (a < int.length - 1 && int[a] === '0') a++;
  let b = frac.length;
  while (b > 0 && frac[b - 1] === '0') b--;
  meter.steps += a + (frac.length - b) + 1;
  const body = b > 0 ? `${int.slice(a) || '0'}.${frac.slice(0, b)}` : int.slice(a) || '0';
  return neg && body !== '0' ? `-${body}` : body;
}

const TEXT_LEAD = '"\'`“”‘’*';
const TEXT_TRAIL = `${TEXT_LEAD}.!?,;:`;

function canonicalText(raw: string): string {
  // Not /[...]+$/: that retries every position of a long punctuation run.
  return trimChars(raw.trim(), TEXT_LEAD, TEXT_TRAIL).replace(/\s+/g, ' ').toLowerCase();
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

/** "(X)" with X an upper-case letter at `p`. */
function tagAt(q: string, p: number): boolean {
  const x = q.charCodeAt(p + 1);
  return q.charCodeAt(p) === 40 && x >= 65 && x <= 90 && q.charCodeAt(p + 2) === 41;
}

/** "or", whitespace, then a "(X)" tag at `p`. */
function orTagAt(q: string, p: number): boolean {
  return q.startsWith('or', p) && isSpace(q.charCodeAt(p + 2)) && tagAt(q, skipSpaces(q, p + 2));
}

/** Whether a choice text may end before whitespace that ends at `p` (with
 * a line break in it or not): what follows is the next tag, possibly after
 * "," and/or "or", a ".", a line break or the end of the question. */
function choiceEndsAt(q: string, p: number, lineBreak: boolean): boolean {
  if (lineBreak || p >= q.length || q.charCodeAt(p) === 46 /* . */ || tagAt(q, p) || orTagAt(q, p)) return true;
  if (q.charCodeAt(p) !== 44 /* , */) return false;
  const after = skipSpaces(q, p + 1);
  return tagAt(q, after) || orTagAt(q, after);
}

/** Choice texts listed in a question as "(A) orange ball, (B) white ball".
 * Each text runs from its tag to the first place where the next tag (after
 * an optional "," or "or"), a ".", a line break or the end follows; one
 * containing "(" or a line break is not a choice. A forward scan that looks
 * at each character a bounded number of times: the regular expression it
 * replaces (three adjacent whitespace quantifiers and a lazy text between
 * them) backtracked cubically on a tag followed by spaces. */
export function parseChoices(question: string): string[] | undefined {
  const q = question;
  const out: string[] = [];
  let from = 0;
  for (;;) {
    const at = q.indexOf('(', from);
    if (at < 0) break;
    meter.steps += at - from + 1;
    if (!tagAt(q, at)) {
      from = at + 1;
      continue;
    }
    const start = skipSpaces(q, at + 3);
    let k = start;
    let end = -1;
    for (;;) {
      let p = k;
      let lineBreak = false;
      for (let c = q.charCodeAt(p); p < q.length && isSpace(c); c = q.charCodeAt(++p)) if (c === 10) lineBreak = true;
      meter.steps += p - k + 1;
      if (choiceEndsAt(q, p, lineBreak)) {
        end = k;
        break;
      }
      // The text goes on through the spaces and q[p], unless q[p] ends it.
      if (q.charCodeAt(p) === 40 /* ( */) break;
      k = p + 1;
    }
    if (end < 0) {
      // No choice text from this tag; no tag lies before the "(" it met.
      from = k;
      continue;
    }
    if (q.charCodeAt(at + 1) - 65 !== out.length) break; // (A), (B), ... in order
    out.push(q.slice(start, end).replace(/[,.]$/, '').trim());
    from = end;
  }
  return out.length >= 2 ? out : undefined;
}

/** The last sentence of `text` (split at ". " and newlines). */
function lastSentence(text: string): string {
  const t = text.trimEnd();
  return t.slice(lastSentenceStart(t));
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
  // Each whitespace run belongs to one quantifier (not "\s*(is)?\s*:?\s*",
  // which tried every split of a long run of spaces: cubic).
  const cueRe = /\b(?:answer|choice|option)\s*(?:(?:is|would be|=)\s*)?(?::\s*)?\(?([A-Z])\)?(?![\w'])/g;
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
  // Only A-Z can be answered; lastIndexOf is the linear one of scan.ts.
  choices.slice(0, 26).forEach((c, i) => {
    const needle = c.trim().toLowerCase();
    const at = needle ? lastIndexOf(last, needle) : -1;
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

// Yes/no answers. Teachers of yes/no tasks (StrategyQA) seldom write "the
// answer is yes": they open with "No, ...", end with "So, no, it would
// float.", "Conclusion: Yes, ...", "Therefore, the statement is false.", or
// only restate a fact ("1 is less than 5."). Only explicit verdicts are read.
// A bare negation is not one: on the Mentor-KD StrategyQA file, reading "no"
// from any "not"/"cannot"/"unlikely" in the final sentence and "yes"
// otherwise agrees with the teacher's own answer on 66% of the 4,454
// rationales marked correct (always "no": 54%). The same reader grades the
// student's generations, so a loose rule would also inflate its accuracy.
// What it cannot read is left to curation's policy for unreadable answers.
//
// Every pattern here is linear: whitespace, quote and punctuation runs are
// each matched by one quantifier over a class disjoint from its neighbours',
// and the only gap ("the answer to this question is") is bounded.

/** An answer cue with the verdict right after it: "the answer is no",
 * "Answer: yes", "the answer to the question is: \"true\"". The verdict word
 * must end its clause or be followed by "because"/"since"/"as": "the answer
 * is no longer clear" states nothing. */
const YESNO_CUE_RE =
  /\b(?:answer|choice|option)\b[^.!?\n]{0,40}?(?:\b(?:is|was|would be|will be|should be)\b|[:=])\s*["'“‘*]*(yes|no|true|false)\b["'”’*]*(?=\s*(?:[,.!?;:)—–]|$)|\s+(?:because|since|as)\b)/dgi;

/** "Yes" or "no" standing alone at the start of a clause: at the start of
 * the sentence or after ",", ":", ";" or "so"/"then"/"thus"/"hence"/
 * "therefore" ("So, no, it was not.", "Conclusion: Yes, ...", "then yes,
 * all seven could"), and followed by punctuation or the end ("No." but not
 * "No one knows", "Therefore, no candidate won", "yes and no"). */
const YESNO_CLAUSE_RE = /(?:^|[,:;]|\b(?:so|then|thus|hence|therefore)\b)\s*["'“‘*]*(yes|no)["'”’*]*(?=\s*(?:[,.!;:—–]|$))/dgi;

/** A verdict on the question's claim: "the statement is false", "This is
 * incorrect.", "that is not true". True means yes: a yes/no question asks
 * whether its claim holds. The truth word must end the clause ("It is true
 * that ...", "it is correct to say ..." state nothing). */
const YESNO_VERDICT_RE =
  /\b(?:(?:the|this|that)\s+(?:statement|claim|assertion|premise|proposition|hypothesis)|this|that|it)\s+(?:is|was)\s+(not\s+)?(?:(?:therefore|thus|also|indeed|definitely|clearly)\s+)?(true|false|correct|incorrect|accurate|inaccurate|right|wrong)\b["'”’*]*(?=\s*(?:[,.!;:—–]|$))/dgi;

const NEGATIVE_VERDICT = new Set(['false', 'incorrect', 'inaccurate', 'wrong']);

/** Where a yes/no answer was read: the answer and the characters
 * [start, end) of the word it was read from ("no", "false", "incorrect"). */
interface YesNoReading {
  answer: 'yes' | 'no';
  start: number;
  end: number;
}

/** Offset of group `g` of a match of a /d pattern (the group took part). */
function groupStart(m: RegExpMatchArray, g: number): number {
  return m.indices?.[g]?.[0] ?? -1;
}

/** "Yes"/"no" opening the whole text ("No, the army was disbanded in
 * 1865. ..."): the teacher answers first and then explains. Only the very
 * start: a "yes" opening a later sentence often answers a sub-question
 * ("2. If she is a real person, then yes, she owns a junk."). */
const YESNO_OPENING_RE = /^\s*["'“‘*]*(yes|no)["'”’*]*(?=\s*(?:[,.!;:—–]|$))/di;

/** The yes/no answer a text states, with the span of the word that states
 * it, or null. Read, in order of position, the last of: an answer cue
 * anywhere ("the answer is no"), a "yes"/"no" opening the text, and in the
 * final sentence a clause-initial "yes"/"no" or a verdict on the claim
 * ("the statement is false"). A double negation ("this is not incorrect")
 * is refused rather than read, and nothing before it is read instead. */
export function readYesNo(text: string): YesNoReading | null {
  const t = text.trimEnd();
  const from = lastSentenceStart(t);
  const sentence = t.slice(from);
  let best: (YesNoReading & { refused?: boolean }) | null = null;
  const offer = (r: YesNoReading & { refused?: boolean }): void => {
    if (!best || r.start >= best.start) best = r;
  };
  const yn = (w: string): 'yes' | 'no' => (w.toLowerCase() === 'yes' || w.toLowerCase() === 'true' ? 'yes' : 'no');
  const word = (m: RegExpMatchArray, g: number, at: number): void => {
    const start = at + groupStart(m, g);
    offer({ answer: yn(m[g]), start, end: start + m[g].length });
  };
  const opening = YESNO_OPENING_RE.exec(t);
  if (opening) word(opening, 1, 0);
  for (const m of t.matchAll(YESNO_CUE_RE)) word(m, 1, 0);
  for (const m of sentence.matchAll(YESNO_CLAUSE_RE)) word(m, 1, from);
  for (const m of sentence.matchAll(YESNO_VERDICT_RE)) {
    const start = from + groupStart(m, 2);
    const negative = NEGATIVE_VERDICT.has(m[2].toLowerCase());
    const negated = m[1] !== undefined;
    offer({ answer: negative !== negated ? 'no' : 'yes', start, end: start + m[2].length, refused: negative && negated });
  }
  const found = best as (YesNoReading & { refused?: boolean }) | null;
  return found && !found.refused ? { answer: found.answer, start: found.start, end: found.end } : null;
}

function extractYesNo(text: string): string | null {
  return readYesNo(text)?.answer ?? null;
}

function extractText(text: string): string | null {
  const cue = afterLastCue(text);
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '');
  const line = cue ?? lines[lines.length - 1] ?? '';
  const quoted = lastQuoted(line);
  let cand: string;
  if (quoted !== undefined) cand = quoted;
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
      return extractNumber(asciiMinus(t));
    case 'choice':
      return extractChoice(t, choices);
    case 'yesno':
      return extractYesNo(t);
    case 'text':
      return extractText(t);
  }
}

/** Relative tolerance of numeric answers with a fractional part: float
 * noise ("0.30000000000000004" for 0.3) matches, a different decimal does not. */
const DECIMAL_TOLERANCE = 1e-9;

export function answersMatch(predicted: string | null, gold: string, taskType: TaskType): boolean {
  if (predicted === null) return false;
  if (taskType === 'number') {
    const p = canonicalNumber(predicted);
    const g = canonicalNumber(gold);
    if (p === null || g === null) return false;
    if (p === g) return true; // same canonical digits ("3.50" and "3.5", "1,000" and "1000")
    // Two integers are equal only digit for digit: 1000001 is not 1000000,
    // and digits past 2^53 count too.
    if (!p.includes('.') && !g.includes('.')) return false;
    const a = Number(p);
    const b = Number(g);
    if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
    return Math.abs(a - b) <= DECIMAL_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
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
  return {
    id: item.id,
    question: item.question,
    gold: item.answer,
    generated,
    extracted,
    correct: answersMatch(extracted, item.answer, taskType),
  };
}
