// Generates the built-in demo dataset: public/demo/train.jsonl (questions with
// four teacher rationales each) and public/demo/test.jsonl (held-out questions
// with gold answers only), in the project's own JSON Lines format:
//   {"id": "...", "question": "...", "rationales": ["...", ...], "answer": "..."}
//
// Why: the demo must run with nothing to download, so the app ships a
// synthetic stand-in for a teacher's chain-of-thought dump, and a student
// trained from scratch must visibly learn it in minutes. The default level
// ("easy") is 3,000 short word problems with one or two additions or
// subtractions on operands up to 9 ("Mia has 7 eggs, gets 5 more and gives
// away 4."); every rationale copies the question's numbers into one equation
// per step, in four styles (terse equations, a narrative, "First/Then",
// plain words) with varied closing sentences. The "hard" level is the
// earlier multi-step set (8 shapes, two or three operations). About one
// rationale in twelve carries an arithmetic slip and a wrong answer, and a few
// questions carry a near-duplicate rationale, so curation's correctness and
// diversity filters visibly drop something. docs/demo.md has the learning
// curves that chose these defaults.
//
// The output is a pure function of the flags: the same seed gives
// byte-identical files, and test/unit/demo-gen.test.ts checks that the
// committed files equal what the defaults produce. The logic lives in
// scripts/demo/generate.ts.
//
// Usage: npm run gen:demo -- [--seed 1234] [--train 3000] [--test 200] [--level easy|hard] [--max 9] [--out public/demo]

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_DEFAULTS, demoFiles, type DemoOptions } from './demo/generate';

export { DEMO_DEFAULTS, demoFiles, generateDemo, toJsonl } from './demo/generate';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT = path.join(ROOT, 'public', 'demo');

const USAGE = 'usage: tsx scripts/gen-demo.ts [--seed N] [--train N] [--test N] [--level easy|hard] [--max N] [--out DIR]';

function parseArgs(argv: string[]): DemoOptions & { out: string } {
  const o = { ...DEMO_DEFAULTS, out: DEFAULT_OUT };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    if (flag === '--out') {
      o.out = path.resolve(value);
      continue;
    }
    if (flag === '--level') {
      if (value !== 'easy' && value !== 'hard') throw new Error(`--level must be easy or hard, got ${value}`);
      o.level = value;
      continue;
    }
    const key = ({ '--seed': 'seed', '--train': 'train', '--test': 'test', '--max': 'max' } as const)[flag as '--seed'];
    if (!key) throw new Error(`unknown flag ${flag}\n${USAGE}`);
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`${flag} must be a non-negative integer, got ${value}`);
    o[key] = n;
  }
  return o;
}

function main(): void {
  const { out, ...opts } = parseArgs(process.argv.slice(2));
  const files = demoFiles(opts);
  mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(out, name);
    writeFileSync(file, text);
    console.log(
      `wrote ${path.relative(process.cwd(), file) || file}: ${text.split('\n').length - 1} records, ${Buffer.byteLength(text)} bytes`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  }
}
