// What the CLI tests share: `node bin/mcckd.js ...` in a child process as a
// user runs it, and support/python.ts's python (numpy, torch) for the references.
import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedFixture, fixtureKey } from './fixture-cache';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = path.join(ROOT, 'bin/mcckd.js');
import { PY, PY_ENV, pythonHas } from './python';

export { PY, PY_ENV, pythonHas };

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function mcckd(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The last JSON line a command printed (its result). */
export const lastJson = (s: string): Record<string, unknown> => JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>;
/** The one-line reason of a failure. */
export const lastLine = (s: string): string =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('mcckd:'))
    .pop() ?? '';

/** python3 ARGS; its stdout, or an error with its stderr. */
export function py(args: string[], input?: string): string {
  const r = spawnSync(PY, args, { encoding: 'utf8', env: PY_ENV, input });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A command that must succeed: its result line. */
export async function ok(args: string[]): Promise<Record<string, unknown>> {
  const r = await mcckd(args);
  if (r.code !== 0) throw new Error(`mcckd ${args.join(' ')}: ${r.stderr}`);
  return lastJson(r.stdout);
}

/** Tiny random models in Hugging Face layout under `dir` (scripts/hf/make_tiny.py),
 * each case given a tokenizer.json of the style named. */
export function tinyModels(dir: string, tokenizers: [string, string][], o: { adapters?: boolean; families?: string } = {}): void {
  // made once per version of the scripts (and arguments), then copied;
  // families: make_tiny's --families (its default leaves out qwen3, gemma3)
  const makers = ['make_tiny.py', 'tiny_tokenizer.py'].map((f) => path.join(ROOT, 'scripts/hf', f));
  cachedFixture(fixtureKey(makers, { tokenizers, adapters: !!o.adapters, families: o.families ?? '', python: PY }), dir, (out) => {
    py([makers[0], out, ...(o.adapters ? ['--adapters'] : []), ...(o.families ? ['--families', o.families] : [])]);
    for (const [c, style] of tokenizers) py([makers[1], path.join(out, c), '--style', style]);
  });
}

/** A 12-question teacher file of additions (two rationales each) at `file`. */
export function writePensData(file: string): void {
  const lines: string[] = [];
  for (let i = 0; i < 12; i++) {
    const a = 2 + (i % 5);
    const b = 1 + ((i * 3) % 7);
    lines.push(
      JSON.stringify({
        id: `p${i}`,
        question: `Tom has ${a} pens and buys ${b} more. How many?`,
        answer: String(a + b),
        rationales: [`${a} + ${b} = ${a + b}. The answer is ${a + b}.`, `He has ${a + b} pens. So the answer is ${a + b}.`],
      }),
    );
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}
