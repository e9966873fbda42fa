// Byte-level BPE trained on the training text. Bytes come first so that any
// string encodes (no unknown token); merges are learned greedily by pair
// frequency over pre-tokenized chunks, as GPT-2 does. Digits are split one per
// chunk (as LLaMA does): arithmetic then sees each digit, and an answer such as
// "32" never fuses with the space before it.
//
// Ids: 0 = <|pad|>, 1 = <|eos|>, 2..257 = bytes 0..255, 258.. = merges.

export const PAD_ID = 0;
export const EOS_ID = 1;
const BYTE_OFFSET = 2;
const N_BASE = 256 + BYTE_OFFSET;

// Letters with an optional leading space; single digits; punctuation runs with
// an optional leading space; newlines; other whitespace.
const CHUNK_RE = / ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\n|[^\S\n]+/gu;

/** One training example: prompt ids, rationale ids and the end token, with
 * the token span [spanStart, spanEnd) of the answer inside `ids`. */
export interface EncodedExample {
  ids: number[];
  promptLen: number;
  spanStart: number;
  spanEnd: number;
}

/** What the trainer needs of a tokenizer: our byte-level BPE (a from-scratch
 * student) and a Hugging Face tokenizer.json (a pretrained one, src/hf)
 * both provide it. */
export interface StudentTokenizer {
  readonly vocabSize: number;
  readonly eosId: number;
  /** What padded positions hold (never a target, never attended to by real ones). */
  readonly padId: number;
  /** Token ids of a text (no special tokens added). */
  encode(text: string): number[];
  /** The ids a generation starts from. */
  promptIds(prompt: string): number[];
  /** prompt + rationale + end token, with the answer's exact token span. */
  example(prompt: string, r: { text: string; answerStart: number; answerEnd: number }): EncodedExample;
  decode(ids: readonly number[]): string;
  /** A readable label for one token (charts). */
  tokenLabel(id: number): string;
}

export interface TokenizerJSON {
  type: 'byte-bpe/1';
  vocabSize: number;
  merges: [number, number][]; // merge r creates id N_BASE + r
}

const encoder = new TextEncoder();
// ignoreBOM: a token that is U+FEFF keeps it (the default strips it)
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** How many bytes a UTF-8 sequence that starts with `b` has (0: `b` cannot
 * start one). */
function utf8Length(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/** The label of a token's bytes. Byte-level BPE cuts text between bytes, so
 * one token may hold only part of a character ("€" is E2 82 AC, and a token
 * may be E2 82); decoded alone that part is a bare "\uFFFD", which hides
 * which token it is. Complete characters are shown as text, every byte that
 * is not part of one in hex: [0x20, 0xE2, 0x82] → " ⟨E2 82⟩". */
export function bytesLabel(bytes: Uint8Array): string {
  let out = '';
  let bad: string[] = [];
  const flush = (): void => {
    if (bad.length) out += `⟨${bad.join(' ')}⟩`;
    bad = [];
  };
  for (let i = 0; i < bytes.length; ) {
    const n = utf8Length(bytes[i]);
    let ch: string | null = null;
    if (n > 0 && i + n <= bytes.length) {
      try {
        // the strict decoder also refuses overlong forms and surrogates
        ch = strictDecoder.decode(bytes.subarray(i, i + n));
      } catch {
        ch = null;
      }
    }
    if (ch === null) {
      bad.push(bytes[i].toString(16).toUpperCase().padStart(2, '0'));
      i++;
    } else {
      flush();
      out += ch;
      i += n;
    }
  }
  flush();
  return out;
}

/** What a tokenizer may hold. Token ids are below 2^16 (the pair keys). A
 * token of BPE trained on text never spans chunks (a word, a digit, a run of
 * punctuation or of whitespace), so real tokens are a few bytes long
 * (GPT-2's longest is 128); 1024 bytes leaves room for long runs while a
 * chain of merges (each joining the previous token with itself doubles the
 * length: 27 of them make 256 MiB) is refused after 10. The total bounds
 * what the constructor allocates for all tokens together. */
export const TOKENIZER_LIMITS = {
  maxVocabSize: 65536,
  maxTokenBytes: 1024,
  maxTotalTokenBytes: 16 * 1024 * 1024,
};

/** A tokenizer description refused by Tokenizer.fromJSON / checkTokenizerJSON. */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
}

const preview = (v: unknown): string => {
  try {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 40 ? `${s.slice(0, 37)}...` : s;
  } catch {
    return '(unprintable)';
  }
};

/** Checks what must hold before a tokenizer description is used for
 * anything (the checkpoint loader runs it on every file): the shape of the
 * JSON, at most as many merges as the vocabulary has ids, every merge a pair
 * of ids that exist before it, and token byte lengths within
 * TOKENIZER_LIMITS, computed as numbers (never by building the tokens). The
 * ids' meaning (specials are not merged, the vocabulary holds the 258 base
 * ids) is left to fromJSON. Returns the description, typed; throws
 * TokenizerError. Work is linear in the number of merges. */
