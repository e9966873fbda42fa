// The curated training set as JSON Lines: what training reads after
// curation, one line per question, so that a run elsewhere (PyTorch with
// Accelerate or DeepSpeed) trains on exactly what the page trained on.
//
// Each line is a native teacher record (README, "Teacher files") with more
// fields, so the file reads back through readTeacherFile unchanged:
//
//   {"id", "question", "answer", ["choices"], "rationales": [text, ...],
//    "answer_spans": [[start, end], ...], "answer_sentence", "split", "task_type"}
//
// `rationales` are the curated texts (each ends with `answer_sentence`, the
// canonical "Therefore, the answer is X."), `answer_spans` the span
// [start, end) of the answer in the rationale with the same index, counted in
// Unicode code points (what Python's str indexes; JavaScript's string indices
// are UTF-16 code units and differ after an emoji), `split` "train" or "dev".
//
// Why reading back gives the same set without a reader change: curation is
// idempotent on its own output (the canonical sentence is stripped and
// written again, the kept rationales passed the diversity filter against
// each other already, at most K are kept), and the dev split is a seeded
// shuffle of the kept questions' order, which the file keeps. So the same
// settings (k, seed, dev fraction, similarity, n-gram, task) give the same
// questions, rationales, answer spans and split; `split` is written for other
// readers and lets a test check the claim. The dev questions' rationales are
// written too: without them a dev question would be dropped on reading back
// and shift the split.

import { questionKey } from './group';
import { canonicalAnswerSentence, type EvalItem, type QuestionGroup, type TaskType } from './types';

/** One line of the curated file, as written. */
export interface CuratedLine {
  id: string;
  question: string;
  answer: string;
  choices?: string[];
  rationales: string[];
  /** [start, end) of each rationale's answer, in code points. */
  answer_spans: [number, number][];
  answer_sentence: string;
  split: 'train' | 'dev';
  task_type: TaskType;
}

/** What the writer needs: every kept question with its rationales (read
 * with devFraction 0, so that the dev questions keep theirs), and which of
 * them the split holds out (the `dev` of a read with the run's settings). */
interface CuratedSet {
  /** All kept questions in file order, train and dev. */
  groups: readonly QuestionGroup[];
  /** The held-out questions; each must be one of `groups`. */
  dev: readonly EvalItem[];
  taskType: TaskType;
}

export class CuratedWriteError extends Error {
  override readonly name = 'CuratedWriteError';
}

/** Code points in text[0, i): a UTF-16 index as Python would count it. */
function codePoints(text: string, i: number): number {
  let n = 0;
  for (let j = 0; j < i; j++) {
    const c = text.charCodeAt(j);
    // a high surrogate followed by a low one is one code point
    if (c >= 0xd800 && c <= 0xdbff && j + 1 < i && (text.charCodeAt(j + 1) & 0xfc00) === 0xdc00) j++;
    n++;
  }
  return n;
}

function codePointSpan(text: string, start: number, end: number): [number, number] {
  const s = codePoints(text, start);
  return [s, s + codePoints(text.slice(start, end), end - start)];
}

/** The lines of the curated file, without their "\n". Throws
 * CuratedWriteError when a dev question is not among the groups (a caller
 * that passed the train groups only) or a span does not hold the answer. */
export function* curatedLines(set: CuratedSet): Generator<string> {
  const devKeys = new Set(set.dev.map((d) => questionKey(d.question)));
  const keys = new Set(set.groups.map((g) => questionKey(g.question)));
  for (const d of set.dev) {
    if (!keys.has(questionKey(d.question))) {
      throw new CuratedWriteError(
        `dev question ${JSON.stringify(d.id)} is not among the curated questions: pass every kept question (read with devFraction 0), not only the training ones`,
      );
    }
  }
  for (const g of set.groups) {
    const sentence = canonicalAnswerSentence(g.answer);
    g.rationales.forEach((r, i) => {
      if (r.text.slice(r.answerStart, r.answerEnd) !== g.answer || !r.text.endsWith(sentence)) {
        throw new CuratedWriteError(
          `question ${JSON.stringify(g.id)}, rationale ${i}: its answer span [${r.answerStart}, ${r.answerEnd}) does not hold the answer ${JSON.stringify(g.answer)} of its closing sentence`,
        );
      }
    });
    const line: CuratedLine = {
      id: g.id,
      question: g.question,
      answer: g.answer,
      ...(g.choices ? { choices: g.choices } : {}),
      rationales: g.rationales.map((r) => r.text),
      answer_spans: g.rationales.map((r) => codePointSpan(r.text, r.answerStart, r.answerEnd)),
      answer_sentence: sentence,
      split: devKeys.has(questionKey(g.question)) ? 'dev' : 'train',
      task_type: set.taskType,
    };
    yield JSON.stringify(line);
  }
}

/** The whole curated file: one JSON line per question, "\n" after each. */
export function curatedJsonl(set: CuratedSet): string {
  let out = '';
  for (const l of curatedLines(set)) out += `${l}\n`;
  return out;
}
