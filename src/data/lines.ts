// Incremental line splitter for JSON Lines (LF or CRLF). A line over the
// limit is not buffered: only its length is counted, then it is reported.

import { meter } from './scan';

type LineEvent = { line: number; text: string } | { line: number; tooLong: number };

/** Lines of `chunks`, numbered from `firstLine` (the reader counts blank
 * lines before the first record without passing them on). */
export async function* splitLines(chunks: AsyncIterable<string>, maxChars: number, firstLine = 1): AsyncGenerator<LineEvent> {
  let parts: string[] = [];
  let len = 0;
  let overflow = false;
  let line = firstLine;
  for await (const chunk of chunks) {
    meter.steps += chunk.length;
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', pos);
      const end = nl < 0 ? chunk.length : nl;
      len += end - pos;
      if (!overflow && len > maxChars) {
        overflow = true;
        parts = [];
      }
      if (!overflow && end > pos) parts.push(chunk.slice(pos, end));
      if (nl < 0) break;
      yield finish();
      pos = nl + 1;
    }
  }
  if (len > 0 || overflow) yield finish();

  function finish(): LineEvent {
    const ev: LineEvent = overflow ? { line, tooLong: len } : { line, text: parts.join('').replace(/\r$/, '') };
    parts = [];
    len = 0;
    overflow = false;
    line++;
    return ev;
  }
}
