// Consistency metrics of a student's sampled rationales (what MCC-KD is
// about: the answer should not depend on the reasoning path). Pure functions
// on plain numbers and strings; src/core/evaluate.ts samples the rationales
// and computes the answer distributions on the device.
//
// Definitions (README, "Consistency metrics"):
// - For each question, M rationales are sampled and each one's final answer
//   is read as the evaluation reads a generation (extractAnswer); a sample
//   that states no answer counts as null.
// - majority: the most frequent non-null answer; a tie goes to the answer
//   that appeared first among the samples; null when no sample answered.
// - agreement: the share of the M samples whose answer is the majority
//   answer (0 when none answered), averaged over questions.
// - majority-vote accuracy (self-consistency decoding): the share of
//   questions whose majority answer matches the gold.
// - sample accuracy: the share of all samples whose answer matches the gold.
// - answer KL: for a sample whose text contains "the answer is", the
//   student's next-token distribution (softmax at temperature 1 unless
//   another is given) at the position that predicts the first token after the
//   last "the answer is " (the position the training KL compares first, see
//   losses.ts and batch.ts klA/klB). For each question with at least two such
//   samples, the mean over all pairs i < j of 0.5 (KL(P_i||P_j) + KL(P_j||P_i));
//   then the mean over those questions.

/** Samples per question for the consistency metrics, at most: each question
 * costs M decodes, and its answer KL holds [M, V] distributions and [M, M]
 * pairs at once (evaluate.ts answerKLs). */
export const MAX_CONSISTENCY_SAMPLES = 64;

/** The most frequent non-null answer and how many samples gave it. */
export function majorityAnswer(answers: readonly (string | null)[]): { answer: string | null; count: number } {
  const counts = new Map<string, number>(); // in order of first appearance
  for (const a of answers) if (a !== null) counts.set(a, (counts.get(a) ?? 0) + 1);
  let best: string | null = null;
  let bestCount = 0;
  // strictly more: on a tie the answer that appeared first stays
  for (const [a, n] of counts) {
    if (n > bestCount) {
      best = a;
      bestCount = n;
    }
  }
  return { answer: best, count: bestCount };
}

/** Share of the samples that agree with the majority answer. */
export function agreementOf(answers: readonly (string | null)[]): number {
  return answers.length ? majorityAnswer(answers).count / answers.length : 0;
}

/** 0.5 (KL(p||q) + KL(q||p)) of two probability vectors, in nats; infinite
 * when one gives zero probability where the other does not. */
export function symmetricKLOf(p: readonly number[], q: readonly number[]): number {
  if (p.length !== q.length) throw new Error(`distributions of different sizes: ${p.length} and ${q.length}`);
  let s = 0;
  for (let v = 0; v < p.length; v++) {
    if (p[v] === q[v]) continue; // both zero included: contributes nothing
    if (p[v] === 0 || q[v] === 0) return Infinity;
    s += (p[v] - q[v]) * (Math.log(p[v]) - Math.log(q[v]));
  }
  return 0.5 * s;
}

/** Mean symmetric KL over all pairs i < j of n distributions, from
 * neg[i] = sum_v P_i log P_i and cross[i][j] = sum_v P_i log P_j (what the
 * device computes: one matMul instead of n^2 vector pairs). Null below two
 * distributions. Float rounding can make an identical pair's value a hair
 * below zero: clamped at 0, as the divergence is. */
export function meanPairwiseKL(neg: readonly number[], cross: readonly (readonly number[])[]): number | null {
  const n = neg.length;
  if (n < 2) return null;
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += Math.max(0, 0.5 * (neg[i] - cross[i][j] + neg[j] - cross[j][i]));
  return s / ((n * (n - 1)) / 2);
}

/** One question's sampled answers, as graded. */
export interface QuestionSamples {
  /** The answer each sample states (null: none). */
  answers: (string | null)[];
  /** Whether each sample's answer matches the gold. */
  correct: boolean[];
  /** Whether the majority answer matches the gold. */
  majorityCorrect: boolean;
  /** Mean pairwise answer KL of this question's samples; null when fewer than two state an answer. */
  kl: number | null;
}

export interface ConsistencySummary {
  questions: number;
  samplesPerQuestion: number;
  /** Mean over questions of the share of samples agreeing with the majority. */
  agreement: number;
  /** Share of questions whose majority answer is right (self-consistency). */
  majorityAccuracy: number;
  majorityCorrect: number;
  /** Share of all samples that are right. */
  sampleAccuracy: number;
  /** Share of all samples that state an answer at all. */
  answered: number;
  /** Mean over questions of the mean pairwise answer KL; null when no question had two answer positions. */
  answerKL: number | null;
  /** Questions that entered answerKL. */
  klQuestions: number;
}

/** Averages over questions (see the definitions at the top). */
export function summarizeConsistency(qs: readonly QuestionSamples[]): ConsistencySummary {
  let agreement = 0;
  let majority = 0;
  let right = 0;
  let answered = 0;
  let all = 0;
  let klSum = 0;
  let klN = 0;
  for (const q of qs) {
    agreement += agreementOf(q.answers);
    if (q.majorityCorrect) majority++;
    all += q.answers.length;
    right += q.correct.filter(Boolean).length;
    answered += q.answers.filter((a) => a !== null).length;
    if (q.kl !== null) {
      klSum += q.kl;
      klN++;
    }
  }
  const n = qs.length;
  return {
    questions: n,
    samplesPerQuestion: n ? qs[0].answers.length : 0,
    agreement: n ? agreement / n : 0,
    majorityAccuracy: n ? majority / n : 0,
    majorityCorrect: majority,
    sampleAccuracy: all ? right / all : 0,
    answered: all ? answered / all : 0,
    answerKL: klN ? klSum / klN : null,
    klQuestions: klN,
  };
}

/** Where the answer begins in a sampled rationale: just past the last
 * "the answer is" and its spaces (case-insensitive), with the answer's end
 * (its first word, without closing punctuation); null when the text has no
 * such cue or nothing follows it. */
export function answerSpanAfterCue(text: string): { start: number; end: number } | null {
  let start = -1;
  for (const m of text.matchAll(/\bthe answer is\b[ \t]*/gi)) start = (m.index ?? 0) + m[0].length;
  if (start < 0 || start >= text.length || /\s/.test(text[start])) return null;
  let end = start;
  while (end < text.length && !/\s/.test(text[end])) end++;
  while (end > start + 1 && /[.,;:!?]/.test(text[end - 1])) end--;
  return { start, end };
}
