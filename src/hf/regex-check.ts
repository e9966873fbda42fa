// A static bound on the work of a regular expression from a tokenizer.json
// (a Split pre-tokenizer's or a Replace's "Regex"), checked before the
// pattern ever runs. The tokenizer library compiles such patterns to
// JavaScript RegExps, which backtrack and cannot be interrupted: a pattern
// like `(.|.)*%` takes 2^n steps on n characters and would hang the CLI or
// the page's worker. No clock is involved (a worker with a deadline would
// need Node- or browser-only APIs): a pattern is accepted only when its
// structure bounds the work of one match attempt by K * n steps on n
// characters (K <= MAX_WAYS), so that splitting a text costs at most
// K * n^2. Real tokenizer patterns (GPT-2, LLaMA-3, Qwen2/3, GPT-4o,
// DeepSeek, our own export) are far inside the bound.
//
// The bound, over the parsed pattern (conservatively: whatever cannot be
// shown harmless is refused):
//  - a repeat (`*`, `+`, `{m,n}` with n > 1) may hold only one character
//    (a literal, a class, an escape, `.`) or a fixed string: a repeated
//    group with a choice inside (`(.|.)*`, `(a+)+`, `(a?){9}`) can match one
//    text in exponentially many ways;
//  - in a sequence, unbounded repeats whose characters may overlap (`\s*\s*`,
//    `.*x.*`) multiply their splits of the text: one such repeat is linear
//    work per attempt, a chain of k of them n^k. Only chains of one are
//    accepted, or of two when the second ends the pattern (nothing after it
//    can fail, so the first split tried succeeds: LLaMA-3's `\s*[\r\n]+`);
//  - the bounded choices (`?`, alternatives, `{1,3}`) multiply the ways a
//    sequence can match: at most MAX_WAYS in all;
//  - no back-references or subroutine calls, nothing the parser does not
//    know, and a bounded length and nesting.
// Whether two character sets may overlap is decided exactly for literal
// characters, ranges, \s \d and Unicode general categories (\p{L}, \p{Lu},
// ...); anything else (scripts, \w, case-insensitive classes) is taken to
// overlap everything.

/** Limits of a pattern accepted from a file. */
export const REGEX_LIMITS = {
  /** Characters of one pattern (real ones have 100 to 400). */
  maxLength: 1024,
  /** Nesting of groups and classes. */
  maxDepth: 32,
  /** Ways one match attempt may choose among bounded options. */
  maxWays: 256,
  /** A bounded repeat above this many is counted as unbounded. */
  smallRepeat: 16,
} as const;

// ---- character sets --------------------------------------------------------

/** A part of a set: code points [lo, hi], a Unicode property (\p{..}), or
 * something we do not reason about. */
type Part = { lo: number; hi: number } | { cat: string } | 'unknown';
/** The characters one atom matches: the union of `parts`, or its complement. */
interface CharSet {
  neg: boolean;
  parts: Part[];
}

const UNKNOWN: CharSet = { neg: false, parts: ['unknown'] };
const EMPTY: CharSet = { neg: false, parts: [] };
const cp = (c: number): Part => ({ lo: c, hi: c });
/** JavaScript's \s (the library runs every pattern as a JS RegExp). */
const SPACE: Part[] = [
  { lo: 9, hi: 13 },
  cp(0x20),
  cp(0xa0),
  cp(0x1680),
  { lo: 0x2000, hi: 0x200a },
  cp(0x2028),
  cp(0x2029),
  cp(0x202f),
  cp(0x205f),
  cp(0x3000),
  cp(0xfeff),
];
const DIGIT: Part[] = [{ lo: 0x30, hi: 0x39 }];
/** What `.` excludes, at least (Oniguruma: only \n; JavaScript also \r, U+2028/9). */
const DOT: CharSet = { neg: true, parts: [cp(0x0a)] };

/** Unicode general categories, by short name: they partition the code points. */
const GENERAL = /^(?:[LMNPSZC]|L[ultmo]|M[nce]|N[dlo]|P[cdseifo]|S[mcko]|Z[slp]|C[cfson])$/;
const propCache = new Map<string, RegExp | null>();
function propRegex(name: string): RegExp | null {
  let r = propCache.get(name);
  if (r === undefined) {
    try {
      r = new RegExp(`^\\p{${name}}$`, 'u');
    } catch {
      r = null;
    }
    propCache.set(name, r);
  }
  return r;
}

