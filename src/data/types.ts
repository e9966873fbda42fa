// Shared data contracts between the data pipeline (src/data), the training
// core (src/core), the worker and the UI. Plain data only: these objects cross
// the worker boundary and are stored in IndexedDB.

/** How answers are compared; detected from the gold answers, overridable. */
export type TaskType = 'number' | 'choice' | 'yesno' | 'text';

/** What curation does with a rationale whose answer cannot be read
 * ("Therefore, 1 is less than 5."): drop it, or keep it when its record
 * carries the teacher's own correctness label saying it is right (Mentor-KD
 * `initial_correct: true`); the canonical answer sentence then supplies
 * the answer, as it does for every kept rationale. */
export type UnreadablePolicy = 'drop' | 'keep-labelled';

/** One curated rationale. `text` ends with the canonical answer sentence. */
export interface CuratedRationale {
  /** Full rationale, e.g. "He had 5 ... 27 more.\nTherefore, the answer is 32." */
  text: string;
  /** Character span [answerStart, answerEnd) of the gold answer inside `text`
   * (the "32" of the canonical sentence). Identical suffix in every rationale
   * of a question, so its tokens are identical too (what the KL term needs). */
  answerStart: number;
  answerEnd: number;
}

/** A question with its K curated rationales: the unit MCC-KD trains on. */
export interface QuestionGroup {
  id: string;
  question: string;
  /** Gold answer as a canonical string ("32", "B", "yes", "nkta"). */
  answer: string;
  choices?: string[];
  rationales: CuratedRationale[];
}

/** A question to evaluate on: no rationale. */
export interface EvalItem {
  id: string;
  question: string;
  answer: string;
  choices?: string[];
}

/** The canonical closing sentence appended to every curated rationale. */
export const ANSWER_PREFIX = 'Therefore, the answer is ';
export function canonicalAnswerSentence(answer: string): string {
  return `${ANSWER_PREFIX}${answer}.`;
}

/** One evaluation question as graded: what the student wrote, the answer
 * read from it, and whether that is the gold answer. */
export interface EvalSample {
  id: string;
  question: string;
  gold: string;
  generated: string;
  extracted: string | null;
  correct: boolean;
}
