// Our byte-level BPE exported as a Hugging Face tokenizer.json
// (src/export/tokenizer-json.ts), read by `@huggingface/tokenizers` through
// HfTokenizer: the same ids as Tokenizer.encode on the real teacher files
// (../shared/data, skipped when absent) and on arbitrary unicode, the same
// training examples (answer spans) as Tokenizer.example, and the limits
// that remain, each pinned by a test.

import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer, type TokenizerJSON } from '../../src/core/tokenizer';
import { readTeacherFile } from '../../src/data/index';
import { formatPrompt } from '../../src/data/template';
import type { QuestionGroup } from '../../src/data/types';
import { BYTE_TO_UNICODE, MCCKD_SPLIT_REGEX } from '../../src/core/byte-level';
import { EOS_TOKEN, PAD_TOKEN, TokenizerExportError, bpeTokenizerFiles, duplicateMerges } from '../../src/export/tokenizer-json';
import { HfTokenizer } from '../../src/hf/tokenizer';
import { demoFiles } from '../../scripts/demo/generate';

const DATA = path.resolve(import.meta.dirname, '../../../shared/data');
const dataPresent = existsSync(DATA);
if (!dataPresent) console.warn(`export-tokenizer: real teacher files skipped, no ${DATA}`);

// Python's `tokenizers` (Rust, Oniguruma regexes) and transformers, when a
// python with them is named by MCCKD_TOKENIZERS_PYTHON or is python3.
const PYTHON = process.env.MCCKD_TOKENIZERS_PYTHON ?? 'python3';
const pythonHas = (mod: string): boolean => {
  try {
    execFileSync(PYTHON, ['-c', `import ${mod}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const pyTokenizers = pythonHas('tokenizers');
if (!pyTokenizers) console.warn(`export-tokenizer: Python's tokenizers skipped (${PYTHON} cannot import it; set MCCKD_TOKENIZERS_PYTHON)`);

type Json = Record<string, unknown>;

/** String.prototype.toWellFormed (ES2024, not in this project's lib): lone
 * surrogates become U+FFFD, as TextEncoder writes them. */
const wellFormed = (s: string): string => s.replace(/[\ud800-\udfff]/gu, '\ufffd');

function exported(tok: Tokenizer): { hf: HfTokenizer; json: Json; config: Json } {
  const f = bpeTokenizerFiles(tok.toJSON());
  // through JSON text, as a file on disk would be read
  const json = JSON.parse(JSON.stringify(f.tokenizerJson)) as Json;
  const config = JSON.parse(JSON.stringify(f.tokenizerConfig)) as Json;
  return { hf: HfTokenizer.fromJSON(json, { tokenizerConfig: config }), json, config };
}

function texts(groups: QuestionGroup[]): string[] {
  return groups.flatMap((g) => [formatPrompt(g.question), ...g.rationales.map((r) => r.text)]);
}

/** The demo's training text: enough for a few hundred merges without ../shared. */
async function demoGroups(): Promise<QuestionGroup[]> {
  return (await readTeacherFile(demoFiles()['train.jsonl'], { devFraction: 0 })).groups;
}

// Text that stresses the chunk classes: emoji (surrogate pairs, ZWJ
// sequences), combining marks, CJK, digits of other scripts, every kind of
// whitespace (JavaScript's \s differs from Unicode White_Space at U+FEFF and
// U+0085), CRLF.
const PIECES = [
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '\r',
  '\u000b',
  '\f',
  '\u00a0',
  '\u0085',
  '\u1680',
  '\u2003',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u3000',
  '\ufeff',
  '\u180e',
  '\u200b',
  'a',
  'the',
  ' He',
  'Tom',
  'é',
  'e\u0301',
  'n\u0303o',
  'ﬁ',
  'ß',
  'İ',
  'Ω',
  '0',
  '7',
  '42',
  '٣',
  '३',
  '½',
  '²',
  'Ⅻ',
  '①',
  '.',
  ',',
  '?!',
  '$',
  '%',
  '(A)',
  '->',
  '−',
  '°C',
  '…',
  '"',
  "'s",
  '<|',
  '|>',
  '日本語',
  '中',
  '한국어',
  'עברית',
  'العربية',
  'ไทย',
  '😀',
  '👍🏽',
  '👨‍👩‍👧',
  '🇫🇷',
  '\u{1F9EA}',
  '𝔘',
  '\u{20000}',
  '\u{E0001}',
  '\u{10FFFD}',
];
const unicodeText = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ unit: 'grapheme', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 })), {
    maxLength: 24,
  })
  .map((a) => a.join(''));

