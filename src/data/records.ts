// From decoded text to parsed records: sniffs JSON array / JSON Lines /
// pretty-printed JSON document and yields each record's value with where it
// came from, or the reason it could not be read.

import { JsonSplitter, scanDepth, type SplitErrorReason } from './jsonSplit';
import { formatBytes } from '../shared/format';
import type { Limits } from './limits';
import { splitLines } from './lines';
import { isSpace, meter } from './scan';

type Container = 'json-array' | 'jsonl' | 'json-document';

type RecordEvent =
  | { kind: 'value'; value: unknown; line: number; index?: number }
  | { kind: 'error'; reason: SplitErrorReason; message: string; line?: number; index?: number };

interface RecordStream {
  /** Known after the first event (or at the end for an empty input). */
  container(): Container | undefined;
  /** Whether any non-whitespace text was seen. */
  sawContent(): boolean;
  events: AsyncGenerator<RecordEvent>;
}

async function* prepend(head: string, rest: AsyncIterator<string>): AsyncGenerator<string> {
  if (head) yield head;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

function tooLarge(size: number, limits: Limits): string {
  return `record of ${formatBytes(size)} is over the ${formatBytes(limits.maxRecordBytes)} record-size limit (limits.maxRecordBytes)`;
}

function parse(text: string): { value: unknown } | { error: string } {
  // A raw NUL is never valid JSON; say so rather than quote it (JSON.parse's
  // message would carry the NUL itself into the report).
  const nul = text.indexOf('\u0000');
  if (nul >= 0)
    return { error: `invalid JSON: NUL character (U+0000) at character ${nul + 1} of the record (binary data in a text file?)` };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return { error: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
}

export function readRecords(text: AsyncIterable<string>, limits: Limits): RecordStream {
  let container: Container | undefined;
  let content = false;

  async function* events(): AsyncGenerator<RecordEvent> {
    const it = text[Symbol.asyncIterator]();
    // Sniff: the first non-blank character, and for "{" the first line.
    // Blank lines before it are only counted (`firstLine`), never kept or
    // scanned again; `head` starts at the line of the first character and
    // each chunk is scanned once.
    let head = '';
    let first = '';
    let start = -1; // index of the first non-blank character in head
    let firstLine = 1;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      const chunk = r.value;
      if (start < 0) {
        let i = 0;
        while (i < chunk.length && isSpace(chunk.charCodeAt(i))) i++;
        const lineStart = chunk.lastIndexOf('\n', i - 1) + 1; // 0 when none (or i = 0)
        for (let nl = chunk.indexOf('\n'); nl >= 0 && nl < lineStart; nl = chunk.indexOf('\n', nl + 1)) firstLine++;
        meter.steps += i + lineStart + 1;
        if (i === chunk.length) continue;
        head = chunk.slice(lineStart);
        start = i - lineStart;
        first = head[start];
        if (first !== '{') break;
        if (head.indexOf('\n', start) >= 0 || head.length - start > limits.maxRecordBytes) break;
        continue;
      }
      // Reading the rest of a first line that starts with "{".
      meter.steps += chunk.length;
      const nl = chunk.indexOf('\n');
      head += chunk;
      if (nl >= 0 || head.length - start > limits.maxRecordBytes) break;
    }
    if (!first) return;
    content = true;

    let document = first === '[';
    if (first === '{') {
      // Pretty-printed JSON ("{" alone, or a line ending inside a value) is
      // one document; a complete first line means JSON Lines.
      const nl = head.indexOf('\n', start);
      const line1 = (nl >= 0 ? head.slice(start, nl) : head.slice(start)).trimEnd();
      const tooLong = nl < 0 && head.length - start > limits.maxRecordBytes;
      document = tooLong || (!scanDepth(line1, limits.maxDepth).balanced && /[{[,:]$/.test(line1));
    }
    const all = prepend(head, it);

    if (document) {
      container = first === '[' ? 'json-array' : 'json-document';
      const splitter = new JsonSplitter(limits.maxRecordBytes, limits.maxDepth, firstLine);
      const convert = function* (evs: ReturnType<JsonSplitter['push']>): Generator<RecordEvent> {
        for (const ev of evs) {
          if (ev.kind === 'error') {
            const message = ev.reason === 'record-too-large' ? tooLarge(ev.size ?? 0, limits) : ev.message;
            yield { kind: 'error', reason: ev.reason, message, line: ev.line, index: ev.index };
            continue;
          }
          const p = parse(ev.text);
          if ('error' in p) yield { kind: 'error', reason: 'invalid-json', message: p.error, line: ev.line, index: ev.index };
          else yield { kind: 'value', value: p.value, line: ev.line, index: ev.index };
        }
      };
      for await (const chunk of all) yield* convert(splitter.push(chunk));
      yield* convert(splitter.end());
      return;
    }

    container = 'jsonl';
    for await (const ev of splitLines(all, limits.maxRecordBytes, firstLine)) {
      if ('tooLong' in ev) {
        yield { kind: 'error', reason: 'record-too-large', message: tooLarge(ev.tooLong, limits), line: ev.line };
        continue;
      }
      if (ev.text.trim() === '') continue;
      if (scanDepth(ev.text, limits.maxDepth).tooDeep) {
        yield { kind: 'error', reason: 'too-deep', message: `JSON nested deeper than ${limits.maxDepth} levels`, line: ev.line };
        continue;
      }
      const p = parse(ev.text);
      if ('error' in p) yield { kind: 'error', reason: 'invalid-json', message: p.error, line: ev.line };
      else yield { kind: 'value', value: p.value, line: ev.line };
    }
  }

  return { container: () => container, sawContent: () => content, events: events() };
}
