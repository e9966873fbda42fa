// Our byte-level BPE (src/core/tokenizer.ts) written as a Hugging Face
// `tokenizer.json` + `tokenizer_config.json`, so that transformers,
// transformers.js and `@huggingface/tokenizers` encode a text to the same ids
// as `Tokenizer.encode` (test/unit/export-tokenizer.test.ts checks that on the
// real teacher files and on random unicode).
//
// How each part of ours is expressed in their schema:
//  - chunks: a Split pre-tokenizer (behavior Isolated) with CHUNK_RE's source,
//    then ByteLevel with use_regex false (its own GPT-2 regex would split the
//    chunks again, differently).
//  - `\s` is spelled out. The two libraries read `\s` as Unicode White_Space
//    (Oniguruma's meaning; tokenizers.js rewrites it to \p{White_Space}), but
//    our CHUNK_RE is a JavaScript regex, whose `\s` also holds U+FEFF and lacks
//    U+0085: with `\s` in the JSON, "\uFEFF" and "\u0085" would be chunked
//    differently. The class in src/core/byte-level.ts is JavaScript's `\s`, written with escapes
//    that JavaScript, Oniguruma (Ruby syntax, what Python's tokenizers uses)
//    and Rust's regex / fancy-regex all read the same way (`\x0B`, `\uHHHH`).
//  - ids: a vocab in GPT-2's byte-to-unicode alphabet, 0 and 1 the specials,
//    2..257 the bytes, 258.. the merges in rank order. Both sides merge the
//    lowest-ranked pair first, leftmost first, and a merge's parts always rank
//    before it, so the same ranks give the same ids -- provided every token's
//    string is unique (see `duplicateMerges`).

import { BYTE_TO_UNICODE, MCCKD_SPLIT_REGEX } from '../core/byte-level';
import { EOS_ID, PAD_ID, type TokenizerJSON, checkTokenizerJSON } from '../core/tokenizer';

export const PAD_TOKEN = '<|pad|>';
export const EOS_TOKEN = '<|eos|>';

const BYTE_OFFSET = 2;
const N_BASE = 256 + BYTE_OFFSET;

/** A tokenizer that has no faithful tokenizer.json. */
export class TokenizerExportError extends Error {
  override readonly name = 'TokenizerExportError';
}

/** Token strings (byte-to-unicode) of every id, specials as their names. */
function tokenStrings(t: TokenizerJSON): string[] {
  const s = [PAD_TOKEN, EOS_TOKEN, ...BYTE_TO_UNICODE];
  for (const [a, b] of t.merges) s.push(s[a] + s[b]);
  return s;
}

/** Merges whose token has the same bytes as an earlier token, as
 * [id, earlier id]. A tokenizer.json maps a string to one id, so such a
 * tokenizer cannot be exported: the later id would never be produced by
 * their side while ours produces it.
 *
 * `Tokenizer.train` should never learn one: it applies every merge to every
 * word, left to right, so the bytes of a string S, while no token crosses
 * S's edges, are segmented the same way in every word (a pair reaching over
 * an edge would be merged into a crossing token, and crossing tokens never
 * split again); so where S was first joined as (x, y), every other clean
 * occurrence of S was x|y too and was joined at that merge. None was found
 * on the real teacher files (2000 to 16000 tokens) nor in 1.8 million random
 * small corpora. A description from elsewhere (an imported checkpoint) can
 * still hold one, e.g. (b, c), (a, bc), (a, b), (ab, c). */
export function duplicateMerges(t: TokenizerJSON): [number, number][] {
  const s = tokenStrings(t);
  const first = new Map<string, number>();
  const dups: [number, number][] = [];
  for (let id = BYTE_OFFSET; id < s.length; id++) {
    const prev = first.get(s[id]);
    if (prev === undefined) first.set(s[id], id);
    else dups.push([id, prev]);
  }
  return dups;
}

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/** tokenizer.json and tokenizer_config.json for our byte-level BPE. Throws
 * TokenizerExportError when two tokens have the same bytes (see
 * duplicateMerges), and TokenizerError for a malformed description. */
export function bpeTokenizerFiles(t: TokenizerJSON): { tokenizerJson: unknown; tokenizerConfig: unknown } {
  checkTokenizerJSON(t);
  t.merges.forEach((m, r) => {
    if (m[0] < BYTE_OFFSET || m[1] < BYTE_OFFSET)
      throw new TokenizerExportError(`tokenizer: merge ${r} (${JSON.stringify(m)}) joins a special token`);
  });
  const dups = duplicateMerges(t);
  if (dups.length > 0) {
    const [id, prev] = dups[0];
    throw new TokenizerExportError(
      `tokenizer: token ${id} (merge ${id - N_BASE}) has the same bytes as token ${prev}` +
        `${dups.length > 1 ? ` (and ${dups.length - 1} more such merges)` : ''}; a Hugging Face tokenizer.json maps one string to one id, so it cannot encode as this tokenizer does`,
    );
  }
  const s = tokenStrings(t);
  const vocab: Record<string, number> = {};
  s.forEach((tok, id) => {
    vocab[tok] = id;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(PAD_ID, PAD_TOKEN), special(EOS_ID, EOS_TOKEN)],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: MCCKD_SPLIT_REGEX }, behavior: 'Isolated', invert: false }, byteLevel],
    },
    post_processor: null,
    decoder: { ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: t.merges.map(([a, b]) => `${s[a]} ${s[b]}`),
    },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    eos_token: EOS_TOKEN,
    pad_token: PAD_TOKEN,
    bos_token: null,
    unk_token: null,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
  };
  return { tokenizerJson, tokenizerConfig };
}
