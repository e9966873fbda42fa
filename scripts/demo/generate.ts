// The built-in demo dataset: arithmetic word problems, each with four teacher
// rationales that reach the answer by different routes and in different
// styles. Two levels: "easy" (the default: one or two additions or
// subtractions on operands up to `max`, which a from-scratch `tiny` student
// learns in minutes, docs/demo.md) and "hard" (multi-step problems, two or
// three operations). Pure and deterministic: the same options always give
// the same records (and byte-identical JSON Lines). scripts/gen-demo.ts writes
// them to public/demo; test/unit/demo-gen.test.ts calls generateDemo directly.
//
// What curation gets to chew on:
// - about one rationale in twelve is wrong: one arithmetic step slips (the
//   equation shown is false, later steps carry the wrong value) and its
//   closing sentence states a wrong answer, for the correctness filter;
// - a few questions carry a near-copy of another rationale (same steps, a
//   word or two changed; on the hard level the closing sentence too), for
//   the diversity filter.
//
// Texts stay short and the vocabulary small: a tiny student (256 positions,
// 512-token byte-level BPE) trains on "Q: question\nA: rationale".

import { Rng } from '../../src/shared/rng';

export interface DemoTrainRecord {
  id: string;
  question: string;
  rationales: string[];
  answer: string;
}

export interface DemoTestRecord {
  id: string;
  question: string;
  answer: string;
}

export type DemoLevel = 'easy' | 'hard';

export interface DemoOptions {
  seed: number;
  /** Training questions (four rationales each). */
  train: number;
  /** Held-out questions (gold answers only). */
  test: number;
  /** "easy" (default): one or two additions/subtractions on operands up to
   * `max`; "hard": the multi-step word problems (two or three operations). */
  level: DemoLevel;
  /** Largest operand of the easy level (ignored by "hard"). */
  max: number;
}

export const DEMO_DEFAULTS: DemoOptions = { seed: 1234, train: 3000, test: 200, level: 'easy', max: 9 };

/** Share of questions that get one wrong rationale (4 each, so ~1 in 12). */
export const WRONG_QUESTION_RATE = 1 / 3;
/** Share of questions where one rationale is a near-copy of another. */
export const NEAR_DUP_RATE = 0.08;
export const RATIONALES_PER_QUESTION = 4;
/** Hard limits the generator enforces on every text. */
export const MAX_RATIONALE_CHARS = 250;
export const MAX_PROMPT_PLUS_RATIONALE_CHARS = 400;

// ---------------------------------------------------------------------------
// Arithmetic with an optional slip

type Op = '+' | '-' | '*' | '/';

interface Val {
  /** The value (after a slip, the wrong one). */
  v: number;
  /** The equation as shown: "3 * 4 = 12". */
  eq: string;
}

class BadSlip extends Error {}

/** Does the arithmetic of one rationale. With slipAt >= 0 the slipAt-th
 * operation is off by delta, and everything after it uses the wrong value. */
class Calc {
  private n = 0;
  constructor(
    private readonly slipAt = -1,
    private readonly delta = 0,
  ) {}

  get ops(): number {
    return this.n;
  }

  op(a: number | Val, o: Op, b: number | Val): Val {
    const x = typeof a === 'number' ? a : a.v;
    const y = typeof b === 'number' ? b : b.v;
    let v = o === '+' ? x + y : o === '-' ? x - y : o === '*' ? x * y : x / y;
    if (this.n++ === this.slipAt) v += this.delta;
    if (!Number.isInteger(v) || v < 0) throw new BadSlip();
    return { v, eq: `${x} ${o} ${y} = ${v}` };
  }
}

// ---------------------------------------------------------------------------
// Names, objects, helpers

interface Person {
  name: string;
  he: string; // subject pronoun
  his: string; // possessive
}

const PEOPLE: Person[] = [
  ['Tom', 'he', 'his'],
  ['Mia', 'she', 'her'],
  ['Sam', 'he', 'his'],
  ['Ana', 'she', 'her'],
  ['Leo', 'he', 'his'],
  ['Zoe', 'she', 'her'],
  ['Ben', 'he', 'his'],
  ['Lily', 'she', 'her'],
  ['Max', 'he', 'his'],
  ['Emma', 'she', 'her'],
  ['Jack', 'he', 'his'],
  ['Nora', 'she', 'her'],
].map(([name, he, his]) => ({ name, he, his }));

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const pick = <T>(rng: Rng, a: readonly T[]): T => a[rng.int(a.length)];
/** Uniform integer in [lo, hi]. */
const between = (rng: Rng, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);
function twoPeople(rng: Rng): [Person, Person] {
  const a = pick(rng, PEOPLE);
  let b = pick(rng, PEOPLE);
  while (b === a) b = pick(rng, PEOPLE);
  return [a, b];
}

