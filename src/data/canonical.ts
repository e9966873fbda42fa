// Curation step 5: every kept rationale ends in the same canonical answer
// sentence, so all rationales of a question share identical answer tokens
// (what MCC-KD's consistency term compares).

import { lastSentenceStart } from './scan';
import { ANSWER_PREFIX, canonicalAnswerSentence, type CuratedRationale } from './types';

// A closing statement that announces the answer: "Therefore, the answer is
// 29.", "So the correct answer is: (B) orange ball.", "Answer: 32", "#### 32".
const CLOSING_RE = /\b(?:answer|choice|option)\b[^.\n]{0,40}?(?:\bis\b|:|=)|^\s*(?:final\s+)?answer\s*:|^\s*####/i;

/** The rationale without its own closing answer statement(s). Only the final
 * sentence is a candidate (twice, for "The answer is 32.\n#### 32"): an
 * "answer is" in the middle of the reasoning is reasoning. */
export function stripAnswerStatement(text: string): string {
  let body = text.replace(/\r\n?/g, '\n').trim();
  for (let i = 0; i < 2 && body; i++) {
    const start = lastSentenceStart(body);
    if (!CLOSING_RE.test(body.slice(start))) break;
    body = body.slice(0, start).trimEnd();
  }
  return body;
}

/** `body` (already stripped) + "\n" + the canonical sentence for `gold`. */
export function canonicalRationale(body: string, gold: string): CuratedRationale {
  // joined, not a template: one flat string, not a chain of pieces that
  // keeps the teacher's whole raw text alive for as long as the run trains
  const text = [body, canonicalAnswerSentence(gold)].join('\n');
  const answerStart = body.length + 1 + ANSWER_PREFIX.length;
  return { text, answerStart, answerEnd: answerStart + gold.length };
}