function union(sets: CharSet[]): CharSet {
  const some = sets.filter((s) => s.neg || s.parts.length > 0);
  if (some.length === 1) return some[0];
  return some.some((s) => s.neg) ? UNKNOWN : { neg: false, parts: some.flatMap((s) => s.parts) };
}

/** Ranges up to this size are tested code point by code point. */
const TESTABLE = 4096;
/** Code point tests one check may make; past them every answer is "unsure"
 * (a hostile pattern must not make the check itself slow). */
const TEST_BUDGET = 1_000_000;
let tests = 0;

function member(c: number, p: Part): boolean {
  tests++;
  if (p === 'unknown') return true;
  if ('cat' in p) return propRegex(p.cat)?.test(String.fromCodePoint(c)) ?? true;
  return p.lo <= c && c <= p.hi;
}

/** Whether two parts may share a character (true when unsure). */
function partsMeet(a: Part, b: Part): boolean {
  if (a === 'unknown' || b === 'unknown') return true;
  if ('lo' in a && 'lo' in b) return a.lo <= b.hi && b.lo <= a.hi;
  if ('cat' in a && 'cat' in b) {
    if (!GENERAL.test(a.cat) || !GENERAL.test(b.cat)) return true;
    return a.cat.startsWith(b.cat) || b.cat.startsWith(a.cat);
  }
  const [r, c] = 'lo' in a ? [a, b] : [b as { lo: number; hi: number }, a];
  if (r.hi - r.lo >= TESTABLE || tests > TEST_BUDGET) return true;
  for (let x = r.lo; x <= r.hi; x++) if (member(x, c)) return true;
  return false;
}

/** Whether every character of part `a` is in the union `u` (false when unsure). */
function within(a: Part, u: Part[]): boolean {
  if (a === 'unknown') return false;
  if ('cat' in a) return GENERAL.test(a.cat) && u.some((p) => p !== 'unknown' && 'cat' in p && a.cat.startsWith(p.cat));
  if (a.hi - a.lo >= TESTABLE || tests > TEST_BUDGET) return false;
  for (let x = a.lo; x <= a.hi; x++) if (!u.some((p) => p !== 'unknown' && member(x, p))) return false;
  return true;
}

/** Whether two sets may share a character (true when unsure). */
function meet(a: CharSet, b: CharSet): boolean {
  if (a.parts.includes('unknown') || b.parts.includes('unknown')) return true;
  if (!a.neg && !b.neg) return a.parts.some((p) => b.parts.some((q) => partsMeet(p, q)));
  if (a.neg && b.neg) return true;
  const [pos, neg] = a.neg ? [b, a] : [a, b];
  return !pos.parts.every((p) => within(p, neg.parts));
}

/** The set under case-insensitive matching: small literal sets get both cases, others are unknown. */
function caseless(s: CharSet): CharSet {
  if (s.neg || !s.parts.every((p) => p !== 'unknown' && 'lo' in p && p.hi - p.lo < TESTABLE)) return UNKNOWN;
  const out: Part[] = [...s.parts];
  for (const p of s.parts as { lo: number; hi: number }[])
    for (let x = p.lo; x <= p.hi; x++) {
      const ch = String.fromCodePoint(x);
      for (const v of [ch.toLowerCase(), ch.toUpperCase()]) if ([...v].length === 1) out.push(cp(v.codePointAt(0)!));
    }
  return { neg: false, parts: out };
}

// ---- parsing -----------------------------------------------------------------

type Node =
  | { k: 'char'; set: CharSet }
  /** An anchor, a word boundary or a lookaround (`inner`): consumes nothing, may fail. */
  | { k: 'assert'; inner?: Node }
  | { k: 'seq'; items: Node[] }
  | { k: 'alt'; alts: Node[] }
  | { k: 'rep'; body: Node; min: number; max: number };

class Refused extends Error {}
const refuse = (msg: string): never => {
  throw new Refused(msg);
};

/** A recursive-descent parser for the Oniguruma / JavaScript syntax the
 * tokenizer files use; anything else is refused by name. */
class Parser {
  private i = 0;
  private depth = 0;
  private readonly chars: string[];

  constructor(source: string) {
    this.chars = [...source];
  }

  parse(): Node {
    const n = this.alternation(false);
    if (this.i < this.chars.length) refuse(`an unmatched ")" at character ${this.i}`);
    return n;
  }

  private peek(k = 0): string | undefined {
    return this.chars[this.i + k];
  }

  private eat(s: string): boolean {
    const t = [...s];
    if (t.every((c, k) => this.chars[this.i + k] === c)) {
      this.i += t.length;
      return true;
    }
    return false;
  }