// ---------------------------------------------------------------------------
// Problem shapes. Each has a parameter draw, the question, the true answer, a
// short sentence stating a result ("He has 11 apples now."), and four styles:
//   0 terse equations, 1 narrative with inline equations,
//   2 "First/Then/Finally" taking another order or intermediate,
//   3 plain words, no symbols.
// A style returns the body and the value it ends on.

/** One problem's draw: people, an object and a context index (what they
 * mean depends on the shape), and up to four numbers (unused ones are 0). */
interface Params {
  p: Person;
  q: Person;
  obj: number;
  ctx: number;
  a: number;
  b: number;
  c: number;
  d: number;
}

interface Shape {
  name: string;
  draw(rng: Rng): Params;
  question(x: Params): string;
  answer(x: Params): number;
  phrase(x: Params, n: number): string;
  styles: Array<(x: Params, c: Calc) => { body: string; result: number }>;
}

const ITEMS = ['apples', 'cookies', 'pencils', 'marbles', 'stickers', 'cards', 'shells', 'eggs'];
const PACKS = ['bags', 'boxes', 'packs'];

const buyBags: Shape = {
  // a + b*c - d
  name: 'buy-bags',
  draw(rng) {
    const b = between(rng, 2, 5);
    const c = between(rng, 2, 8);
    const a = between(rng, 2, 15);
    const d = between(rng, 1, Math.min(12, b * c - 1));
    return { p: pick(rng, PEOPLE), q: PEOPLE[0], obj: rng.int(ITEMS.length), ctx: rng.int(PACKS.length), a, b, c, d };
  },
  question: ({ p, obj, ctx, a, b, c, d }) =>
    `${p.name} has ${a} ${ITEMS[obj]}. ${cap(p.he)} buys ${b} ${PACKS[ctx]} with ${c} ${ITEMS[obj]} each. ${cap(p.he)} gives away ${d}. How many ${ITEMS[obj]} does ${p.he} have now?`,
  answer: ({ a, b, c, d }) => a + b * c - d,
  phrase: ({ p, obj }, n) => `${cap(p.he)} has ${n} ${ITEMS[obj]} now.`,
  styles: [
    ({ a, b, c, d }, k) => {
      const m = k.op(b, '*', c);
      const s = k.op(a, '+', m);
      const r = k.op(s, '-', d);
      return { body: `Bought: ${m.eq}. Total: ${s.eq}. Left: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, ctx, a, b, c, d }, k) => {
      const m = k.op(b, '*', c);
      const s = k.op(a, '+', m);
      const r = k.op(s, '-', d);
      return {
        body: `${p.name} starts with ${a} ${ITEMS[obj]}. The ${b} ${PACKS[ctx]} hold ${m.eq}, so ${p.he} has ${s.eq}. Giving away ${d} leaves ${r.eq}.`,
        result: r.v,
      };
    },
    ({ obj, a, b, c, d }, k) => {
      const m = k.op(b, '*', c);
      const g = k.op(m, '-', d);
      const r = k.op(a, '+', g);
      return {
        body: `First, the new ${ITEMS[obj]}: ${m.eq}. Then take off the ${d} given away: ${g.eq} kept. Finally, ${r.eq}.`,
        result: r.v,
      };
    },
    ({ obj, ctx, a, b, c, d }, k) => {
      const m = k.op(b, '*', c);
      const s = k.op(a, '+', m);
      const r = k.op(s, '-', d);
      return {
        body: `${b} ${PACKS[ctx]} of ${c} ${ITEMS[obj]} make ${m.v} ${ITEMS[obj]}. ${a} and ${m.v} make ${s.v}. Taking away ${d} leaves ${r.v}.`,
        result: r.v,
      };
    },
  ],
};

const SHOP_ITEMS = ['pens', 'cups', 'balls', 'hats', 'notebooks'];
const SHOP_EXTRA = ['book', 'game', 'lamp', 'bag'];

const shop: Shape = {
  // a - b*c - d
  name: 'shop',
  draw(rng) {
    const b = between(rng, 2, 5);
    const c = between(rng, 2, 6);
    const d = between(rng, 2, 9);
    const a = b * c + d + between(rng, 1, 15);
    return { p: pick(rng, PEOPLE), q: PEOPLE[0], obj: rng.int(SHOP_ITEMS.length), ctx: rng.int(SHOP_EXTRA.length), a, b, c, d };
  },
  question: ({ p, obj, ctx, a, b, c, d }) =>
    `${p.name} has $${a}. ${cap(p.he)} buys ${b} ${SHOP_ITEMS[obj]} for $${c} each and a ${SHOP_EXTRA[ctx]} for $${d}. How much money does ${p.he} have left?`,
  answer: ({ a, b, c, d }) => a - b * c - d,
  phrase: ({ p }, n) => `${cap(p.he)} has $${n} left.`,
  styles: [
    ({ obj, a, b, c, d }, k) => {
      const m = k.op(b, '*', c);
      const s = k.op(m, '+', d);
      const r = k.op(a, '-', s);
      return { body: `Cost of the ${SHOP_ITEMS[obj]}: ${m.eq}. Spent: ${s.eq}. Left: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, ctx, a, b, c, d }, k) => {
      const m = k.op(b, '*', c);
      const s = k.op(a, '-', m);
      const r = k.op(s, '-', d);
      return {
        body: `${p.name} pays ${m.eq} for the ${SHOP_ITEMS[obj]}. That leaves ${s.eq}. The ${SHOP_EXTRA[ctx]} costs $${d}, so ${p.he} has ${r.eq} left.`,
        result: r.v,
      };
    },
    ({ ctx, a, b, c, d }, k) => {
      const s = k.op(a, '-', d);
      const m = k.op(b, '*', c);
      const r = k.op(s, '-', m);
      return { body: `First, pay for the ${SHOP_EXTRA[ctx]}: ${s.eq}. Then the rest cost ${m.eq}. Finally, ${r.eq}.`, result: r.v };
    },
    ({ obj, ctx, a, b, c, d }, k) => {
      const m = k.op(b, '*', c);
      const s = k.op(m, '+', d);
      const r = k.op(a, '-', s);
      return {
        body: `${b} ${SHOP_ITEMS[obj]} at ${c} dollars each cost ${m.v} dollars. With the ${SHOP_EXTRA[ctx]}, that is ${m.v} plus ${d}, or ${s.v} dollars. ${a} minus ${s.v} leaves ${r.v}.`,
        result: r.v,
      };
    },
  ],
};

