// Bytes to text, incrementally: one streaming TextDecoder, so a 200 MB file
// is never held as one string. Refuses what is not UTF-8 text up front.

import { formatBytes } from '../shared/format';
import { DataError, type Limits } from './limits';

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

export interface DecodeStats {
  bytes: number;
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
  for await (const chunk of chunksOf(source)) {
    if (typeof chunk === 'string') {
      // Already text (a string source or a stream with an encoding set).
      if (chunk.includes('\0')) throw new DataError(`not a text file: NUL character near character ${stats.bytes + chunk.indexOf('\0')} (binary data?)`);
      stats.bytes += chunk.length;
      checkSize(stats.bytes, limits);
      onProgress?.(stats.bytes);
      yield first ? chunk.replace(/^\uFEFF/, '') : chunk;
      first = false;
      continue;
    }
    if (first && chunk.length >= 2 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))) {
      throw new DataError('file is UTF-16 text: save it as UTF-8 (JSON or JSON Lines)');
    }
    const nul = chunk.indexOf(0);
    if (nul >= 0) throw new DataError(`not a text file: NUL byte at byte ${stats.bytes + nul} (binary data?)`);
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
    if (text) yield text;
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
