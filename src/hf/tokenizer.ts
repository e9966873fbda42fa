// A Hugging Face `tokenizer.json` for pretrained students, over
// `@huggingface/tokenizers` (the Hugging Face JS implementation). Runs in Node
// and in the browser worker alike: no node:* import here.
//
// Exact answer spans without offsets. The library gives no character offsets,
// so a training example is encoded in pieces and the ids are concatenated:
//
//   prompt | rationale before the answer | answer | rationale after the answer | EOS
//
// A piece boundary is exact (the same ids as encoding the whole text) only
// where the pre-tokenizer would cut anyway. Byte-level BPE pre-tokenizers
// (GPT-2, Qwen, LLaMA-3, SmolLM2) attach ONE leading space to the following
// word or number (" 42", " He"), never a trailing one. So pieces are cut
// *before* runs of spaces, and the spaces go with what follows:
//
//  - prompt / rationale: the prompt is encoded without its trailing spaces and
//    those spaces start the rationale ("A: " + "He ..." is encoded as "A:" and
//    " He ..."). Generation must read the prompt the same way, which is what
//    `encodePrompt` does; the student then writes " He ...", as a pretrained
//    model would after "A:".
//  - rationale / answer: the spaces right before the answer belong to the
//    answer piece ("... the answer is" | " 32" | "."). The span reported to the
//    trainer starts at the first answer token that is not whitespace only
//    (GPT-2 has a single token " 32", so there the span's token carries the
//    space; LLaMA-3 and Qwen write " " then "32", and the span is "32").
//
// `encodeTraining` also reports whether the rationale's ids equal the
// tokenizer's own encoding of the whole rationale (`canonical`); with the
// convention above that holds for byte-level BPE on every real rationale we
// tested.
//
// SentencePiece tokenizers (LLaMA-2, TinyLlama: a Prepend("▁") normalizer)
// mark the start of every encoded text, so a piece encoded alone would gain
// a "▁" that the whole text does not have there. A piece that continues a
// text is therefore encoded after a sentinel ("\n", a byte-fallback token no
// merge crosses) whose ids are then cut off (`encodeContinuation`). A
// tokenizer whose pieces join exactly neither way is refused by `fromJSON`.
//
// Our own byte-level BPE exported as tokenizer.json (src/export/tokenizer-json.ts,
// recognised by its Split regex) keeps our convention instead: prompt (with
// its trailing spaces), rationale before the answer, answer and the rest are
// each encoded as they are, exactly as `Tokenizer.example` does, so that a
// from-scratch student exported as a Hugging Face folder and picked again as
// a student trains on the very ids it was trained on.

import { Tokenizer } from '@huggingface/tokenizers';
import { bytesLabel, type EncodedExample, type StudentTokenizer } from '../core/tokenizer';
import { BYTE_TO_UNICODE, MCCKD_SPLIT_REGEX } from '../core/byte-level';
import { regexHazard } from './regex-check';

/** A tokenizer.json or tokenizer_config.json we cannot use, or an input the
 * tokenizer cannot encode. */
export class HfTokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfTokenizerError';
  }
}

interface HfTokenizerOptions {
  /** tokenizer_config.json, when the folder has one. */
  tokenizerConfig?: unknown;
  /** The end token from config.json / generation_config.json (`eos_token_id`;
   * a list there means several end tokens: the first one is used to end
   * training examples). Wins over tokenizer_config's `eos_token`. */
  eosTokenId?: number | readonly number[];
}

/** The pieces of one training example, as text. Their concatenation is the
 * full text the model reads and writes. */
interface TrainingPieces {
  prompt: string;
  rationaleBeforeAnswer: string;
  answer: string;
  rationaleAfter: string;
}

interface EncodedTraining {
  /** prompt ids, rationale ids, then the EOS id. */
  ids: number[];
  /** Number of prompt ids (the rationale starts at this index). */
  promptLen: number;
  /** Token span [answerStart, answerEnd) of the answer inside `ids`. */
  answerStart: number;
  answerEnd: number;
  /** Whether the rationale's ids equal the tokenizer's encoding of the whole
   * rationale text (what the model would produce at inference). */
  canonical: boolean;
}

/** Largest token id accepted (16.7M): a tokenizer.json claiming more is broken
 * or hostile, and the embedding it implies could never be allocated. */