const share: Shape = {
  // (a + b) / c
  name: 'share',
  draw(rng) {
    const c = between(rng, 2, 6);
    const t = c * between(rng, 2, 9);
    const b = between(rng, 1, t - 2);
    return { p: pick(rng, PEOPLE), q: PEOPLE[0], obj: rng.int(ITEMS.length), ctx: 0, a: t - b, b, c, d: 0 };
  },
  question: ({ p, obj, a, b, c }) =>
    `${p.name} has ${a} ${ITEMS[obj]} and gets ${b} more. ${cap(p.he)} shares them equally among ${c} friends. How many ${ITEMS[obj]} does each friend get?`,
  answer: ({ a, b, c }) => (a + b) / c,
  phrase: ({ obj }, n) => `Each friend gets ${n} ${ITEMS[obj]}.`,
  styles: [
    ({ a, b, c }, k) => {
      const s = k.op(a, '+', b);
      const r = k.op(s, '/', c);
      return { body: `Total: ${s.eq}. Each: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, a, b, c }, k) => {
      const s = k.op(a, '+', b);
      const r = k.op(s, '/', c);
      return { body: `${p.name} ends up with ${s.eq} ${ITEMS[obj]}. Split among ${c} friends, each one gets ${r.eq}.`, result: r.v };
    },
    ({ a, b, c }, k) => {
      const s = k.op(b, '+', a);
      const r = k.op(s, '/', c);
      return { body: `First, count them all: ${s.eq}. Then share them out to ${c} friends. Finally, ${r.eq} each.`, result: r.v };
    },
    ({ obj, a, b, c }, k) => {
      const s = k.op(a, '+', b);
      const r = k.op(s, '/', c);
      return {
        body: `${a} ${ITEMS[obj]} and ${b} more make ${s.v}. ${s.v} split into ${c} equal parts is ${r.v} in each part.`,
        result: r.v,
      };
    },
  ],
};

const WORK: Array<[string, string, string]> = [
  // verb (3rd person), verb (plain), object
  ['bakes', 'bake', 'cakes'],
  ['paints', 'paint', 'cards'],
  ['makes', 'make', 'toys'],
  ['picks', 'pick', 'apples'],
  ['reads', 'read', 'pages'],
  ['folds', 'fold', 'shirts'],
];
const DAYS: Array<[string, string]> = [
  ['Monday', 'Tuesday'],
  ['Saturday', 'Sunday'],
  ['Friday', 'Saturday'],
];

const rateDays: Shape = {
  // a * (b + c)
  name: 'rate-days',
  draw(rng) {
    return {
      p: pick(rng, PEOPLE),
      q: PEOPLE[0],
      obj: rng.int(WORK.length),
      ctx: rng.int(DAYS.length),
      a: between(rng, 2, 9),
      b: between(rng, 2, 6),
      c: between(rng, 2, 6),
      d: 0,
    };
  },
  question: ({ p, obj, ctx, a, b, c }) =>
    `${p.name} ${WORK[obj][0]} ${a} ${WORK[obj][2]} each hour. ${cap(p.he)} works ${b} hours on ${DAYS[ctx][0]} and ${c} hours on ${DAYS[ctx][1]}. How many ${WORK[obj][2]} does ${p.he} ${WORK[obj][1]} in all?`,
  answer: ({ a, b, c }) => a * (b + c),
  phrase: ({ p, obj }, n) => `${cap(p.he)} ${WORK[obj][0]} ${n} ${WORK[obj][2]} in all.`,
  styles: [
    ({ ctx, a, b, c }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(a, '*', c);
      const r = k.op(x, '+', y);
      return { body: `${DAYS[ctx][0]}: ${x.eq}. ${DAYS[ctx][1]}: ${y.eq}. Total: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, a, b, c }, k) => {
      const h = k.op(b, '+', c);
      const r = k.op(a, '*', h);
      return {
        body: `${p.name} works ${h.eq} hours in all. At ${a} ${WORK[obj][2]} an hour, that is ${r.eq} ${WORK[obj][2]}.`,
        result: r.v,
      };
    },
    ({ a, b, c }, k) => {
      const h = k.op(b, '+', c);
      const r = k.op(h, '*', a);
      return { body: `First, find the total hours: ${h.eq}. Then multiply by the ${a} made each hour. Finally, ${r.eq}.`, result: r.v };
    },
    ({ obj, a, b, c }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(a, '*', c);
      const r = k.op(x, '+', y);
      const w = WORK[obj][2];
      return {
        body: `${a} ${w} an hour for ${b} hours is ${x.v} ${w}, and for ${c} hours is ${y.v} ${w}. Together that makes ${r.v} ${w}.`,
        result: r.v,
      };
    },
  ],
};

