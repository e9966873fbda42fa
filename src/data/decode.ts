// Bytes to text, incrementally: one streaming TextDecoder, so a 200 MB file
// is never held as one string. Refuses what is not UTF-8 text: binary data
// and UTF-16, judged on the first 4 KB, and invalid UTF-8 anywhere. A stray
// NUL byte is not binary data: it goes on to the record reader, which
// reports its line as invalid JSON and keeps the other records.

import { formatBytes } from '../shared/format';
import type { Limits } from './limits';
import { DataError } from './report';
import { meter } from './scan';

export type Source = AsyncIterable<Uint8Array | string> | Uint8Array | string;

/** Slices of an in-memory input, so strings and buffers go through the same
 * incremental path as streams (and tests can pick the chunk size). */
const SLICE = 1 << 20;

async function* chunksOf(source: Source): AsyncGenerator<Uint8Array | string> {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    for (let i = 0; i < source.length || i === 0; i += SLICE) {
      yield source.slice(i, i + SLICE);
      if (source.length === 0) return;
    }
    return;
  }
  yield* source;
}

/** Offset of the first byte that breaks UTF-8 in `b`, or -1 (used only to
 * word the refusal; TextDecoder does the actual validation). */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length) return -1; // cut by the chunk boundary, not invalid yet
      if ((b[i + k] & 0xc0) !== 0x80) return i;
    }
    i += n + 1;
  }
  return -1;
}

interface DecodeStats {
  bytes: number;
}

/** How much of the start of the input decides "binary or text". */
const SNIFF = 4096;

/** C0 control characters that do not occur in text files: NUL and the like,
 * but not tab, line breaks, form feed or ESC (coloured logs). */
function isControl(c: number): boolean {
  return c < 0x20 && c !== 9 && c !== 10 && c !== 11 && c !== 12 && c !== 13 && c !== 0x1b;
}

/** Statistics of the first SNIFF bytes (or characters) of the input, which
 * may arrive in chunks of any size. */
class Sniffer {
  seen = 0;
  controls = 0;
  firstNul = -1;
  firstControl = -1;
  firstControlValue = 0;
  /** NUL bytes at even and odd offsets: UTF-16 without a byte-order mark
   * has one in every other byte of its ASCII text. */
  nulEven = 0;
  nulOdd = 0;
  bytes = true;
  head: number[] = [];

  add(chunk: Uint8Array | string): void {
    const n = Math.min(chunk.length, SNIFF - this.seen);
    if (typeof chunk === 'string') this.bytes = false;
    for (let i = 0; i < n; i++) {
      const c = typeof chunk === 'string' ? chunk.charCodeAt(i) : chunk[i];
      const at = this.seen + i;
      if (at < 2) this.head.push(c);
      if (!isControl(c)) continue;
      this.controls++;
      if (this.firstControl < 0) {
        this.firstControl = at;
        this.firstControlValue = c;
      }
      if (c !== 0) continue;
      if (this.firstNul < 0) this.firstNul = at;
      if (at % 2 === 0) this.nulEven++;
      else this.nulOdd++;
    }
    this.seen += n;
  }

  /** Throws when the start of the input is not UTF-8 text: a UTF-16
   * byte-order mark or pattern, or control bytes in more than one in ten of
   * its first 4 KB (binary data). A NUL byte here and there is one invalid
   * record, reported with its line by the record reader. */
  check(): void {
    const [a, b] = this.head;
    const utf16Bom = (a === 0xff && b === 0xfe) || (a === 0xfe && b === 0xff);
    const pairs = this.seen / 2;
    const utf16Pattern =
      this.seen >= 16 && Math.max(this.nulEven, this.nulOdd) >= 0.4 * pairs && Math.min(this.nulEven, this.nulOdd) <= 0.05 * pairs;
    if (this.bytes && (utf16Bom || utf16Pattern)) throw new DataError('file is UTF-16 text: save it as UTF-8 (JSON or JSON Lines)');
    if (this.controls * 10 <= this.seen) return;
    const unit = this.bytes ? 'byte' : 'character';
    if (this.firstNul >= 0) throw new DataError(`not a text file: NUL ${unit} at ${unit} ${this.firstNul} (binary data?)`);
    const hex = this.firstControlValue.toString(16).padStart(2, '0');
    throw new DataError(`not a text file: control ${unit} 0x${hex} at ${unit} ${this.firstControl} (binary data?)`);
  }
}

/** Yields decoded text chunks (BOM removed; CR left for the line splitter). */
export async function* decodeText(
  source: Source,
  limits: Limits,
  stats: DecodeStats,
  onProgress?: (bytesRead: number) => void,
): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let first = true;

  const decode = (chunk: Uint8Array | string): string => {
    meter.steps += chunk.length;
    if (typeof chunk === 'string') {
      // Already text (a string source or a stream with an encoding set).
      stats.bytes += chunk.length;
      checkSize(stats.bytes, limits);
      onProgress?.(stats.bytes);
      const text = first ? chunk.replace(/^\uFEFF/, '') : chunk;
      first = false;
      return text;
    }
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      const at = firstInvalidUtf8(chunk);
      throw new DataError(`not UTF-8 text: invalid byte sequence at byte ${stats.bytes + Math.max(at, 0)}`);
    }
    stats.bytes += chunk.length;
    checkSize(stats.bytes, limits);
    onProgress?.(stats.bytes);
    first = false;
    return text;
  };

  // The first 4 KB are held back until they are known to be text.
  const sniffer = new Sniffer();
  let held: (Uint8Array | string)[] | null = [];
  for await (const chunk of chunksOf(source)) {
    if (held) {
      sniffer.add(chunk);
      held.push(chunk);
      if (sniffer.seen < SNIFF) continue;
      sniffer.check();
      for (const c of held) {
        const text = decode(c);
        if (text) yield text;
      }
      held = null;
      continue;
    }
    const text = decode(chunk);
    if (text) yield text;
  }
  if (held) {
    sniffer.check();
    for (const c of held) {
      const text = decode(c);
      if (text) yield text;
    }
  }
  let tail: string;
  try {
    tail = decoder.decode();
  } catch {
    throw new DataError(`not UTF-8 text: file ends inside a multi-byte character (byte ${stats.bytes})`);
  }
  if (tail) yield tail;
}

function checkSize(bytes: number, limits: Limits): void {
  if (bytes > limits.maxFileBytes) {
    throw new DataError(`file is over the ${formatBytes(limits.maxFileBytes)} size limit (limits.maxFileBytes)`);
  }
}
