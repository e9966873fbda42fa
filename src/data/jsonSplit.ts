// Incremental splitter for JSON documents: yields the text of each element of
// a top-level array (or of the "data" array of a {"metadata", "data": [...]}
// wrapper, or each top-level object) without ever holding the whole document.
// It tracks only strings, escapes and bracket depth; each element's text is
// then handed to JSON.parse, which reports the exact syntax errors.

import { meter } from './scan';

export type SplitErrorReason = 'record-too-large' | 'too-deep' | 'invalid-json' | 'truncated';

export type SplitEvent =
  | { kind: 'element'; text: string; line: number; index: number }
  | { kind: 'error'; reason: SplitErrorReason; message: string; line: number; index?: number; size?: number };

const QUOTE = 34; // "
const BACKSLASH = 92;
const NEWLINE = 10;
const COMMA = 44;
const COLON = 58;
const OPEN_OBJ = 123;
const CLOSE_OBJ = 125;
const OPEN_ARR = 91;
const CLOSE_ARR = 93;

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

export class JsonSplitter {
  /** What the document turned out to be, once its first value started. */
  container: 'array' | 'wrapper' | 'objects' | 'unknown' = 'unknown';

  private depth = 0;
  private inString = false;
  private escape = false;
  private line: number;
  private nextIndex = 0;
  private out: SplitEvent[] = [];

  // Depth whose direct children are records: 1 in a top-level array, 2 in a
  // wrapper's "data" array, 0 when top-level objects are the records.
  private recDepth = -1;
  private topIsArray = false;
  private topArrayClosed = false;
  private garbageReported = false;

  // Record being read.
  private inRec = false;
  private recParts: string[] = [];
  private recLen = 0;
  private recLine = 0;
  private recIndex = 0;
  private recTooBig = false;
  private recTooDeep = false;

  // Key tracking inside a top-level object, to find its "data" array.
  private keyBuf = '';
  private capturingKey = false;
  private lastKey = '';
  private afterColon = false;

  /** `firstLine`: the line number of the first character pushed. */
  constructor(
    private readonly maxRecordChars: number,
    private readonly maxDepth: number,
    firstLine = 1,
  ) {
    this.line = firstLine;
  }