export const MAX_TOKEN_ID = 1 << 24;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

function fail(msg: string): never {
  throw new HfTokenizerError(msg);
}

function checkId(id: unknown, where: string): number {
  if (!isId(id)) fail(`tokenizer.json: ${where} must be a non-negative integer, got ${JSON.stringify(id)}`);
  if (id > MAX_TOKEN_ID) fail(`tokenizer.json: ${where} is ${id}, over the limit of ${MAX_TOKEN_ID}`);
  return id;
}

/** Checks the parts of tokenizer.json the library reads without checking;
 * returns the largest id (vocab and added tokens). */
function validateTokenizerJson(j: unknown): { json: Json; maxId: number } {
  if (!isObject(j)) fail(`tokenizer.json must be a JSON object, got ${describe(j)}`);
  const model = j.model;
  if (model === undefined) fail('tokenizer.json has no "model"');
  if (!isObject(model)) fail(`tokenizer.json: "model" must be an object, got ${describe(model)}`);
  const type = model.type ?? (Array.isArray(model.vocab) ? 'Unigram' : 'merges' in model ? 'BPE' : 'WordPiece');
  if (typeof type !== 'string') fail(`tokenizer.json: "model.type" must be a string, got ${describe(type)}`);
  let maxId = -1;
  const vocab = model.vocab;
  if (type === 'BPE' || type === 'WordPiece') {
    if (!isObject(vocab)) fail(`tokenizer.json: "model.vocab" of a ${type} model must be an object of token → id, got ${describe(vocab)}`);
    const entries = Object.entries(vocab);
    if (entries.length === 0) fail('tokenizer.json: "model.vocab" is empty');
    for (const [tok, id] of entries) maxId = Math.max(maxId, checkId(id, `"model.vocab" id of ${JSON.stringify(tok).slice(0, 40)}`));
    if (type === 'BPE') {
      const merges = model.merges;
      if (!Array.isArray(merges)) fail(`tokenizer.json: "model.merges" must be an array, got ${describe(merges)}`);
      merges.forEach((m, i) => {
        const ok =
          typeof m === 'string'
            ? m.includes(' ')
            : Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string';
        if (!ok) fail(`tokenizer.json: "model.merges[${i}]" must be "a b" or ["a", "b"], got ${JSON.stringify(m)?.slice(0, 60)}`);
      });
    }
  } else if (type === 'Unigram') {
    if (!Array.isArray(vocab) || vocab.length === 0)
      fail(`tokenizer.json: "model.vocab" of a Unigram model must be a non-empty array of [piece, score], got ${describe(vocab)}`);
    vocab.forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number')
        fail(`tokenizer.json: "model.vocab[${i}]" must be [piece, score]`);
    });
    maxId = vocab.length - 1;
  } else {
    fail(`tokenizer.json: model type ${JSON.stringify(type)} is not supported (BPE, WordPiece, Unigram)`);
  }
  const added = j.added_tokens ?? [];
  if (!Array.isArray(added)) fail(`tokenizer.json: "added_tokens" must be an array, got ${describe(added)}`);
  added.forEach((t, i) => {
    if (!isObject(t)) fail(`tokenizer.json: "added_tokens[${i}]" must be an object`);
    if (typeof t.content !== 'string' || t.content === '') fail(`tokenizer.json: "added_tokens[${i}].content" must be a non-empty string`);
    maxId = Math.max(maxId, checkId(t.id, `"added_tokens[${i}].id"`));
  });
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const) {
    const v = j[k];
    if (v !== undefined && v !== null && !isObject(v)) fail(`tokenizer.json: "${k}" must be an object or null, got ${describe(v)}`);
  }
  checkPatterns(j);
  // The library requires these keys to be present (null is fine).
  const json: Json = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...j,
    model: { ...model, type },
    added_tokens: added,
  };
  return { json, maxId };
}

/** Deepest nesting walked when looking for patterns (as MAX_JSON_DEPTH). */
const MAX_PIPELINE_DEPTH = 64;

/** Refuses, naming the field and the pattern, every "Regex" of the
 * normalizer, pre-tokenizer, post-processor and decoder whose work is not
 * bounded (src/hf/regex-check.ts): the library runs them as backtracking
 * RegExps on every text, where one like `(.|.)*%` would never return. */