const compare: Shape = {
  // a*b - c*d, p reads more than q
  name: 'compare',
  draw(rng) {
    const [p, q] = twoPeople(rng);
    for (;;) {
      const a = between(rng, 3, 9);
      const b = between(rng, 2, 7);
      const c = between(rng, 2, 8);
      const d = between(rng, 2, 6);
      if (a * b > c * d) return { p, q, obj: rng.int(WORK.length), ctx: 0, a, b, c, d };
    }
  },
  question: ({ p, q, obj, a, b, c, d }) =>
    `${p.name} ${WORK[obj][0]} ${a} ${WORK[obj][2]} a day for ${b} days. ${q.name} ${WORK[obj][0]} ${c} ${WORK[obj][2]} a day for ${d} days. How many more ${WORK[obj][2]} does ${p.name} ${WORK[obj][1]} than ${q.name}?`,
  answer: ({ a, b, c, d }) => a * b - c * d,
  phrase: ({ p, obj }, n) => `${p.name} ${WORK[obj][0]} ${n} more ${WORK[obj][2]}.`,
  styles: [
    ({ p, q, a, b, c, d }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(c, '*', d);
      const r = k.op(x, '-', y);
      return { body: `${p.name}: ${x.eq}. ${q.name}: ${y.eq}. Difference: ${r.eq}.`, result: r.v };
    },
    ({ p, q, obj, a, b, c, d }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(c, '*', d);
      const r = k.op(x, '-', y);
      const w = WORK[obj][2];
      return {
        body: `${p.name} ${WORK[obj][0]} ${x.eq} ${w} and ${q.name} ${WORK[obj][0]} ${y.eq} ${w}. So ${p.name} ${WORK[obj][0]} ${r.eq} more.`,
        result: r.v,
      };
    },
    ({ p, q, a, b, c, d }, k) => {
      const y = k.op(d, '*', c);
      const x = k.op(b, '*', a);
      const r = k.op(x, '-', y);
      return { body: `First, ${q.name}'s total: ${y.eq}. Then ${p.name}'s total: ${x.eq}. Finally, the gap is ${r.eq}.`, result: r.v };
    },
    ({ p, q, obj, a, b, c, d }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(c, '*', d);
      const r = k.op(x, '-', y);
      const w = WORK[obj][2];
      return {
        body: `${b} days of ${a} ${w} is ${x.v} ${w} for ${p.name}. ${d} days of ${c} is ${y.v} for ${q.name}. ${x.v} take away ${y.v} is ${r.v}.`,
        result: r.v,
      };
    },
  ],
};

const LOST = ['marbles', 'coins', 'shells', 'beads', 'stamps'];
const TIMES = ['', '', 'twice', 'three times'];