  push(chunk: string): SplitEvent[] {
    meter.steps += chunk.length;
    let start = this.inRec ? 0 : -1; // where the open record's text begins in this chunk
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === NEWLINE) this.line++;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === BACKSLASH) this.escape = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.capturingKey) {
            this.capturingKey = false;
            this.lastKey = this.keyBuf;
            this.afterColon = false;
          }
        } else if (this.capturingKey && this.keyBuf.length < 32) this.keyBuf += chunk[i];
        continue;
      }
      if (isSpace(c)) continue;

      // Between records at the record depth: separators, or a record starts.
      if (!this.inRec && this.depth === this.recDepth && this.recDepth > 0) {
        if (c === COMMA) continue;
        if (c === CLOSE_ARR) {
          this.closeBracket();
          continue;
        }
        this.openRecord();
        start = i;
      } else if (this.depth === 0 && !this.inRec) {
        if (this.topArrayClosed || (c !== OPEN_ARR && c !== OPEN_OBJ)) {
          if (!this.garbageReported) {
            this.garbageReported = true;
            // JSON.stringify: a NUL or control character is shown escaped.
            const what = this.topArrayClosed
              ? 'text after the end of the JSON array'
              : `unexpected ${JSON.stringify(chunk[i])} outside any JSON value`;
            this.out.push({ kind: 'error', reason: 'invalid-json', message: what, line: this.line });
          }
          continue;
        }
        if (c === OPEN_ARR) {
          this.topIsArray = true;
          this.recDepth = 1;
          if (this.container === 'unknown') this.container = 'array';
        } else {
          // A top-level object is a record itself unless it holds "data": [...].
          this.recDepth = 0;
          this.openRecord();
          start = i;
          if (this.container === 'unknown') this.container = 'objects';
        }
      }

      if (this.inRec && this.depth === this.recDepth && this.recDepth > 0 && (c === COMMA || c === CLOSE_ARR)) {
        this.appendText(chunk, start, i);
        start = -1;
        this.closeRecord();
        if (c === CLOSE_ARR) this.closeBracket();
        continue;
      }

      if (c === QUOTE) {
        this.inString = true;
        if (this.depth === 1 && this.recDepth === 0) {
          this.capturingKey = !this.afterColon || this.lastKey === '';
          this.keyBuf = '';
          if (!this.capturingKey) this.lastKey = '';
        }
      } else if (c === COLON) {
        if (this.depth === 1) this.afterColon = true;
      } else if (c === COMMA) {
        if (this.depth === 1) {
          this.lastKey = '';
          this.afterColon = false;
        }
      } else if (c === OPEN_OBJ || c === OPEN_ARR) {
        if (c === OPEN_ARR && this.depth === 1 && this.recDepth === 0 && this.lastKey === 'data' && this.afterColon) {
          // The wrapper's data array: its elements are the records.
          this.inRec = false;
          this.recParts = [];
          start = -1;
          this.recDepth = 2;
          this.nextIndex = this.recIndex; // the wrapper is not a record: data[0] is index 0
          this.container = 'wrapper';
        }
        this.depth++;
        if (this.depth > this.maxDepth + Math.max(this.recDepth, 0) && this.inRec) this.recTooDeep = true;
      } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
        this.closeBracket();
        if (this.inRec && this.recDepth === 0 && this.depth === 0) {
          this.appendText(chunk, start, i + 1);
          start = -1;
          this.closeRecord();
        }
      }
    }
    if (this.inRec && start >= 0) this.appendText(chunk, start, chunk.length);
    return this.drain();
  }

  end(): SplitEvent[] {
    if (this.inRec) {
      const balanced = !this.inString && this.depth === this.recDepth && this.recDepth > 0;
      if (balanced) this.closeRecord();
      else {
        this.out.push({
          kind: 'error',
          reason: 'truncated',
          message: 'file ends inside this record (unterminated string or missing closing bracket)',
          line: this.recLine,
          index: this.recIndex,
        });
        this.inRec = false;
      }
    }
    if (this.topIsArray && !this.topArrayClosed) {
      this.out.push({
        kind: 'error',
        reason: 'truncated',
        message: 'file ends before the JSON array is closed (missing "]")',
        line: this.line,
      });
    }
    return this.drain();
  }

  private drain(): SplitEvent[] {
    const ev = this.out;
    this.out = [];
    return ev;
  }

  private closeBracket(): void {
    this.depth = Math.max(0, this.depth - 1);
    if (this.recDepth === 2 && this.depth === 1) {
      // Wrapper's data array closed: the rest of the object is metadata.
      this.recDepth = -2;
    }
    if (this.depth === 0 && this.topIsArray) this.topArrayClosed = true;
    if (this.depth === 0 && this.recDepth === -2) this.recDepth = -1;
    if (this.depth === 0) {
      this.lastKey = '';
      this.afterColon = false;
    }
  }

  private openRecord(): void {
    this.inRec = true;
    this.recParts = [];
    this.recLen = 0;
    this.recLine = this.line;
    this.recIndex = this.nextIndex++;
    this.recTooBig = false;
    this.recTooDeep = false;
    if (this.recDepth === 0) {
      this.lastKey = '';
      this.afterColon = false;
    }
  }

  private appendText(chunk: string, from: number, to: number): void {
    if (from < 0 || to <= from) return;
    this.recLen += to - from;
    if (this.recTooBig || this.recTooDeep) return;
    if (this.recLen > this.maxRecordChars) {
      this.recTooBig = true;
      this.recParts = [];
      return;
    }
    this.recParts.push(chunk.slice(from, to));
  }

  private closeRecord(): void {
    this.inRec = false;
    const where = { line: this.recLine, index: this.recIndex };
    if (this.recTooBig) {
      this.out.push({ kind: 'error', reason: 'record-too-large', message: '', size: this.recLen, ...where });
    } else if (this.recTooDeep) {
      this.out.push({ kind: 'error', reason: 'too-deep', message: `JSON nested deeper than ${this.maxDepth} levels`, ...where });
    } else {
      this.out.push({ kind: 'element', text: this.recParts.join('').trim(), ...where });
    }
    this.recParts = [];
  }
}

/** Whether a JSON text nests deeper than `max`, and whether it ends
 * balanced (outside strings, every bracket closed). For JSON Lines, where
 * JSON.parse sees each line whole. */
export function scanDepth(text: string, max: number): { tooDeep: boolean; balanced: boolean } {
  meter.steps += text.length;
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === BACKSLASH) escaped = true;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_OBJ || c === OPEN_ARR) {
      if (++depth > max) return { tooDeep: true, balanced: false };
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) depth--;
  }
  return { tooDeep: false, balanced: depth === 0 && !inString };
}
