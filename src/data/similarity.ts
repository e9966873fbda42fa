// Word n-gram Jaccard similarity for the diversity filter (curation step 3).
// Kept separate so scripts/measure-similarity.ts measures exactly what the
// filter compares.

/** Lower-cased letter/digit runs: punctuation and spacing differences between
 * two otherwise identical rationales must not make them look diverse. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export function ngramSet(text: string, n: number): Set<string> {
  const w = words(text);
  const out = new Set<string>();
  // A text shorter than n still needs one gram, or every short rationale
  // would be "identical" (two empty sets) to every other one.
  if (w.length < n) {
    if (w.length > 0) out.add(w.join(' '));
    return out;
  }
  for (let i = 0; i + n <= w.length; i++) out.add(w.slice(i, i + n).join(' '));
  return out;
}

export function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let inter = 0;
  for (const g of small) if (large.has(g)) inter++;
  return inter / (a.size + b.size - inter);
}