  private alternation(ci: boolean): Node {
    if (++this.depth > REGEX_LIMITS.maxDepth) refuse(`groups nested more than ${REGEX_LIMITS.maxDepth} deep`);
    const alts: Node[] = [];
    let caseless = ci;
    for (;;) {
      const items: Node[] = [];
      while (this.i < this.chars.length && this.peek() !== '|' && this.peek() !== ')') {
        // an inline flag group, (?i) or (?-i): case-insensitive from here to the end of the group
        const flags = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?\)/.exec(this.chars.slice(this.i, this.i + 16).join(''));
        if (flags) {
          this.i += [...flags[0]].length;
          if (flags[1].includes('i')) caseless = true;
          if (flags[2]?.includes('i')) caseless = false;
          continue;
        }
        items.push(this.quantified(caseless));
      }
      alts.push(items.length === 1 ? items[0] : { k: 'seq', items });
      if (!this.eat('|')) break;
    }
    this.depth--;
    return alts.length === 1 ? alts[0] : { k: 'alt', alts };
  }

  private quantified(ci: boolean): Node {
    let node = this.atom(ci);
    for (;;) {
      const c = this.peek();
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{(\d*)(,?)(\d*)\}/.exec(this.chars.slice(this.i, this.i + 24).join(''));
        if (!m || (m[1] === '' && m[3] === '')) return node; // a literal "{"
        min = m[1] === '' ? 0 : Number(m[1]);
        max = m[2] === '' ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (max < min) refuse(`the repeat ${m[0]} has its bounds reversed`);
        this.i += m[0].length - 1;
      } else return node;
      this.i++;
      if (this.peek() === '?' || this.peek() === '+') this.i++; // lazy or possessive: the same bound
      node = { k: 'rep', body: node, min, max };
    }
  }

  private atom(ci: boolean): Node {
    const c = this.chars[this.i++];
    const ch = (set: CharSet): Node => ({ k: 'char', set: ci ? caseless(set) : set });
    switch (c) {
      case '(':
        return this.group(ci);
      case '[':
        return ch(this.charClass());
      case '.':
        return ch(DOT);
      case '^':
      case '$':
        return { k: 'assert' };
      case '\\':
        return this.escape(ci, false) ?? { k: 'assert' };
      case '*':
      case '+':
      case '?':
        return refuse(`"${c}" at character ${this.i - 1} repeats nothing`);
      default:
        return ch({ neg: false, parts: [cp(c.codePointAt(0)!)] });
    }
  }

  private group(ci: boolean): Node {
    let node: Node;
    if (this.eat('?')) {
      if (this.eat('#')) {
        while (this.i < this.chars.length && this.peek() !== ')') this.i++;
        node = { k: 'seq', items: [] };
      } else if (this.eat(':') || this.eat('>')) node = this.alternation(ci);
      else if (this.eat('=') || this.eat('!') || this.eat('<=') || this.eat('<!')) node = { k: 'assert', inner: this.alternation(ci) };
      else if (this.eat('<') || this.eat('P<')) {
        while (this.i < this.chars.length && /\w/.test(this.peek()!)) this.i++;
        if (!this.eat('>')) refuse('a group name is not closed by ">"');
        node = this.alternation(ci);
      } else {
        const m = /^([a-zA-Z]*)(?:-([a-zA-Z]*))?:/.exec(this.chars.slice(this.i, this.i + 16).join(''));
        if (!m) return refuse(`the group "(?${this.chars.slice(this.i, this.i + 3).join('')}" is not supported`);
        this.i += m[0].length;
        node = this.alternation(m[1].includes('i') ? true : m[2]?.includes('i') ? false : ci);
      }
    } else node = this.alternation(ci);
    if (!this.eat(')')) refuse('a group is not closed by ")"');
    return node;
  }

  /** An escape: a character set, an assertion (undefined), or a refusal. */
  private escape(ci: boolean, inClass: boolean): Node | undefined {
    const e = this.chars[this.i++];
    if (e === undefined) return refuse('the pattern ends with a lone "\\"');
    const set = (s: CharSet): Node => ({ k: 'char', set: ci ? caseless(s) : s });
    const lit = (c: number): Node => set({ neg: false, parts: [cp(c)] });
    switch (e) {
      case 'd':
      case 'D':
        return set({ neg: e === 'D', parts: DIGIT });
      case 's':
      case 'S':
        return set({ neg: e === 'S', parts: SPACE });
      case 'w':
      case 'W':
      case 'h':
      case 'H':
        return set(UNKNOWN);
      case 'p':
      case 'P': {
        let name: string;
        if (this.eat('{')) {
          const end = this.chars.indexOf('}', this.i);
          if (end < 0) return refuse('a "\\p{" is not closed by "}"');
          name = this.chars.slice(this.i, end).join('');
          this.i = end + 1;
        } else name = this.chars[this.i++] ?? '';
        if (name.startsWith('^')) return set(UNKNOWN); // Oniguruma's negated property
        const part: Part = propRegex(name) ? { cat: name } : 'unknown';
        return set(part === 'unknown' ? UNKNOWN : { neg: e === 'P', parts: [part] });
      }
      case 'b':
        return inClass ? lit(8) : undefined;
      case 'B':
      case 'A':
      case 'z':
      case 'Z':
      case 'G':
        return inClass ? lit(e.codePointAt(0)!) : undefined;
      case 'n':
        return lit(10);
      case 'r':
        return lit(13);
      case 't':
        return lit(9);
      case 'f':
        return lit(12);
      case 'v':
        return lit(11);
      case 'a':
        return lit(7);
      case 'e':
        return lit(27);
      case '0':
        return lit(0);
      case 'c': {
        const x = this.chars[this.i++];
        return x === undefined ? refuse('"\\c" without a letter') : lit(x.codePointAt(0)! % 32);
      }
      case 'x':
      case 'u': {
        const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(this.chars.slice(this.i, this.i + 9).join(''));
        if (braced) {
          this.i += braced[0].length;
          return lit(parseInt(braced[1], 16));
        }
        const n = e === 'x' ? 2 : 4;
        const hex = this.chars.slice(this.i, this.i + n).join('');
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return refuse(`"\\${e}" is not followed by ${n} hex digits`);
        this.i += n;
        return lit(parseInt(hex, 16));
      }
      case 'k':
      case 'g':
        return refuse(`"\\${e}" (a back-reference or subroutine call) is not supported`);
      default:
        if (/[1-9]/.test(e)) return refuse(`the back-reference "\\${e}" is not supported`);
        if (/[a-zA-Z]/.test(e)) return refuse(`the escape "\\${e}" is not supported`);
        return lit(e.codePointAt(0)!);
    }
  }

  /** `[...]` after its "[": the set it matches. */
  private charClass(): CharSet {
    if (++this.depth > REGEX_LIMITS.maxDepth) refuse(`classes nested more than ${REGEX_LIMITS.maxDepth} deep`);
    const neg = this.eat('^');
    // Oniguruma reads "[]..." as a class holding "]", JavaScript as an empty
    // class: the two would parse the rest of the pattern differently
    if (this.peek() === ']') refuse('a class that starts with "]" ("[]" or "[^]") reads differently in Oniguruma and JavaScript');
    const parts: Part[] = [];
    let unknown = false;
    for (;;) {
      const c = this.chars[this.i];
      if (c === undefined) return refuse('a "[" class is not closed by "]"');
      if (c === ']') break;
      // nested classes, intersections and POSIX brackets are Oniguruma's
      // only: where the library reads them otherwise, so would the bound
      if (c === '[') refuse('a class inside a class ("[...[...]...]", "[[:alpha:]]") is not supported');
      if (this.eat('&&')) refuse('a class intersection ("&&") is not supported');
      {
        const lo = this.classAtom();
        if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
          this.i++;
          const hi = this.classAtom();
          if (typeof lo !== 'number' || typeof hi !== 'number') unknown = true;
          else if (hi < lo) return refuse(`the class range ends before it starts (${lo} > ${hi})`);
          else parts.push({ lo, hi });
        } else if (typeof lo === 'number') parts.push(cp(lo));
        else if (lo.neg) unknown = true;
        else parts.push(...lo.parts);
      }
    }
    this.i++; // "]"
    this.depth--;
    return unknown ? UNKNOWN : { neg, parts };
  }

  /** One member of a class: a code point or a set (\s, \p{L}, ...). */
  private classAtom(): number | CharSet {
    const c = this.chars[this.i++];
    if (c !== '\\') return c.codePointAt(0)!;
    const n = this.escape(false, true)!;
    if (n.k !== 'char') return UNKNOWN;
    const p = n.set.parts;
    return !n.set.neg && p.length === 1 && p[0] !== 'unknown' && 'lo' in p[0] && p[0].lo === p[0].hi ? p[0].lo : n.set;
  }
}