const lostFound: Shape = {
  // a - b + c*b
  name: 'lost-found',
  draw(rng) {
    const b = between(rng, 2, 8);
    return {
      p: pick(rng, PEOPLE),
      q: PEOPLE[0],
      obj: rng.int(LOST.length),
      ctx: 0,
      a: b + between(rng, 1, 14),
      b,
      c: between(rng, 2, 3),
      d: 0,
    };
  },
  question: ({ p, obj, a, b, c }) =>
    `${p.name} has ${a} ${LOST[obj]}. ${cap(p.he)} loses ${b} of them. Then ${p.he} finds ${TIMES[c]} as many as ${p.he} lost. How many ${LOST[obj]} does ${p.he} have now?`,
  answer: ({ a, b, c }) => a - b + c * b,
  phrase: ({ p, obj }, n) => `${cap(p.he)} has ${n} ${LOST[obj]} now.`,
  styles: [
    ({ a, b, c }, k) => {
      const s = k.op(a, '-', b);
      const f = k.op(c, '*', b);
      const r = k.op(s, '+', f);
      return { body: `After the loss: ${s.eq}. Found: ${f.eq}. Now: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, a, b, c }, k) => {
      const f = k.op(c, '*', b);
      const s = k.op(a, '-', b);
      const r = k.op(s, '+', f);
      return {
        body: `${p.name} finds ${f.eq} ${LOST[obj]}. ${cap(p.he)} had ${s.eq} left after losing some, so now ${p.he} has ${r.eq}.`,
        result: r.v,
      };
    },
    ({ a, b, c }, k) => {
      const f = k.op(c, '*', b);
      const g = k.op(f, '-', b);
      const r = k.op(a, '+', g);
      return { body: `First, the find: ${f.eq}. Then the net gain is ${g.eq}. Finally, ${r.eq}.`, result: r.v };
    },
    ({ obj, a, b, c }, k) => {
      const s = k.op(a, '-', b);
      const f = k.op(c, '*', b);
      const r = k.op(s, '+', f);
      return {
        body: `Losing ${b} of ${a} ${LOST[obj]} leaves ${s.v}. ${TIMES[c] === 'twice' ? 'Twice' : 'Three times'} ${b} is ${f.v}. ${s.v} and ${f.v} make ${r.v}.`,
        result: r.v,
      };
    },
  ],
};

const SPEND = ['game', 'book', 'ball', 'kite', 'toy'];

const savings: Shape = {
  // a*b - c - d
  name: 'savings',
  draw(rng) {
    for (;;) {
      const a = between(rng, 2, 9);
      const b = between(rng, 2, 8);
      const c = between(rng, 2, 12);
      const d = between(rng, 2, 9);
      const i = rng.int(SPEND.length);
      let j = rng.int(SPEND.length - 1);
      if (j >= i) j++;
      if (a * b > c + d) return { p: pick(rng, PEOPLE), q: PEOPLE[0], obj: i, ctx: j, a, b, c, d };
    }
  },
  question: ({ p, obj, ctx, a, b, c, d }) =>
    `${p.name} saves $${a} each week for ${b} weeks. Then ${p.he} spends $${c} on a ${SPEND[obj]} and $${d} on a ${SPEND[ctx]}. How much money does ${p.he} have left?`,
  answer: ({ a, b, c, d }) => a * b - c - d,
  phrase: ({ p }, n) => `${cap(p.he)} has $${n} left.`,
  styles: [
    ({ a, b, c, d }, k) => {
      const s = k.op(a, '*', b);
      const t = k.op(c, '+', d);
      const r = k.op(s, '-', t);
      return { body: `Saved: ${s.eq}. Spent: ${t.eq}. Left: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, ctx, a, b, c, d }, k) => {
      const s = k.op(a, '*', b);
      const x = k.op(s, '-', c);
      const r = k.op(x, '-', d);
      return {
        body: `${p.name} saves ${s.eq} dollars. After the ${SPEND[obj]} ${p.he} has ${x.eq}, and after the ${SPEND[ctx]} ${r.eq}.`,
        result: r.v,
      };
    },
    ({ ctx, a, b, c, d }, k) => {
      const s = k.op(b, '*', a);
      const x = k.op(s, '-', d);
      const r = k.op(x, '-', c);
      return {
        body: `First, the savings: ${s.eq}. Then pay for the ${SPEND[ctx]}: ${x.eq}. Finally, the other one: ${r.eq}.`,
        result: r.v,
      };
    },
    ({ a, b, c, d }, k) => {
      const s = k.op(a, '*', b);
      const t = k.op(c, '+', d);
      const r = k.op(s, '-', t);
      return {
        body: `${b} weeks of ${a} dollars is ${s.v} dollars. The two things cost ${c} plus ${d}, which is ${t.v}. ${s.v} minus ${t.v} leaves ${r.v}.`,
        result: r.v,
      };
    },
  ],
};

const COLORS: Array<[string, string]> = [
  ['red', 'blue'],
  ['green', 'yellow'],
  ['big', 'small'],
];
const BOXED = ['pens', 'crayons', 'balls', 'cups', 'books'];

