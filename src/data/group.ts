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

/** Same question up to surrounding and repeated whitespace. */
export function questionKey(q: string): string {
  return q.trim().replace(/\s+/g, ' ');
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
    if (g) this.merged++;
    else {
      g = { ...where, id: item.id, question: item.question, answers: [], choices: item.choices, rationales: [] };
      this.byKey.set(key, g);
      this.groups.push(g);
    }
    if (item.answer !== undefined) g.answers.push({ raw: item.answer, where });
    g.choices ??= item.choices;
    const room = Math.max(0, this.maxRationales - g.rationales.length);
    for (const r of item.rationales.slice(0, room)) g.rationales.push({ ...r, ...where });
    const over = item.rationales.length - room;
    if (over > 0) this.overLimit.push({ where, question: item.question, count: over });
  }
}
