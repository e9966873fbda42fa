import { describe, expect, it } from 'vitest';
import { EOS_ID, PAD_ID, Tokenizer } from '../../src/core/tokenizer';
import { toyGroups } from './core-helpers';
import { trainingTexts } from '../../src/core/trainer';

const texts = [...trainingTexts(toyGroups(20))];

describe('byte-level BPE tokenizer', () => {
  const tok = Tokenizer.train(texts, 400);

  it('learns merges up to the vocabulary size and round-trips any text', () => {
    expect(tok.vocabSize).toBe(400);
    expect(tok.toJSON().merges.length).toBeGreaterThan(50);
    for (const s of [...texts.slice(0, 10), 'ünïcödé ✓ 日本語 🙂', '', '  spaces\n\nand\ttabs ']) expect(tok.decode(tok.encode(s))).toBe(s);
  });

  it('compresses the text it was trained on', () => {
    const t = texts[1];
    expect(tok.encode(t).length).toBeLessThan(new TextEncoder().encode(t).length / 2);
  });

  it('keeps special ids out of ordinary text', () => {
    const ids = tok.encode(texts.join(' '));
    expect(ids).not.toContain(PAD_ID);
    expect(ids).not.toContain(EOS_ID);
  });

  it('maps an answer span to exact token positions', () => {
    for (const g of toyGroups(10)) {
      for (const r of g.rationales) {
        const e = tok.encodeWithSpan(r.text, r.answerStart, r.answerEnd);
        expect(tok.decode(e.ids.slice(e.spanStart, e.spanEnd))).toBe(r.text.slice(r.answerStart, r.answerEnd));
        expect(tok.decode(e.ids)).toBe(r.text);
      }
    }
    // the same answer text gives the same tokens whatever precedes it
    const a = tok.encodeWithSpan('x is 1234.', 5, 9);
    const b = tok.encodeWithSpan('other words then 1234.', 17, 21);
    expect(a.ids.slice(a.spanStart, a.spanEnd)).toEqual(b.ids.slice(b.spanStart, b.spanEnd));
  });

  it('serializes to JSON and back, and training is deterministic', () => {
    const again = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(again.encode(texts[3])).toEqual(tok.encode(texts[3]));
    expect(Tokenizer.train(texts, 400).toJSON()).toEqual(tok.toJSON());
  });

  it('refuses malformed JSON and bad sizes', () => {
    expect(() => Tokenizer.fromJSON({ type: 'nope' })).toThrow(/byte-bpe/);
    expect(() => Tokenizer.fromJSON({ type: 'byte-bpe/1', vocabSize: 300, merges: [[5, 999]] })).toThrow(/merge 0/);
    expect(() => Tokenizer.train(texts, 100)).toThrow(/vocabulary size/);
  });
});