export function checkTokenizerJSON(j: unknown): TokenizerJSON {
  const o = j as Partial<TokenizerJSON> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    Array.isArray(o) ||
    o.type !== 'byte-bpe/1' ||
    !Array.isArray(o.merges) ||
    !Number.isInteger(o.vocabSize)
  ) {
    throw new TokenizerError('tokenizer: expected {"type": "byte-bpe/1", "vocabSize", "merges"}');
  }
  const vocabSize = o.vocabSize as number;
  const merges: unknown[] = o.merges;
  if (vocabSize < 1 || vocabSize > TOKENIZER_LIMITS.maxVocabSize) {
    throw new TokenizerError(`tokenizer: vocabSize must be an integer in [1, ${TOKENIZER_LIMITS.maxVocabSize}], got ${vocabSize}`);
  }
  if (merges.length > vocabSize) throw new TokenizerError(`tokenizer: ${merges.length} merges but a vocabulary of ${vocabSize} tokens`);
  // byte length of every id so far: specials 0, bytes 1, merges the sum of their parts
  const len = new Float64Array(N_BASE + merges.length);
  len.fill(1, BYTE_OFFSET, N_BASE);
  let total = 256;
  for (let r = 0; r < merges.length; r++) {
    const m = merges[r];
    const ok = Array.isArray(m) && m.length === 2 && m.every((x) => Number.isInteger(x) && x >= 0 && x < N_BASE + r);
    if (!ok) throw new TokenizerError(`tokenizer: merge ${r} is not a pair of earlier token ids (${preview(m)})`);
    const n = len[m[0] as number] + len[m[1] as number];
    if (n > TOKENIZER_LIMITS.maxTokenBytes) {
      throw new TokenizerError(
        `tokenizer: token ${N_BASE + r} would be ${n} bytes long (limit ${TOKENIZER_LIMITS.maxTokenBytes}): merges chain into oversized tokens`,
      );
    }
    len[N_BASE + r] = n;
    total += n;
    if (total > TOKENIZER_LIMITS.maxTotalTokenBytes) {
      throw new TokenizerError(
        `tokenizer: its tokens would take more than ${TOKENIZER_LIMITS.maxTotalTokenBytes} bytes together (at merge ${r})`,
      );
    }
  }
  return o as TokenizerJSON;
}

function chunks(text: string): string[] {
  return text.match(CHUNK_RE) ?? [];
}

/** Pair key for id pairs; ids stay < 2^16 (vocabularies of at most 65536). */
function key(a: number, b: number): number {
  return a * 65536 + b;
}

export class Tokenizer implements StudentTokenizer {
  readonly vocabSize: number;
  readonly eosId = EOS_ID;
  readonly padId = PAD_ID;
  private readonly merges: [number, number][];
  private readonly rank = new Map<number, number>(); // pair key -> merge rank
  private readonly bytesOf: Uint8Array[]; // id -> its bytes
  private readonly cache = new Map<string, number[]>();

  private constructor(merges: [number, number][], vocabSize: number) {
    this.merges = merges;
    this.vocabSize = vocabSize;
    this.bytesOf = [new Uint8Array(0), new Uint8Array(0)];
    for (let b = 0; b < 256; b++) this.bytesOf.push(Uint8Array.of(b));
    merges.forEach(([a, b], r) => {
      this.rank.set(key(a, b), r);
      const x = this.bytesOf[a];
      const y = this.bytesOf[b];
      const z = new Uint8Array(x.length + y.length);
      z.set(x);
      z.set(y, x.length);
      this.bytesOf.push(z);
    });
  }