const twoGroups: Shape = {
  // a*b + c*d
  name: 'two-groups',
  draw(rng) {
    return {
      p: pick(rng, PEOPLE),
      q: PEOPLE[0],
      obj: rng.int(BOXED.length),
      ctx: rng.int(COLORS.length),
      a: between(rng, 2, 6),
      b: between(rng, 2, 9),
      c: between(rng, 2, 6),
      d: between(rng, 2, 9),
    };
  },
  question: ({ p, obj, ctx, a, b, c, d }) =>
    `${p.name} has ${a} boxes of ${COLORS[ctx][0]} ${BOXED[obj]} with ${b} in each and ${c} boxes of ${COLORS[ctx][1]} ${BOXED[obj]} with ${d} in each. How many ${BOXED[obj]} does ${p.he} have in all?`,
  answer: ({ a, b, c, d }) => a * b + c * d,
  phrase: ({ p, obj }, n) => `${cap(p.he)} has ${n} ${BOXED[obj]} in all.`,
  styles: [
    ({ ctx, a, b, c, d }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(c, '*', d);
      const r = k.op(x, '+', y);
      return { body: `${cap(COLORS[ctx][0])}: ${x.eq}. ${cap(COLORS[ctx][1])}: ${y.eq}. Total: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, ctx, a, b, c, d }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(c, '*', d);
      const r = k.op(x, '+', y);
      return {
        body: `The ${COLORS[ctx][0]} boxes hold ${x.eq} ${BOXED[obj]} and the ${COLORS[ctx][1]} ones hold ${y.eq}. So ${p.name} has ${r.eq}.`,
        result: r.v,
      };
    },
    ({ ctx, a, b, c, d }, k) => {
      const y = k.op(d, '*', c);
      const x = k.op(b, '*', a);
      const r = k.op(y, '+', x);
      return {
        body: `First, the ${COLORS[ctx][1]} ones: ${y.eq}. Then the ${COLORS[ctx][0]} ones: ${x.eq}. Finally, add them: ${r.eq}.`,
        result: r.v,
      };
    },
    ({ obj, a, b, c, d }, k) => {
      const x = k.op(a, '*', b);
      const y = k.op(c, '*', d);
      const r = k.op(x, '+', y);
      return {
        body: `${a} boxes of ${b} is ${x.v} ${BOXED[obj]}. ${c} boxes of ${d} is ${y.v} more. ${x.v} and ${y.v} together make ${r.v}.`,
        result: r.v,
      };
    },
  ],
};

/** The harder variant's shapes (level "hard"): two or three operations. */
export const SHAPES: readonly Shape[] = [buyBags, shop, share, rateDays, compare, lostFound, savings, twoGroups];

// ---------------------------------------------------------------------------
// The default variant (level "easy"): one or two additions or subtractions on
// small numbers (operands up to `max`), short questions, every rationale
// copying the question's numbers into one equation per step. A from-scratch
// `tiny` student learns these in minutes (docs/demo.md has the curves).

/** Largest operand of the easy level; set per generateDemo call. */
let easyMax = 9;

const EASY_ITEMS = ['apples', 'cookies', 'pencils', 'marbles', 'stickers', 'cards', 'shells', 'eggs', 'balls', 'books'];

const gets: Shape = {
  // a + b
  name: 'gets',
  draw(rng) {
    return {
      p: pick(rng, PEOPLE),
      q: PEOPLE[0],
      obj: rng.int(EASY_ITEMS.length),
      ctx: 0,
      a: between(rng, 2, easyMax),
      b: between(rng, 1, easyMax),
      c: 0,
      d: 0,
    };
  },
  question: ({ p, obj, a, b }) =>
    `${p.name} has ${a} ${EASY_ITEMS[obj]} and gets ${b} more. How many ${EASY_ITEMS[obj]} does ${p.he} have now?`,
  answer: ({ a, b }) => a + b,
  phrase: ({ p, obj }, n) => `${cap(p.he)} has ${n} ${EASY_ITEMS[obj]}.`,
  styles: [
    ({ a, b }, k) => {
      const r = k.op(a, '+', b);
      return { body: `Sum: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, a, b }, k) => {
      const r = k.op(a, '+', b);
      return { body: `${p.name} starts with ${a} ${EASY_ITEMS[obj]} and gets ${b}, so ${p.he} has ${r.eq}.`, result: r.v };
    },
    ({ a, b }, k) => {
      const r = k.op(b, '+', a);
      return { body: `First, the new ones: ${b}. Then add the ${a} from before: ${r.eq}.`, result: r.v };
    },
    ({ a, b }, k) => {
      const r = k.op(a, '+', b);
      return { body: `${a} and ${b} more make ${r.v}.`, result: r.v };
    },
  ],
};

const gives: Shape = {
  // a - b
  name: 'gives',
  draw(rng) {
    const b = between(rng, 1, easyMax);
    const a = b + between(rng, 1, easyMax);
    return { p: pick(rng, PEOPLE), q: PEOPLE[0], obj: rng.int(EASY_ITEMS.length), ctx: 0, a, b, c: 0, d: 0 };
  },
  question: ({ p, obj, a, b }) => `${p.name} has ${a} ${EASY_ITEMS[obj]} and gives away ${b}. How many ${EASY_ITEMS[obj]} are left?`,
  answer: ({ a, b }) => a - b,
  phrase: ({ obj }, n) => `${n} ${EASY_ITEMS[obj]} are left.`,
  styles: [
    ({ a, b }, k) => {
      const r = k.op(a, '-', b);
      return { body: `Left: ${r.eq}.`, result: r.v };
    },
    ({ p, obj, a, b }, k) => {
      const r = k.op(a, '-', b);
      return { body: `${p.name} starts with ${a} ${EASY_ITEMS[obj]} and gives ${b} away, so ${r.eq} remain.`, result: r.v };
    },
    ({ a, b }, k) => {
      const r = k.op(a, '-', b);
      return { body: `First, there are ${a}. Then ${b} go away: ${r.eq}.`, result: r.v };
    },
    ({ a, b }, k) => {
      const r = k.op(a, '-', b);
      return { body: `Taking ${b} from ${a} leaves ${r.v}.`, result: r.v };
    },
  ],
};