function checkPatterns(j: Json): void {
  const walk = (v: unknown, at: string, depth: number): void => {
    if (depth > MAX_PIPELINE_DEPTH) fail(`tokenizer.json: ${at} nests more than ${MAX_PIPELINE_DEPTH} levels deep`);
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${at}[${i}]`, depth + 1);
    } else if (isObject(v))
      for (const [k, x] of Object.entries(v)) {
        if (k !== 'Regex') walk(x, `${at}.${k}`, depth + 1);
        else if (typeof x !== 'string') fail(`tokenizer.json: ${at}.Regex must be a string, got ${describe(x)}`);
        else {
          const why = regexHazard(x);
          if (why !== undefined) {
            const shown = x.length > 80 ? `${JSON.stringify(x.slice(0, 77))}...` : JSON.stringify(x);
            fail(`tokenizer.json: ${at}.Regex ${shown} is refused, its work on a text is not bounded: ${why}`);
          }
        }
      }
  };
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const) walk(j[k], k, 0);
}

function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  // Older tokenizer_config.json files store {"__type": "AddedToken", "content": ...}.
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return null;
}

/** Whether a tokenizer.json is our byte-level BPE as src/export/tokenizer-json.ts
 * writes it: a Split on our chunk regex first. */
function isMcckdExport(j: Json): boolean {
  const pre = j.pre_tokenizer;
  if (!isObject(pre) || pre.type !== 'Sequence' || !Array.isArray(pre.pretokenizers)) return false;
  const split: unknown = pre.pretokenizers[0];
  return isObject(split) && split.type === 'Split' && isObject(split.pattern) && split.pattern.Regex === MCCKD_SPLIT_REGEX;
}

const sameIds = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Splits off the run of U+0020 spaces at the end of `s`. */
function trailingSpaces(s: string): [string, string] {
  let i = s.length;
  while (i > 0 && s.charCodeAt(i - 1) === 0x20) i--;
  return [s.slice(0, i), s.slice(i)];
}

export class HfTokenizer implements StudentTokenizer {
  /** Max id + 1 over the model vocab and the added tokens. */
  readonly vocabSize: number;
  /** The id that ends every training example. */
  readonly eosId: number;
  /** tokenizer_config's bos_token as an id, or null (not added by `encode`). */
  readonly bosId: number | null;
  /** Padded positions hold the end token: they are never targets and no real
   * position attends to them (the mask is causal and padding comes last). */
  get padId(): number {
    return this.eosId;
  }

  /** How a piece that continues a text is encoded: as it is (byte-level
   * BPE), or after a sentinel whose ids are cut off (SentencePiece). Set by
   * `probe`. */
  private continuation: { sentinel: string; ids: number[] } | null = null;

  /** Our own BPE exported as tokenizer.json: pieces keep their spaces (see
   * the top of this file). */
  private mcckd = false;

  private constructor(
    private readonly tok: Tokenizer,
    vocabSize: number,
    eosId: number,
    bosId: number | null,
  ) {
    this.vocabSize = vocabSize;
    this.eosId = eosId;
    this.bosId = bosId;
  }

  /** Builds a tokenizer from a parsed tokenizer.json (plus, optionally,
   * tokenizer_config.json and the model's end token). Throws HfTokenizerError
   * naming what is wrong. */
  static fromJSON(tokenizerJson: unknown, opts: HfTokenizerOptions = {}): HfTokenizer {
    const { json, maxId } = validateTokenizerJson(tokenizerJson);
    const config = opts.tokenizerConfig ?? {};
    if (!isObject(config)) fail(`tokenizer_config.json must be a JSON object, got ${describe(config)}`);
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(json, config);
    } catch (e) {
      fail(`tokenizer.json could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
    }
    const vocabSize = maxId + 1;

    const resolve = (field: string): number | null => {
      const v = config[field];
      if (v === undefined || v === null) return null;
      const content = tokenContent(v);
      if (content === null) fail(`tokenizer_config.json: "${field}" must be a token string, got ${describe(v)}`);
      const id = tok.token_to_id(content);
      if (id === undefined) fail(`tokenizer_config.json: ${field} ${JSON.stringify(content)} is not a token of tokenizer.json`);
      return id;
    };

    let eosId: number | null;
    if (opts.eosTokenId !== undefined) {
      const e = opts.eosTokenId;
      const first = Array.isArray(e) ? e[0] : e;
      if (Array.isArray(e) && e.length === 0) fail('eos_token_id is an empty list');
      if (!isId(first)) fail(`eos_token_id must be a non-negative integer, got ${JSON.stringify(first)}`);
      if (first >= vocabSize) fail(`eos_token_id ${first} is outside the tokenizer's ${vocabSize} tokens`);
      eosId = first;
    } else {
      eosId = resolve('eos_token');
    }
    if (eosId === null)
      fail('no end token: config.json / generation_config.json give no eos_token_id and tokenizer_config.json has no eos_token');
    const bosId = resolve('bos_token');

    const t = new HfTokenizer(tok, vocabSize, eosId, bosId);
    t.mcckd = isMcckdExport(json);
    t.probe();
    return t;
  }

  /** Refuses tokenizers whose pieces do not concatenate back to the text;
   * finds how a continuing piece must be encoded. */
  private probe(): void {
    const a = 'Q: Tom has 3 apples.\nA:';
    const b = ' He eats 1, so 2 are left.';
    const whole = this.decode(this.encode(a + b));
    if (whole !== a + b)
      fail(
        `this tokenizer does not give back the text it encoded (${JSON.stringify(a + b)} came back as ${JSON.stringify(whole)}); its normalizer changes text`,
      );
    if (this.decode([...this.encode(a), ...this.encode(b)]) === a + b) return;
    for (const sentinel of ['\n', '\u0000']) {
      this.continuation = { sentinel, ids: this.encode(sentinel) };
      try {
        if (
          this.decode([...this.encode(a), ...this.encodeContinuation(b)]) === a + b &&
          this.decode([...this.encode(a), ...this.encodeContinuation('42')]) === `${a}42`
        )
          return;
      } catch {
        // this sentinel merges with what follows: try the next
      }
    }
    this.continuation = null;
    fail(
      `this tokenizer changes text encoded in pieces (${JSON.stringify(a)} + ${JSON.stringify(b)} came back as ${JSON.stringify(this.decode([...this.encode(a), ...this.encode(b)]))}); answer spans could not be kept exact`,
    );
  }

  /** Ids of `text` as it continues an encoded text: the same as `encode` for
   * byte-level BPE; for SentencePiece without the start-of-text "▁". */
  encodeContinuation(text: string): number[] {
    const c = this.continuation;
    if (!c || text === '') return this.encode(text);
    const ids = this.encode(c.sentinel + text);
    if (!sameIds(ids.slice(0, c.ids.length), c.ids))
      fail(
        `encode: ${JSON.stringify(text.slice(0, 40))} merges with the sentinel ${JSON.stringify(c.sentinel)}; it cannot be encoded as a continuation`,
      );
    return ids.slice(c.ids.length);
  }

  /** Token ids of `text`, without special tokens (no BOS/EOS). */
  encode(text: string): number[] {
    if (typeof text !== 'string') fail(`encode: text must be a string, got ${describe(text)}`);
    if (text === '') return [];
    const { ids } = this.tok.encode(text, { add_special_tokens: false });
    for (const id of ids)
      if (!isId(id)) fail(`encode: the tokenizer has no token for part of ${JSON.stringify(text.slice(0, 60))} and no unk_token`);
    return ids;
  }

  /** The text of `ids`, exactly (no clean-up of spaces; special tokens are
   * written as their text unless `skipSpecial`). */
  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids)
      if (!isId(id) || id >= this.vocabSize) fail(`decode: ${JSON.stringify(id)} is not a token id (vocabulary of ${this.vocabSize})`);
    return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  }

  /** The token string of an id (e.g. "Ġ42"), or undefined. */
  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /** The id of a token string (e.g. "<|endoftext|>"), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** The ids a generation starts from: the prompt without its trailing
   * spaces (they are the start of what the student writes; see the top of
   * this file). Training uses the same ids. */
  encodePrompt(prompt: string): number[] {
    return this.encode(this.mcckd ? prompt : trailingSpaces(prompt)[0]);
  }

  /** One training example from its text pieces: ids = prompt ids, rationale
   * ids, EOS, with the token span of the answer. `decode(ids.slice(0, -1))`
   * is exactly the concatenated pieces. */
  encodeTraining(p: TrainingPieces): EncodedTraining {
    for (const k of ['prompt', 'rationaleBeforeAnswer', 'answer', 'rationaleAfter'] as const) {
      if (typeof p[k] !== 'string') fail(`encodeTraining: ${k} must be a string, got ${describe(p[k])}`);
    }
    if (p.answer.trim() === '') fail('encodeTraining: the answer is empty');
    if (this.mcckd) return this.encodeTrainingAsIs(p);
    const [prompt, promptSpaces] = trailingSpaces(p.prompt);
    const [before, answerSpaces] = trailingSpaces(promptSpaces + p.rationaleBeforeAnswer);
    const answer = answerSpaces + p.answer;
    const promptIds = this.encode(prompt);
    const a = this.encodeContinuation(before);
    const b = this.encodeContinuation(answer);
    const c = this.encodeContinuation(p.rationaleAfter);
    let lead = 0;
    while (lead < b.length - 1 && this.decode([b[lead]]).trim() === '') lead++;
    const rationale = [...a, ...b, ...c];
    const canonical = sameIds(rationale, this.encodeContinuation(before + answer + p.rationaleAfter));
    const s = promptIds.length + a.length;
    return {
      ids: [...promptIds, ...rationale, this.eosId],
      promptLen: promptIds.length,
      answerStart: s + lead,
      answerEnd: s + b.length,
      canonical,
    };
  }

  /** Tokenizer.example's convention: every piece encoded as it is. */
  private encodeTrainingAsIs(p: TrainingPieces): EncodedTraining {
    const promptIds = this.encode(p.prompt);
    const a = this.encode(p.rationaleBeforeAnswer);
    const b = this.encode(p.answer);
    const c = this.encode(p.rationaleAfter);
    const rationale = [...a, ...b, ...c];
    const canonical = sameIds(rationale, this.encode(p.rationaleBeforeAnswer + p.answer + p.rationaleAfter));
    const s = promptIds.length + a.length;
    return {
      ids: [...promptIds, ...rationale, this.eosId],
      promptLen: promptIds.length,
      answerStart: s,
      answerEnd: s + b.length,
      canonical,
    };
  }

  /** `encodeTraining` for a curated rationale (`text` with the character span
   * [answerStart, answerEnd) of its answer) after a prompt. */
  encodeRationale(prompt: string, r: { text: string; answerStart: number; answerEnd: number }): EncodedTraining {
    const { text, answerStart: s, answerEnd: e } = r;
    if (!(Number.isInteger(s) && Number.isInteger(e) && 0 <= s && s < e && e <= text.length))
      fail(`answer span [${s}, ${e}) is not inside a rationale of ${text.length} characters`);
    return this.encodeTraining({
      prompt,
      rationaleBeforeAnswer: text.slice(0, s),
      answer: text.slice(s, e),
      rationaleAfter: text.slice(e),
    });
  }

  promptIds(prompt: string): number[] {
    return this.encodePrompt(prompt);
  }

  example(prompt: string, r: { text: string; answerStart: number; answerEnd: number }): EncodedExample {
    const e = this.encodeRationale(prompt, r);
    return { ids: e.ids, promptLen: e.promptLen, spanStart: e.answerStart, spanEnd: e.answerEnd };
  }

  tokenLabel(id: number): string {
    const text = this.decode([id]);
    if (!text.includes('\uFFFD')) return text;
    // part of a character: show the token's bytes (see bytesLabel)
    const bytes = pieceBytes(this.tok.id_to_token(id) ?? '');
    return bytes ? bytesLabel(bytes) : text;
  }
}

const UNICODE_TO_BYTE = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

/** The bytes a vocabulary entry stands for, when they can be read from it:
 * a SentencePiece byte-fallback token ("<0xE2>") or a byte-level BPE token
 * (GPT-2's byte-to-unicode alphabet, "âĤ" = E2 82); null for anything else. */
export function pieceBytes(piece: string): Uint8Array | null {
  const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  if (m) return Uint8Array.of(parseInt(m[1], 16));
  if (piece === '') return null;
  const out: number[] = [];
  for (const c of piece) {
    const b = UNICODE_TO_BYTE.get(c);
    if (b === undefined) return null;
    out.push(b);
  }
  return Uint8Array.from(out);
}