// ---- the bound -----------------------------------------------------------------

interface Cost {
  /** Bounded choices: the ways one attempt may go (capped). */
  ways: number;
  /** Degree of the unbounded work per attempt: n^deg steps. */
  deg: number;
  /** Every character the node may consume. */
  set: CharSet;
  /** It may match the empty string... */
  nullable: boolean;
  /** ...and always does when nothing else fits (it cannot fail). */
  neverFails: boolean;
  /** One character (or fixed string) repeated without bound: the end of a chain. */
  loop: boolean;
}

const CAP = 1e9;
const capped = (x: number): number => Math.min(x, CAP);

/** Whether a node matches exactly one fixed string: no choice inside. */
const fixed = (c: Cost): boolean => c.ways === 1 && c.deg === 0 && !c.nullable;

function cost(n: Node, top = false): Cost {
  switch (n.k) {
    case 'char':
      return { ways: 1, deg: 0, set: n.set, nullable: false, neverFails: false, loop: false };
    case 'assert': {
      if (n.inner) {
        // a lookaround runs to its first match and keeps no choice, as a pattern of its own
        const inner = cost(n.inner, true);
        if (inner.deg > 0) refuse('a lookaround holds an unbounded repeat');
        return { ways: inner.ways, deg: 0, set: EMPTY, nullable: true, neverFails: false, loop: false };
      }
      return { ways: 1, deg: 0, set: EMPTY, nullable: true, neverFails: false, loop: false };
    }
    case 'rep': {
      const b = cost(n.body);
      if (n.max === 0) return { ways: 1, deg: 0, set: EMPTY, nullable: true, neverFails: true, loop: false };
      const empty = n.min === 0;
      if (fixed(b)) {
        const small = n.max <= REGEX_LIMITS.smallRepeat;
        return {
          ways: small ? n.max - n.min + 1 : 1,
          deg: small ? 0 : 1,
          set: b.set,
          nullable: empty,
          neverFails: empty,
          loop: !small,
        };
      }
      if (n.max === 1) return { ...b, ways: capped(b.ways + 1), nullable: true, neverFails: true, loop: false };
      return refuse('a repeated group can match the same text in more than one way (a repeat or a choice inside a repeat)');
    }
    case 'alt': {
      const cs = n.alts.map((a) => cost(a, top));
      return {
        ways: capped(cs.reduce((s, c) => s + c.ways, 0)),
        deg: Math.max(...cs.map((c) => c.deg)),
        set: union(cs.map((c) => c.set)),
        nullable: cs.some((c) => c.nullable),
        neverFails: cs.some((c) => c.neverFails),
        loop: false,
      };
    }
    case 'seq': {
      const cs = n.items.map((x) => cost(x));
      // the longest chain of unbounded items whose characters may overlap: the
      // text between them can be split in n^(chain) ways
      const best: number[] = [];
      let deg = 0;
      cs.forEach((c, i) => {
        best[i] = 0;
        if (c.deg === 0) return;
        let before = 0;
        for (let j = 0; j < i; j++) if (cs[j].deg > 0 && meet(cs[j].set, c.set)) before = Math.max(before, best[j]);
        best[i] = before + c.deg;
        // at the end of the pattern (nothing after it can fail) a final loop
        // succeeds on the first split tried
        const last = top && c.loop && cs.slice(i + 1).every((x) => x.neverFails);
        deg = Math.max(deg, best[i] - (last ? 1 : 0));
      });
      return {
        ways: capped(cs.reduce((p, c) => p * c.ways, 1)),
        deg,
        set: union(cs.map((c) => c.set)),
        nullable: cs.every((c) => c.nullable),
        neverFails: cs.every((c) => c.neverFails),
        loop: cs.length === 1 && cs[0].loop,
      };
    }
  }
}

/** Why `source` could take more than linear work per match attempt, or
 * undefined when its structure bounds the work (see the top of this file). */
export function regexHazard(source: string): string | undefined {
  tests = 0;
  if (source.length > REGEX_LIMITS.maxLength) return `it is longer than ${REGEX_LIMITS.maxLength} characters`;
  try {
    const c = cost(new Parser(source).parse(), true);
    if (c.deg > 1)
      return `repeats whose characters overlap follow one another (${c.deg} deep): its work grows as n^${c.deg + 1} on n characters`;
    if (c.ways > REGEX_LIMITS.maxWays) return `its optional parts and alternatives combine in more than ${REGEX_LIMITS.maxWays} ways`;
    return undefined;
  } catch (e) {
    if (e instanceof Refused) return e.message;
    throw e;
  }
}
