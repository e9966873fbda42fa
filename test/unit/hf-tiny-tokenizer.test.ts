// scripts/hf/tiny_tokenizer.py: a real byte-level BPE tokenizer.json for the
// tiny random model folders of scripts/hf/make_tiny.py, loaded with HfTokenizer
// (src/hf/tokenizer.ts, over @huggingface/tokenizers). Checks that every id
// fits the model's vocab_size, exact round trips (unicode, emoji, newlines),
// that the learned merges are used, exact answer spans, the end token of
// config.json, LLaMA-3 digit groups, and byte-identical output on a rerun.
// Skipped when Debian's python3 (with numpy, for make_tiny.py) is missing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HfTokenizer } from '../../src/hf/tokenizer';
import { formatPrompt } from '../../src/data/template';

import { PY } from '../../support/python';
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAKE_TINY = path.join(ROOT, 'scripts/hf/make_tiny.py');
const TINY_TOKENIZER = path.join(ROOT, 'scripts/hf/tiny_tokenizer.py');

const hasPython = spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
if (!hasPython) console.warn(`hf-tiny-tokenizer: skipped, no ${PY} with numpy`);

type Json = Record<string, unknown>;
const readJson = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;

function run(args: string[]): string {
  const r = spawnSync(PY, args, { env: ENV, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PY} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

interface Case {
  name: string;
  style: 'gpt2' | 'llama3';
  config: Json;
  json: Json;
  tok: HfTokenizer;
}

const CASES: [string, 'gpt2' | 'llama3'][] = [
  ['gpt2-tiny', 'gpt2'],
  ['llama-gqa', 'llama3'],
  ['qwen2-tiny', 'gpt2'],
];

const STRINGS = [
  'Q: Tom has 3 apples and buys 5 more. How many?\nA: He has 3 + 5 = 8 apples. The answer is 8.',
  'Therefore, the answer is 1234567.',
  'Emoji: 🎉👍🏽 and 👨‍👩‍👧 family, ünïcödé café — “quotes” … −2 °C ≈ π',
  '中文测试：小明有三个苹果。日本語のテキスト。한국어',
  'line one\nline two\n\nline four\r\nwindows\tand tab\n',
  "  leading and trailing   It's what we'll do, isn't it?  ",
  '{"json": [1, 2, 3], "key": null} 3 × 4 = 12, 12 ÷ 4 = 3',
  'a',
  ' ',
  '\n',
];

describe.skipIf(!hasPython)('tiny_tokenizer.py: tokenizer.json for the tiny model folders', () => {
  let dir: string;
  const cases: Case[] = [];

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-tiny-tok-'));
    run([MAKE_TINY, dir]);
    for (const [name, style] of CASES) {
      const folder = path.join(dir, name);
      run([TINY_TOKENIZER, folder, '--style', style]);
      const config = readJson(path.join(folder, 'config.json'));
      const json = readJson(path.join(folder, 'tokenizer.json'));
      const tokenizerConfig = readJson(path.join(folder, 'tokenizer_config.json'));
      const tok = HfTokenizer.fromJSON(json, { tokenizerConfig, eosTokenId: config.eos_token_id as number });
      cases.push({ name, style, config, json, tok });
    }
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every id is below vocab_size, and every id in [0, vocab_size) is a token', () => {
    for (const { name, config, json, tok } of cases) {
      const V = config.vocab_size as number;
      const model = json.model as Json;
      expect(model.type, name).toBe('BPE');
      const ids = [...Object.values(model.vocab as Record<string, number>), ...(json.added_tokens as { id: number }[]).map((t) => t.id)];
      for (const id of ids) expect(id, name).toBeLessThan(V);
      expect(tok.vocabSize, name).toBe(V);
      for (let id = 0; id < V; id++) expect(tok.idToToken(id), `${name}: id ${id}`).toBeDefined();
      // all 256 byte symbols, plus learned merges
      expect((model.merges as unknown[]).length, name).toBeGreaterThan(0);
      expect(Object.keys(model.vocab as object).length, name).toBeGreaterThanOrEqual(256);
    }
  });

  it('the end token is the one config.json gives; LLaMA-3 style has its BOS', () => {
    const byName = Object.fromEntries(cases.map((c) => [c.name, c]));
    for (const { name, config, tok, json } of cases) {
      expect(tok.eosId, name).toBe(config.eos_token_id);
      const added = json.added_tokens as { id: number; content: string; special: boolean }[];
      expect(added.find((t) => t.id === tok.eosId)?.special, name).toBe(true);
    }
    expect(byName['gpt2-tiny'].tok.idToToken(0)).toBe('<|endoftext|>');
    expect(byName['gpt2-tiny'].tok.bosId).toBe(0);
    expect(byName['qwen2-tiny'].tok.idToToken(447)).toBe('<|endoftext|>');
    expect(byName['qwen2-tiny'].tok.bosId).toBeNull();
    expect(byName['llama-gqa'].tok.idToToken(1)).toBe('<|begin_of_text|>');
    expect(byName['llama-gqa'].tok.idToToken(2)).toBe('<|end_of_text|>');
    expect(byName['llama-gqa'].tok.bosId).toBe(1);
  });

  it('round trips are exact (unicode, emoji, newlines), whole and in pieces', () => {
    for (const { name, tok } of cases) {
      for (const s of STRINGS) {
        const ids = tok.encode(s);
        for (const id of ids) expect(id, name).toBeLessThan(tok.vocabSize);
        expect(tok.decode(ids), `${name}: ${JSON.stringify(s)}`).toBe(s);
      }
      for (let i = 0; i + 1 < STRINGS.length; i++) {
        const [a, b] = [STRINGS[i], STRINGS[i + 1]];
        expect(tok.decode([...tok.encode(a), ...tok.encode(b)]), `${name}: pieces ${i}`).toBe(a + b);
      }
      const done = [...tok.encode('Done.'), tok.eosId];
      expect(tok.decode(done, { skipSpecial: true }), name).toBe('Done.');
    }
  });

  it('the learned merges are used: common words take fewer tokens than bytes', () => {
    for (const { name, tok } of cases) {
      for (const w of [' answer', ' apples', 'The answer is', ' How many']) {
        expect(tok.encode(w).length, `${name}: ${JSON.stringify(w)}`).toBeLessThan(new TextEncoder().encode(w).length);
      }
      const s = 'Q: Tom has 3 apples and buys 5 more. How many?\nA: He has 3 + 5 = 8 apples. The answer is 8.';
      expect(tok.encode(s).length, name).toBeLessThan(0.6 * s.length);
    }
  });

  it('digits: LLaMA-3 style in groups of up to 3 without a space; GPT-2 style whole numbers', () => {
    for (const { name, style, tok } of cases) {
      const pieces = tok.encode(' 1234567').map((id) => tok.decode([id]));
      expect(pieces.join(''), name).toBe(' 1234567');
      if (style === 'llama3') {
        expect(pieces[0], name).toBe(' ');
        for (const p of pieces.slice(1)) expect(p, name).toMatch(/^\d{1,3}$/);
        expect(pieces.slice(1).join(''), name).toBe('1234567');
        expect(pieces.length, name).toBeGreaterThanOrEqual(4); // " " + 123 | 456 | 7 at least
      } else {
        // no token mixes a digit with a letter or a following space
        for (const p of pieces) expect(p, name).toMatch(/^ ?\d*$/);
      }
    }
  });

  it('encodeRationale gives exact answer spans', () => {
    const prompt = formatPrompt('Tom has 3 apples and buys 5 more. How many?');
    const rationales: [string, string][] = [
      ['He has 3 + 5 = 8 apples. The answer is 8.', '8'],
      ['First, 3 + 5 = 8.\nTherefore, the answer is 8.', '8'],
      ['Saved: 16 * 12 = 192. So the answer is 192.', '192'],
      ['The sum is 1234 + 4321 = 5555. The answer is 5555 apples.', '5555'],
      ['It is seven. The answer is seven.', 'seven'],
    ];
    for (const { name, style, tok } of cases) {
      for (const [text, answer] of rationales) {
        const s = text.lastIndexOf(answer);
        const e = tok.encodeRationale(prompt, { text, answerStart: s, answerEnd: s + answer.length });
        expect(e.canonical, `${name}: ${text}`).toBe(true);
        expect(e.ids.at(-1), name).toBe(tok.eosId);
        expect(tok.decode(e.ids.slice(0, -1)), name).toBe(prompt + text);
        expect(tok.decode(e.ids.slice(0, e.promptLen)), name).toBe(prompt.trimEnd());
        const span = tok.decode(e.ids.slice(e.answerStart, e.answerEnd));
        // The span's text is the answer; GPT-2 style may carry the space before
        // it inside its first token (" 8"), as GPT-2 itself does.
        expect(span.trimStart(), `${name}: ${text}`).toBe(answer);
        if (style === 'llama3' && /^\d+$/.test(answer)) expect(span, `${name}: ${text}`).toBe(answer);
        else expect([answer, ` ${answer}`], `${name}: ${text}`).toContain(span);
        expect(tok.decode(e.ids.slice(e.answerEnd, -1)), name).toBe(text.slice(s + answer.length));
      }
    }
  });

  it('the same folder gives the same bytes on a rerun', () => {
    const folder = path.join(dir, 'llama-gqa');
    const before = [readFileSync(path.join(folder, 'tokenizer.json')), readFileSync(path.join(folder, 'tokenizer_config.json'))];
    run([TINY_TOKENIZER, folder, '--style', 'llama3']);
    const after = [readFileSync(path.join(folder, 'tokenizer.json')), readFileSync(path.join(folder, 'tokenizer_config.json'))];
    expect(after[0].equals(before[0])).toBe(true);
    expect(after[1].equals(before[1])).toBe(true);
    const cfg = readJson(path.join(folder, 'tokenizer_config.json'));
    expect(cfg).toMatchObject({
      eos_token: '<|end_of_text|>',
      bos_token: '<|begin_of_text|>',
      model_max_length: 128,
      tokenizer_class: 'PreTrainedTokenizerFast',
      clean_up_tokenization_spaces: false,
    });
  });
});
