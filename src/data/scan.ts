// Hand-written linear scans shared by the reader and answer extraction, and
// the step meter that counts their work. Everything that scans text of
// unbounded length here looks at each character a bounded number of times:
// no regular expression with overlapping quantifiers, no rescanning of the
// rest of a text per match. Tests reset `meter.steps` and read it back to
// check, by counting rather than timing, that the work grows linearly.

/** Characters (or bytes) looked at by the scanners below and by the
 * reader's stages; one integer addition per scanned stretch. */
export const meter = { steps: 0 };

/** JavaScript's `\s`: the characters `String.prototype.trim` removes. */
export function isSpace(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** First index at or after `from` that is not whitespace (or `s.length`). */
export function skipSpaces(s: string, from: number): number {
  let i = from;
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  meter.steps += i - from + 1;
  return i;
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** Index of the last letter or digit of `t` (the first code unit of that
 * character), or -1. */
export function lastLetterOrDigit(t: string): number {
  for (let i = t.length - 1; i >= 0; i--) {
    const c = t.charCodeAt(i);
    if (c < 128) {
      if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) {
        meter.steps += t.length - i;
        return i;
      }
      continue;
    }
    // A surrogate pair is tested as one character.
    const pair = c >= 0xdc00 && c <= 0xdfff && i > 0 && t.charCodeAt(i - 1) >= 0xd800 && t.charCodeAt(i - 1) <= 0xdbff;
    const at = pair ? i - 1 : i;
    if (LETTER_OR_DIGIT.test(t.slice(at, i + 1))) {
      meter.steps += t.length - at;
      return at;
    }
    i = at;
  }
  meter.steps += t.length + 1;
  return -1;
}

// A sentence ends at ". ", "?" or "!" (closing quotes or brackets allowed
// before the space), or at a line break.
const SENTENCE_END = /[.!?]["”')\]]*\s+|\n+/g;

/** Where the last sentence of `t` starts: after the last sentence end that
 * still has a letter or digit after it (0 when there is none). `t` should
 * be trimmed at the end. One pass over the sentence ends, one backward scan
 * for the last letter: linear. */
export function lastSentenceStart(t: string): number {
  const last = lastLetterOrDigit(t);
  if (last < 0) return 0;
  let start = 0;
  for (const m of t.matchAll(SENTENCE_END)) {
    const end = m.index + m[0].length;
    if (end > last) break;
    start = end;
  }
  meter.steps += start + 1;
  return start;
}

/** `hay.lastIndexOf(needle)` in linear time. V8's lastIndexOf compares
 * naively, O(hay × needle), which a long choice text can turn into minutes;
 * past a few characters this runs Knuth-Morris-Pratt over both strings read
 * backwards. */
export function lastIndexOf(hay: string, needle: string): number {
  const n = hay.length;
  const m = needle.length;
  if (m === 0) return n;
  if (m > n) return -1;
  if (m <= 8) {
    meter.steps += n * m;
    return hay.lastIndexOf(needle);
  }
  const back = (k: number): number => needle.charCodeAt(m - 1 - k);
  const fail = new Int32Array(m);
  let steps = 0;
  for (let k = 1, j = 0; k < m; k++) {
    const c = back(k);
    while (j > 0 && c !== back(j)) {
      j = fail[j - 1];
      steps++;
    }
    if (c === back(j)) j++;
    fail[k] = j;
  }
  let found = -1;
  for (let i = 0, j = 0; i < n; i++) {
    const c = hay.charCodeAt(n - 1 - i);
    while (j > 0 && c !== back(j)) {
      j = fail[j - 1];
      steps++;
    }
    if (c === back(j)) j++;
    if (j === m) {
      found = n - 1 - i;
      steps += i;
      break;
    }
  }
  meter.steps += steps + m + (found < 0 ? n : 0);
  return found;
}

/** The text of the last `"..."` or `“...”` on one line of `s`: what
 * `/["“]([^"”\n]+)["”]/g` finds last, without that regex's quadratic
 * rescanning after every unclosed `“`. */
export function lastQuoted(s: string): string | undefined {
  let found: string | undefined;
  let i = 0;
  let steps = 0;
  while (i < s.length) {
    const c = s[i];
    if (c !== '"' && c !== '“') {
      i++;
      steps++;
      continue;
    }
    let j = i + 1;
    while (j < s.length && s[j] !== '"' && s[j] !== '”' && s[j] !== '\n') j++;
    steps += j - i;
    if (j < s.length && s[j] !== '\n' && j > i + 1) {
      found = s.slice(i + 1, j);
      i = j + 1;
    } else {
      // Every opening quote before j stops at the same j: none matches.
      i = j;
    }
  }
  meter.steps += steps + 1;
  return found;
}

/** `s` without leading characters in `lead` or whitespace, and without
 * trailing ones in `trail` or whitespace. */
export function trimChars(s: string, lead: string, trail: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (isSpace(s.charCodeAt(a)) || lead.includes(s[a]))) a++;
  while (b > a && (isSpace(s.charCodeAt(b - 1)) || trail.includes(s[b - 1]))) b--;
  meter.steps += a + (s.length - b) + 1;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
