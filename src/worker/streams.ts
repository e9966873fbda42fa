// Byte sources for the data pipeline: a picked File or one of our demo files,
// as AsyncIterable<Uint8Array> (what readTeacherFile takes), read in the worker
// so that a large file never blocks the page.

import type { DataSource } from './protocol';

/** Iterates a ReadableStream through its reader (async iteration of streams
 * is not in every browser we care about) and releases it on early exit. */
export async function* iterateStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value) yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

interface OpenedSource {
  name: string;
  /** Total bytes, 0 when the server did not say. */
  bytes: number;
  stream: ReadableStream<Uint8Array>;
}

/** Our demo files live next to the app (public/demo), so the URL is built
 * from the app's base: no request ever leaves this origin. */
function demoUrl(file: 'train.jsonl' | 'test.jsonl'): string {
  return new URL(`${import.meta.env.BASE_URL}demo/${file}`, self.location.origin).href;
}

async function openUrl(url: string, name: string): Promise<OpenedSource> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`could not load ${name}: HTTP ${res.status} ${res.statusText}`.trim());
  return { name, bytes: Number(res.headers.get('content-length') ?? 0) || 0, stream: res.body };
}

export async function openSource(src: DataSource, demoFile: 'train.jsonl' | 'test.jsonl'): Promise<OpenedSource> {
  if (src.kind === 'file') return { name: src.file.name, bytes: src.file.size, stream: src.file.stream() };
  return openUrl(demoUrl(demoFile), `demo/${demoFile}`);
}
