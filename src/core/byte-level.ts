// The byte-level tables our BPE shares with Hugging Face's tokenizer.json:
// export/tokenizer-json.ts writes them, hf/tokenizer.ts recognizes them, so
// they live below both.

/** JavaScript's `\s` (ECMAScript WhiteSpace and LineTerminator) as a class body. */
const JS_WHITESPACE = '\\t\\n\\x0B\\f\\r \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF';
/** The same without "\n" (CHUNK_RE's `[^\S\n]`). */
const JS_WHITESPACE_NO_LF = '\\t\\x0B\\f\\r \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF';

/** CHUNK_RE of src/core/tokenizer.ts, `/ ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\n|[^\S\n]+/gu`,
 * with `\s` spelled out (why: the top of src/export/tokenizer-json.ts). */
export const MCCKD_SPLIT_REGEX = ` ?\\p{L}+|\\p{N}| ?[^${JS_WHITESPACE}\\p{L}\\p{N}]+|\\n|[${JS_WHITESPACE_NO_LF}]+`;

/** GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for
 * themselves, the others for U+0100.. in byte order. No byte maps to a space,
 * so "a b" merge strings are unambiguous. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(printable(b) ? b : 256 + n++));
  return out;
})();