const getsGives: Shape = {
  // a + b - c
  name: 'gets-gives',
  draw(rng) {
    const a = between(rng, 2, easyMax);
    const b = between(rng, 1, easyMax);
    const c = between(rng, 1, Math.min(easyMax, a + b - 1));
    return { p: pick(rng, PEOPLE), q: PEOPLE[0], obj: rng.int(EASY_ITEMS.length), ctx: 0, a, b, c, d: 0 };
  },
  question: ({ p, obj, a, b, c }) =>
    `${p.name} has ${a} ${EASY_ITEMS[obj]}, gets ${b} more and gives away ${c}. How many ${EASY_ITEMS[obj]} does ${p.he} have now?`,
  answer: ({ a, b, c }) => a + b - c,
  phrase: ({ p, obj }, n) => `${cap(p.he)} has ${n} ${EASY_ITEMS[obj]}.`,
  styles: [
    ({ a, b, c }, k) => {
      const s = k.op(a, '+', b);
      const r = k.op(s, '-', c);
      return { body: `Sum: ${s.eq}. Left: ${r.eq}.`, result: r.v };
    },
    ({ p, a, b, c }, k) => {
      const s = k.op(a, '+', b);
      const r = k.op(s, '-', c);
      return { body: `${p.name} gets ${b}, so ${p.he} has ${s.eq}. Giving ${c} away leaves ${r.eq}.`, result: r.v };
    },
    ({ a, b, c }, k) => {
      const s = k.op(b, '+', a);
      const r = k.op(s, '-', c);
      return { body: `First, ${s.eq}. Then take off ${c}: ${r.eq}.`, result: r.v };
    },
    ({ a, b, c }, k) => {
      const s = k.op(a, '+', b);
      const r = k.op(s, '-', c);
      return { body: `${a} and ${b} make ${s.v}, and ${s.v} less ${c} is ${r.v}.`, result: r.v };
    },
  ],
};

/** The default variant's shapes (level "easy"). */
export const EASY_SHAPES: readonly Shape[] = [gets, gives, getsGives];

// ---------------------------------------------------------------------------
// Closing sentences: the answer is always the last number of the last sentence.

const CLOSINGS: Array<(n: number, phrase: string) => string> = [
  (n) => `So the answer is ${n}.`,
  (n) => `Therefore, the answer is ${n}.`,
  (n, ph) => `${ph} The answer is ${n}.`,
  (n) => `The answer is ${n}.`,
  (n, ph) => `${ph} So the answer is ${n}.`,
  (n) => `Thus, the answer is ${n}.`,
  (n) => `The final answer is ${n}.`,
];

/** Small edits that turn a rationale into a near-copy of itself. */
const NEAR_EDITS: Array<[string, string]> = [
  ['First, ', 'First of all, '],
  ['Then ', 'Next, '],
  ['Finally, ', 'In the end, '],
  [', so ', ', and so '],
  ['Total: ', 'In all: '],
  ['Sum: ', 'In all: '],
  ['Left: ', 'What is left: '],
  [' remain', ' are left'],
  [' make ', ' give '],
  [' leaves ', ' leaves us '],
  [' is ', ' comes to '],
];

function nearCopy(body: string, rng: Rng): string {
  const edits = rng.shuffle(NEAR_EDITS.slice());
  for (const [from, to] of edits) if (body.includes(from)) return body.replace(from, to);
  return body;
}

// ---------------------------------------------------------------------------

interface Drawn {
  question: string;
  answer: number;
  rationales: string[];
}

function render(shape: Shape, x: Params, style: number, calc: Calc, closing: number): { text: string; body: string; result: number } {
  const { body, result } = shape.styles[style](x, calc);
  return { text: `${body} ${CLOSINGS[closing](result, shape.phrase(x, result))}`, body, result };
}