  /** Learns up to vocabSize - 258 merges from the texts. Deterministic: ties
   * go to the smallest pair. */
  static train(texts: Iterable<string>, vocabSize: number): Tokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize < N_BASE || vocabSize > 65536) {
      throw new Error(`vocabulary size must be an integer in [${N_BASE}, 65536], got ${vocabSize}`);
    }
    const freq = new Map<string, number>();
    for (const t of texts) for (const c of chunks(t)) freq.set(c, (freq.get(c) ?? 0) + 1);
    const words: number[][] = [];
    const counts: number[] = [];
    for (const [w, n] of freq) {
      words.push(Array.from(encoder.encode(w), (b) => b + BYTE_OFFSET));
      counts.push(n);
    }
    const pairCount = new Map<number, number>();
    const pairWords = new Map<number, Set<number>>();
    const addWord = (wi: number, sign: 1 | -1): void => {
      const w = words[wi];
      for (let i = 0; i + 1 < w.length; i++) {
        const k = key(w[i], w[i + 1]);
        pairCount.set(k, (pairCount.get(k) ?? 0) + sign * counts[wi]);
        if (sign > 0) {
          let s = pairWords.get(k);
          if (!s) {
            s = new Set();
            pairWords.set(k, s);
          }
          s.add(wi);
        }
      }
    };
    for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);

    const merges: [number, number][] = [];
    // byte length per id: a merge whose token would exceed TOKENIZER_LIMITS
    // is never learned, so that every trained tokenizer loads again
    const len = [0, 0, ...new Array<number>(256).fill(1)];
    let total = 256;
    const fits = (k: number): boolean => {
      const n = len[Math.floor(k / 65536)] + len[k % 65536];
      return n <= TOKENIZER_LIMITS.maxTokenBytes && total + n <= TOKENIZER_LIMITS.maxTotalTokenBytes;
    };
    while (N_BASE + merges.length < vocabSize) {
      let best = -1;
      let bestN = 1; // a pair seen once is not worth a token
      for (const [k, n] of pairCount) if ((n > bestN || (n === bestN && best >= 0 && k < best)) && fits(k)) [best, bestN] = [k, n];
      if (best < 0) break;
      const a = Math.floor(best / 65536);
      const b = best % 65536;
      const id = N_BASE + merges.length;
      merges.push([a, b]);
      len.push(len[a] + len[b]);
      total += len[a] + len[b];
      for (const wi of pairWords.get(best) ?? []) {
        addWord(wi, -1);
        words[wi] = mergeOnce(words[wi], a, b, id);
        addWord(wi, 1);
      }
      pairCount.delete(best);
      pairWords.delete(best);
    }
    return new Tokenizer(merges, vocabSize);
  }

  /** Rebuilds a tokenizer from toJSON()'s output; throws TokenizerError on
   * anything else, before allocating any token (see checkTokenizerJSON). */
  static fromJSON(j: unknown): Tokenizer {
    const o = checkTokenizerJSON(j);
    const merges = o.merges;
    merges.forEach((m, r) => {
      if (!m.every((x) => x >= BYTE_OFFSET))
        throw new TokenizerError(`tokenizer: merge ${r} is not a pair of earlier token ids (${preview(m)}: special tokens do not merge)`);
    });
    if (N_BASE + merges.length > o.vocabSize) throw new TokenizerError('tokenizer: more merges than the vocabulary holds');
    return new Tokenizer(
      merges.map(([a, b]) => [a, b]),
      o.vocabSize,
    );
  }

  toJSON(): TokenizerJSON {
    return { type: 'byte-bpe/1', vocabSize: this.vocabSize, merges: this.merges.map(([a, b]) => [a, b]) };
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const c of chunks(text)) {
      let ids = this.cache.get(c);
      if (!ids) {
        ids = this.encodeChunk(c);
        if (this.cache.size < 100_000) this.cache.set(c, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /** Encodes text so that token boundaries fall exactly on the span's
   * character offsets, and returns the span's token range [start, end). */
  encodeWithSpan(text: string, start: number, end: number): { ids: number[]; spanStart: number; spanEnd: number } {
    if (!(0 <= start && start <= end && end <= text.length))
      throw new Error(`span [${start}, ${end}) outside a text of ${text.length} characters`);
    const a = this.encode(text.slice(0, start));
    const b = this.encode(text.slice(start, end));
    const c = this.encode(text.slice(end));
    return { ids: [...a, ...b, ...c], spanStart: a.length, spanEnd: a.length + b.length };
  }

  promptIds(prompt: string): number[] {
    return this.encode(prompt);
  }

  example(prompt: string, r: { text: string; answerStart: number; answerEnd: number }): EncodedExample {
    const p = this.encode(prompt);
    const e = this.encodeWithSpan(r.text, r.answerStart, r.answerEnd);
    return { ids: [...p, ...e.ids, EOS_ID], promptLen: p.length, spanStart: p.length + e.spanStart, spanEnd: p.length + e.spanEnd };
  }

  decode(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    let n = 0;
    for (const id of ids) {
      const b = this.bytesOf[id];
      if (!b) continue; // ids past the learned merges never appear in real output
      parts.push(b);
      n += b.length;
    }
    const all = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return new TextDecoder().decode(all);
  }

  /** A readable label for one token (for charts and debugging). */
  tokenLabel(id: number): string {
    if (id === PAD_ID) return '<|pad|>';
    if (id === EOS_ID) return '<|eos|>';
    const b = this.bytesOf[id];
    return b ? bytesLabel(b) : '';
  }

  private encodeChunk(c: string): number[] {
    let w = Array.from(encoder.encode(c), (b) => b + BYTE_OFFSET);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < w.length; i++) {
        const r = this.rank.get(key(w[i], w[i + 1]));
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) return w;
      w = mergeOnce(w, w[best], w[best + 1], N_BASE + bestRank);
    }
  }
}

function mergeOnce(w: number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < w.length; i++) {
    if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
      out.push(id);
      i++;
    } else out.push(w[i]);
  }
  return out;
}
