// Dataset fingerprint: a cheap, stable hash of the curated groups, stored with
// a run so that resuming on different data can be noticed.

import type { QuestionGroup } from '../data/types';

/** 64-bit FNV-1a over UTF-16 code units, as 16 hex digits. The 64-bit product
 * is done in two 32-bit halves because doubles can't hold it exactly. */
export function fnv1a64(text: string): string {
  let lo = 0x84222325;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    lo = (lo ^ text.charCodeAt(i)) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64
    const a = lo * 0x1b3; // < 2^41, exact
    const carry = Math.floor(a / 0x100000000);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = a >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export function fingerprintGroups(groups: QuestionGroup[]): string {
  return fnv1a64(JSON.stringify(groups.map((g) => [g.id, g.question, g.answer, g.rationales.map((r) => r.text)])));
}
