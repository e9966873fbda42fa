// Groups raw items by question (curation step 6, merging): flat formats
// (one record per rationale) are grouped here, and a question repeated in a
// one-record-per-question format is merged and counted as a duplicate.

import type { RawItem, RawRationale } from './formats';
import type { Where } from './report';

export interface RawRationaleAt extends RawRationale, Where {}

export interface RawGroup extends Where {
  id?: string;
  question: string;
  /** Gold answers as read, with where each came from (first one wins). */
  answers: { raw: string; where: Where }[];
  choices?: string[];
  rationales: RawRationaleAt[];
}

/** Same question up to surrounding and repeated whitespace. A question
 * already in that form is its own key (no second copy of its text). */
export function questionKey(q: string): string {
  const t = q.trim();
  return /\s\s|[^\S ]/.test(t) ? t.replace(/\s+/g, ' ') : t;
}

export class Grouper {
  readonly groups: RawGroup[] = [];
  private byKey = new Map<string, RawGroup>();
  /** Records that joined an existing question. */
  merged = 0;
  /** Rationales refused by limits.maxRationalesPerQuestion. */
  overLimit: { where: Where; question: string; count: number }[] = [];

  constructor(private readonly maxRationales: number) {}

  add(item: RawItem, where: Where): void {
    const key = questionKey(item.question);
    let g = this.byKey.get(key);
    const room = Math.max(0, this.maxRationales - (g?.rationales.length ?? 0));
    // Every question of the file is held until curation: object literals
    // and exact-length arrays, not spreads (in V8 a spread object gets a
    // hidden class of its own, ~100 bytes) nor push onto [] (room for 17).
    const at = (r: RawRationale): RawRationaleAt => ({
      text: r.text,
      field: r.field,
      teacherAnswer: r.teacherAnswer,
      markedIncorrect: r.markedIncorrect,
      markedCorrect: r.markedCorrect,
      line: where.line,
      index: where.index,
    });
    const answers = item.answer !== undefined ? [{ raw: item.answer, where }] : [];
    if (g) {
      this.merged++;
      g.answers.push(...answers);
      g.choices ??= item.choices;
      for (const r of item.rationales.slice(0, room)) g.rationales.push(at(r));
    } else {
      g = {
        line: where.line,
        index: where.index,
        id: item.id,
        question: item.question,
        answers,
        choices: item.choices,
        rationales: item.rationales.slice(0, room).map(at),
      };
      this.byKey.set(key, g);
      this.groups.push(g);
    }
    const over = item.rationales.length - room;
    if (over > 0) this.overLimit.push({ where, question: item.question, count: over });
  }

  /** Reading is over: the lookup by question is no longer needed. */
  finish(): void {
    this.byKey.clear();
  }
}