function drawQuestion(rng: Rng, seen: Set<string>, shapes: readonly Shape[], sameClosing: boolean): Drawn {
  for (let tries = 0; ; tries++) {
    if (tries > 10_000) throw new Error('demo: cannot draw another distinct question (ask for fewer, or a larger --max)');
    const shape = shapes[rng.int(shapes.length)];
    const x = shape.draw(rng);
    const question = shape.question(x);
    if (seen.has(question)) continue;
    const answer = shape.answer(x);
    if (!Number.isInteger(answer) || answer < 1) throw new Error(`demo: bad answer ${answer} for ${question}`);

    const styles = rng.shuffle([0, 1, 2, 3]);
    const closings = rng.shuffle(CLOSINGS.map((_, i) => i));
    const wrongAt = rng.next() < WRONG_QUESTION_RATE ? rng.int(RATIONALES_PER_QUESTION) : -1;
    const dupRoll = rng.next() < NEAR_DUP_RATE;

    const out = styles.map((style, i) => {
      const ok = render(shape, x, style, new Calc(), closings[i]);
      if (ok.result !== answer) throw new Error(`demo: ${shape.name} style ${style} gives ${ok.result}, expected ${answer}`);
      if (i !== wrongAt) return ok;
      const dry = new Calc();
      shape.styles[style](x, dry);
      for (let attempt = 0; attempt < 50; attempt++) {
        const slipAt = rng.int(dry.ops);
        const delta = (rng.next() < 0.5 ? -1 : 1) * between(rng, 1, 3);
        try {
          const bad = render(shape, x, style, new Calc(slipAt, delta), closings[i]);
          if (bad.result !== answer && bad.result > 0) return bad;
        } catch (e) {
          if (!(e instanceof BadSlip)) throw e;
        }
      }
      return ok;
    });

    if (dupRoll) {
      // Replace one correct rationale with a near-copy of another correct one.
      const correct = out.map((_, i) => i).filter((i) => out[i].result === answer);
      const src = correct[rng.int(correct.length)];
      const others = correct.filter((i) => i !== src);
      const dst = others[rng.int(others.length)];
      // Hard level: a closing none of the four uses. Easy level: the source's
      // own closing (its texts are so short that another closing would make
      // the copy look like a different rationale to the diversity filter);
      // the edited body keeps the copy different from its source.
      const closing = sameClosing ? closings[src] : closings[RATIONALES_PER_QUESTION + rng.int(closings.length - RATIONALES_PER_QUESTION)];
      const body = nearCopy(out[src].body, rng);
      out[dst] = { body, result: answer, text: `${body} ${CLOSINGS[closing](answer, shape.phrase(x, answer))}` };
    }

    const rationales = out.map((r) => r.text);
    for (const r of rationales) {
      if (r.length > MAX_RATIONALE_CHARS) throw new Error(`demo: rationale too long (${r.length}): ${r}`);
      if (question.length + r.length + 8 > MAX_PROMPT_PLUS_RATIONALE_CHARS)
        throw new Error(`demo: question + rationale too long: ${question} / ${r}`);
    }
    seen.add(question);
    return { question, answer, rationales };
  }
}

/** The whole dataset, in memory. Test questions never appear in train. */
export function generateDemo(opts: Partial<DemoOptions> = {}): { train: DemoTrainRecord[]; test: DemoTestRecord[] } {
  const o = { ...DEMO_DEFAULTS, ...opts };
  for (const k of ['seed', 'train', 'test', 'max'] as const) {
    const v = o[k];
    if (!Number.isInteger(v) || v < 0) throw new Error(`demo: ${k} must be a non-negative integer, got ${v}`);
  }
  if (o.level !== 'easy' && o.level !== 'hard') throw new Error(`demo: level must be easy or hard, got ${String(o.level)}`);
  if (o.max < 2 || o.max > 999) throw new Error(`demo: max must be in 2..999, got ${o.max}`);
  easyMax = o.max;
  const shapes = o.level === 'easy' ? EASY_SHAPES : SHAPES;
  const rng = new Rng(o.seed);
  const seen = new Set<string>();
  const width = (n: number) => String(Math.max(n, 1)).length;
  const train: DemoTrainRecord[] = [];
  for (let i = 0; i < o.train; i++) {
    const d = drawQuestion(rng, seen, shapes, o.level === 'easy');
    train.push({
      id: `train-${String(i + 1).padStart(width(o.train), '0')}`,
      question: d.question,
      rationales: d.rationales,
      answer: String(d.answer),
    });
  }
  const test: DemoTestRecord[] = [];
  for (let i = 0; i < o.test; i++) {
    const d = drawQuestion(rng, seen, shapes, o.level === 'easy');
    test.push({ id: `test-${String(i + 1).padStart(width(o.test), '0')}`, question: d.question, answer: String(d.answer) });
  }
  return { train, test };
}

/** One JSON object per line, "\n"-terminated. */
export function toJsonl(records: readonly object[]): string {
  return records.map((r) => JSON.stringify(r) + '\n').join('');
}

/** The two files' contents, exactly as scripts/gen-demo.ts writes them. */
export function demoFiles(opts: Partial<DemoOptions> = {}): { 'train.jsonl': string; 'test.jsonl': string } {
  const { train, test } = generateDemo(opts);
  return { 'train.jsonl': toJsonl(train), 'test.jsonl': toJsonl(test) };
}