describe('the exported files', () => {
  let tok: Tokenizer;
  let json: Json;
  let config: Json;
  beforeAll(async () => {
    tok = Tokenizer.train(texts(await demoGroups()), 700);
    ({ json, config } = exported(tok));
  });

  it('keep to the documented tokenizer.json schema', () => {
    expect(Object.keys(json).sort()).toEqual([
      'added_tokens',
      'decoder',
      'model',
      'normalizer',
      'padding',
      'post_processor',
      'pre_tokenizer',
      'truncation',
      'version',
    ]);
    expect(json).toMatchObject({
      version: '1.0',
      truncation: null,
      padding: null,
      normalizer: null,
      post_processor: null,
      decoder: { type: 'ByteLevel', use_regex: false },
    });
    expect(json.added_tokens).toEqual([
      { id: 0, content: PAD_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ]);
    expect(json.pre_tokenizer).toEqual({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: MCCKD_SPLIT_REGEX }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    });
    const model = json.model as Json;
    expect(Object.keys(model).sort()).toEqual([
      'byte_fallback',
      'continuing_subword_prefix',
      'dropout',
      'end_of_word_suffix',
      'fuse_unk',
      'ignore_merges',
      'merges',
      'type',
      'unk_token',
      'vocab',
    ]);
    expect(model).toMatchObject({
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
    });
    const vocab = model.vocab as Record<string, number>;
    const merges = model.merges as string[];
    const n = 258 + tok.toJSON().merges.length;
    expect(merges.length).toBe(n - 258);
    // one id per string and every id 0..n-1 once: a bijection
    expect(Object.keys(vocab).length).toBe(n);
    expect(new Set(Object.values(vocab))).toEqual(new Set(Array.from({ length: n }, (_, i) => i)));
    expect(vocab[PAD_TOKEN]).toBe(0);
    expect(vocab[EOS_TOKEN]).toBe(1);
    expect(vocab['Ġ']).toBe(2 + 0x20); // GPT-2's alphabet: the space byte is "Ġ"
    expect(vocab.A).toBe(2 + 0x41);
    // "a b" with exactly one space: no token string holds a space
    for (const m of merges) expect(m.split(' ').length).toBe(2);
    merges.forEach((m, r) => expect(vocab[m.replace(' ', '')]).toBe(258 + r));
    expect(config).toMatchObject({ tokenizer_class: 'PreTrainedTokenizerFast', eos_token: EOS_TOKEN, pad_token: PAD_TOKEN });
  });

  it('use GPT-2 byte-to-unicode alphabet: 256 distinct characters, none a space', () => {
    expect(new Set(BYTE_TO_UNICODE).size).toBe(256);
    expect(BYTE_TO_UNICODE.some((c) => /\s/u.test(c))).toBe(false);
    expect(BYTE_TO_UNICODE[0x21]).toBe('!');
    expect(BYTE_TO_UNICODE[0]).toBe('Ā');
    expect(BYTE_TO_UNICODE[0xad]).toBe('Ń'); // the soft hyphen, the last non-printable one
  });

  it("spell out JavaScript's \\s in the Split regex: the same class on every code point", () => {
    // The class as written (first alternative of the last branch) against /\s/u.
    const body = MCCKD_SPLIT_REGEX.slice(MCCKD_SPLIT_REGEX.lastIndexOf('[') + 1, MCCKD_SPLIT_REGEX.lastIndexOf(']'));
    const ours = new RegExp(`^[${body}\\n]$`, 'u');
    const mismatches: number[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (ours.test(c) !== /^\s$/u.test(c)) mismatches.push(cp);
    }
    expect(mismatches).toEqual([]);
  });

  it('are accepted by HfTokenizer.fromJSON with the end token from tokenizer_config.json', () => {
    const hf = HfTokenizer.fromJSON(json, { tokenizerConfig: config });
    expect(hf.eosId).toBe(1);
    expect(hf.bosId).toBeNull();
    expect(hf.vocabSize).toBe(258 + tok.toJSON().merges.length);
    expect(hf.idToToken(0)).toBe(PAD_TOKEN);
    // as loadStudent passes it, from generation_config.json's eos_token_id
    expect(HfTokenizer.fromJSON(json, { tokenizerConfig: config, eosTokenId: [1] }).eosId).toBe(1);
  });

  it('switch HfTokenizer to our piece convention only for our exact Split regex', () => {
    const prompt = formatPrompt('How many?');
    const ours = HfTokenizer.fromJSON(json, { tokenizerConfig: config });
    expect(ours.promptIds(prompt)).toEqual(tok.promptIds(prompt)); // "A: " keeps its space
    // the same tokenizer with another (here: equivalent) regex is a foreign
    // one: the prompt's trailing spaces move to the rationale, as for GPT-2
    const pre = json.pre_tokenizer as { pretokenizers: { pattern: { Regex: string } }[] };
    const other = structuredClone(json) as typeof json & { pre_tokenizer: typeof pre };
    other.pre_tokenizer.pretokenizers[0].pattern.Regex = `(?:${MCCKD_SPLIT_REGEX})`;
    const foreign = HfTokenizer.fromJSON(other, { tokenizerConfig: config });
    expect(foreign.encode('Tom has 3 apples.\n ok')).toEqual(tok.encode('Tom has 3 apples.\n ok'));
    expect(foreign.promptIds(prompt)).toEqual(tok.encode(prompt.trimEnd()));
    expect(foreign.promptIds(prompt)).not.toEqual(tok.promptIds(prompt));
  });

  it('give HfTokenizer the training examples of Tokenizer.example (prompt, answer span, end token) on the demo data', async () => {
    const hf = HfTokenizer.fromJSON(json, { tokenizerConfig: config });
    let n = 0;
    for (const g of await demoGroups()) {
      const prompt = formatPrompt(g.question);
      expect(hf.promptIds(prompt)).toEqual(tok.promptIds(prompt));
      for (const r of g.rationales) {
        const e = hf.example(prompt, r);
        expect(e).toEqual(tok.example(prompt, r));
        expect(hf.decode(e.ids.slice(e.spanStart, e.spanEnd))).toBe(r.text.slice(r.answerStart, r.answerEnd));
        n++;
      }
    }
    expect(n).toBeGreaterThan(100);
  });

  it('encode every assigned code point as Tokenizer.encode does (blocks of 2048; separators, controls, marks and a sample between letters, digits and spaces)', () => {
    const hf = HfTokenizer.fromJSON(json, { tokenizerConfig: config });
    const bad: string[] = [];
    for (let start = 0; start <= 0x10ffff; start += 2048) {
      // planes 4-13 hold no assigned character (Unicode 16): one block in 16
      if (start >= 0x40000 && start < 0xe0000 && (start / 2048) % 16 !== 0) continue;
      let block = '';
      let mixed = '';
      for (let cp = start; cp < Math.min(start + 2048, 0x110000); cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const c = String.fromCodePoint(cp);
        block += c;
        // every separator and control character, and a sample of the rest
        if (cp % 97 === 0 || /[\s\p{Z}\p{Cc}\p{Cf}\p{M}]/u.test(c)) mixed += ` a${c} 1${c}\n${c}`;
      }
      for (const s of [block, mixed]) if (hf.encode(s).join() !== tok.encode(s).join()) bad.push(`U+${start.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });
});

describe('encoding arbitrary unicode (fast-check)', () => {
  let tok: Tokenizer;
  let hf: HfTokenizer;
  beforeAll(async () => {
    tok = Tokenizer.train(texts(await demoGroups()), 700);
    ({ hf } = exported(tok));
  });

  it('gives the same ids as Tokenizer.encode, and decodes back', () => {
    fc.assert(
      fc.property(unicodeText, (s) => {
        const ids = tok.encode(s);
        expect(hf.encode(s)).toEqual(ids);
        // Both replace a lone surrogate by U+FFFD (TextEncoder), so compare with
        // the well-formed text; ours drops a leading BOM when decoding (see below).
        const w = wellFormed(s);
        expect(hf.decode(ids)).toBe(w);
        if (!w.startsWith('\ufeff')) expect(tok.decode(ids)).toBe(w);
      }),
      { numRuns: 3000, seed: 13 },
    );
  });

  it('lone surrogates: both sides encode them as U+FFFD (Python/Rust strings cannot hold them)', () => {
    for (const s of ['\ud800', 'a\udc00b', '\ud83d 1', '\udfff\ud800']) {
      expect(hf.encode(s)).toEqual(tok.encode(s));
      expect(hf.encode(s)).toEqual(tok.encode(wellFormed(s)));
      expect(wellFormed(s)).not.toBe(s);
    }
  });

  it("limit: the special tokens' text inside a string is their id there, bytes here", () => {
    // Hugging Face tokenizers always match added tokens in the input text;
    // our Tokenizer.encode never produces a special id. Curated text holding
    // "<|eos|>" or "<|pad|>" is the only input on which the two disagree.
    expect(hf.encode(`a${EOS_TOKEN}b`)).toEqual([...tok.encode('a'), 1, ...tok.encode('b')]);
    expect(tok.encode(EOS_TOKEN)).not.toContain(1);
    expect(hf.encode('<|eos|')).toEqual(tok.encode('<|eos|'));
  });

  it("limit: decoding, ours drops a leading U+FEFF (TextDecoder's BOM handling), theirs keeps it; specials decode to their names there, to nothing here", () => {
    const ids = tok.encode('\ufeffhi');
    expect(hf.encode('\ufeffhi')).toEqual(ids);
    expect(hf.decode(ids)).toBe('\ufeffhi');
    expect(tok.decode(ids)).toBe('hi');
    expect(hf.decode([1])).toBe(EOS_TOKEN);
    expect(tok.decode([1])).toBe('');
  });
});

describe('two merges with the same bytes', () => {
  // "abc" both as (a, bc) and as (ab, c): a valid description for our
  // Tokenizer (it encodes with ids), but a tokenizer.json maps one string to one id.
  const [a, b, c] = ['a', 'b', 'c'].map((ch) => ch.charCodeAt(0) + 2);
  const dup: TokenizerJSON = {
    type: 'byte-bpe/1',
    vocabSize: 262,
    merges: [
      [b, c],
      [a, 258],
      [a, b],
      [260, c],
    ],
  };

  it('are found by duplicateMerges and refused by the export, naming the tokens', () => {
    expect(duplicateMerges(dup)).toEqual([[261, 259]]);
    expect(() => Tokenizer.fromJSON(dup)).not.toThrow();
    expect(() => bpeTokenizerFiles(dup)).toThrow(TokenizerExportError);
    expect(() => bpeTokenizerFiles(dup)).toThrow(/token 261 \(merge 3\) has the same bytes as token 259/);
  });

  it('a malformed description is refused before anything is built', () => {
    expect(() => bpeTokenizerFiles({ type: 'byte-bpe/1', vocabSize: 259, merges: [[2, 400]] })).toThrow(
      /merge 0 is not a pair of earlier token ids/,
    );
    expect(() => bpeTokenizerFiles({ type: 'byte-bpe/1', vocabSize: 259, merges: [[1, 2]] })).toThrow(/merge 0 .* joins a special token/);
  });
});

const FILES = [
  'mcc-kd/svamp_train.json',
  'mentor-kd/svamp_3_train.json',
  'mentor-kd/last_letter_concatenation_3_train.json',
  'mentor-kd/tracking_shuffled_objects_3_train.json',
  'mentor-kd/strategy_qa_aug3_t5_large.json',
];

describe.skipIf(!dataPresent)('real teacher files (../shared/data)', () => {
  const groups: QuestionGroup[] = [];
  const questions: string[] = [];
  beforeAll(async () => {
    for (const f of FILES) {
      const { groups: gs } = await readTeacherFile(createReadStream(path.join(DATA, f)), { devFraction: 0 });
      groups.push(...gs);
    }
    // the test files' questions too: text the tokenizer never trained on
    for (const f of [
      'mentor-kd/svamp_test.json',
      'mentor-kd/last_letter_concatenation_test.json',
      'mentor-kd/tracking_shuffled_objects_test.json',
      'mcc-kd/svamp_dev.json',
    ]) {
      const { readEvalFile } = await import('../../src/data/index');
      const { items } = await readEvalFile(createReadStream(path.join(DATA, f)));
      questions.push(...items.map((i) => i.question));
    }
  }, 60_000);

  // One realistic size: the library encodes about 1 ms per text, so every
  // text and every example at several sizes would take minutes (2000 and
  // 8000 were checked the same way when this was written).
  it('vocabulary 4000: no duplicate merge; every question and rationale the same ids; the examples and answer spans of every 4th question identical', () => {
    const tok = Tokenizer.train(texts(groups), 4000);
    expect(duplicateMerges(tok.toJSON())).toEqual([]);
    const { hf } = exported(tok);
    // prompts, rationales, bare questions and the test files' questions
    const all = [...texts(groups), ...groups.map((g) => g.question), ...questions];
    const differ = all.filter((s) => {
      const ids = tok.encode(s);
      return hf.encode(s).join() !== ids.join() || hf.decode(ids) !== s;
    });
    expect(differ.slice(0, 3)).toEqual([]);
    // the training examples of every 4th question (every text's ids were
    // compared above; an example adds the prompt and the answer span)
    let examples = 0;
    for (const g of groups.filter((_, i) => i % 4 === 0)) {
      const prompt = formatPrompt(g.question);
      expect(hf.promptIds(prompt)).toEqual(tok.promptIds(prompt));
      for (const r of g.rationales) {
        const theirs = hf.example(prompt, r);
        expect(theirs).toEqual(tok.example(prompt, r));
        expect(hf.decode(theirs.ids.slice(theirs.spanStart, theirs.spanEnd))).toBe(r.text.slice(r.answerStart, r.answerEnd));
        examples++;
      }
    }
    expect(groups.length).toBeGreaterThan(2000);
    console.log(
      `export-tokenizer: vocabulary 4000 (${tok.toJSON().merges.length} merges): ${all.length} texts (${groups.length} questions, ${examples} rationales, ` +
        `${questions.length} test questions) from ${FILES.length + 4} files: ids identical for all; ${examples} examples (every 4th question's) identical to Tokenizer.example`,
    );
  }, 300_000);
});

describe.skipIf(!pyTokenizers)("Python's tokenizers (and transformers when present) on the exported folder", () => {
  it('load it and encode and decode every case as Tokenizer.encode does', async () => {
    const tok = Tokenizer.train(texts(await demoGroups()), 700);
    const f = bpeTokenizerFiles(tok.toJSON());
    const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-tok-'));
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(f.tokenizerJson));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(f.tokenizerConfig));
    // Python's str cannot carry lone surrogates across: well-formed text only
    const random = fc.sample(unicodeText, { numRuns: 2000, seed: 21 }).map(wellFormed);
    const blocks: string[] = [];
    for (let start = 0; start <= 0x10ffff; start += 4096) {
      let b = '';
      for (let cp = start; cp < Math.min(start + 4096, 0x110000); cp++) if (cp < 0xd800 || cp > 0xdfff) b += String.fromCodePoint(cp);
      blocks.push(b);
    }
    const cases = [...texts(await demoGroups()), ...random, ...blocks].map((s) => ({ s, ids: tok.encode(s) }));
    writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(cases));
    const script = `
import json, sys
from tokenizers import Tokenizer
d = sys.argv[1]
tok = Tokenizer.from_file(d + '/tokenizer.json')
cases = json.load(open(d + '/cases.json', encoding='utf-8'))
out = {'ids': sum(tok.encode(c['s']).ids != c['ids'] for c in cases), 'decode': sum(tok.decode(c['ids']) != c['s'] for c in cases), 'eos': tok.encode('a<|eos|>b').ids}
try:
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(d)
    out['transformers'] = {'ids': sum(t(c['s'])['input_ids'] != c['ids'] for c in cases), 'eos': t.eos_token_id, 'pad': t.pad_token_id, 'bos': t.bos_token_id}
except ImportError:
    pass
print(json.dumps(out))
`;
    const out = JSON.parse(
      execFileSync(PYTHON, ['-c', script, dir], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'ignore'] }),
    ) as {
      ids: number;
      decode: number;
      eos: number[];
      transformers?: { ids: number; eos: number; pad: number; bos: number | null };
    };
    expect(out).toMatchObject({ ids: 0, decode: 0, eos: [...tok.encode('a'), 1, ...tok.encode('b')] });
    if (out.transformers) expect(out.transformers).toEqual({ ids: 0, eos: 1, pad: 0, bos: null });
    console.log(
      `export-tokenizer: Python tokenizers${out.transformers ? ' and transformers' : ''}: ${cases.length} cases, ids and decoding identical`,
    );
  }, 120_000);
});
