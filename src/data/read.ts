// Shared reading loop of teacher and evaluation files: bytes -> records ->
// format adapters -> question groups, every bad record reported.

import { decodeText, type Source } from './decode';
import { adapt, detectFormat, isRecord, ONE_RECORD_PER_QUESTION, type FormatName, type Rec } from './formats';
import { Grouper } from './group';
import type { Limits } from './limits';
import { readRecords } from './records';
import { DataError, type ReportBuilder, type Where } from './report';

interface ReadResult {
  grouper: Grouper;
  format: FormatName | undefined;
  /** Records that gave a usable item. */
  usable: number;
}

/** A field name as shown in a message: control characters escaped, cut
 * at 40 characters (a key may be any JSON string). */
function shownKey(k: string): string {
  const short = k.length > 40 ? `${k.slice(0, 40)}…` : k;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point (they are escaped for display)
  return short.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A {metadata, data: [...]} wrapper met as one line or one element. */
function unwrap(v: Rec): unknown[] | undefined {
  return Array.isArray(v.data) && detectFormat(v) === null ? v.data : undefined;
}

export async function readAll(
  source: Source,
  limits: Limits,
  rb: ReportBuilder,
  withRationales: boolean,
  onProgress?: (bytesRead: number) => void,
): Promise<ReadResult> {
  const stats = { bytes: 0 };
  const stream = readRecords(decodeText(source, limits, stats, onProgress), limits);
  const grouper = new Grouper(limits.maxRationalesPerQuestion);
  const r = rb.report;
  let format: FormatName | undefined;
  let usable = 0;

  // Counted as they come: past the cap, reading stops (the rest is never
  // pulled from the source), so neither a huge file nor an endless stream
  // can make the reader hold more.
  const count = (where: Where): void => {
    if (r.records >= limits.maxRecords) {
      const cap = limits.maxRecords.toLocaleString('en-US');
      throw new DataError(
        `file has more than ${cap} records (limits.maxRecords): reading stopped at line ${where.line}; split it into files of at most ${cap} records`,
      );
    }
    r.records++;
  };

  const handle = (value: unknown, where: Where): void => {
    count(where);
    if (!isRecord(value)) {
      const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
      rb.reject('wrong-type', { ...where, message: `record is ${kind}, expected a JSON object` });
      return;
    }
    const detected = detectFormat(value);
    format ??= detected ?? undefined;
    if (!format) {
      const keys = Object.keys(value).slice(0, 8).map(shownKey).join(', ');
      rb.reject('unrecognised-record', { ...where, message: `no accepted format has these fields: {${keys}}` });
      return;
    }
    const res = adapt(format, value, withRationales, limits.maxTextChars);
    r.rationalesIn += res.rationalesSeen;
    for (const p of res.problems) {
      rb.error({ ...where, field: p.field, message: p.message });
      rb.drop(p.reason, { ...where, text: p.message });
    }
    if (!res.item) {
      if (res.problems.length === 0) rb.reject('missing-field', { ...where, message: 'record has no question or answer' });
      rb.drop('unusable-record', where);
      return;
    }
    usable++;
    grouper.add(res.item, where);
  };

  for await (const ev of stream.events) {
    if (ev.kind === 'error') {
      count({ line: ev.line, index: ev.index });
      rb.reject(ev.reason, { line: ev.line, index: ev.index, message: ev.message });
      continue;
    }
    const inner = isRecord(ev.value) ? unwrap(ev.value) : undefined;
    if (inner) for (const [i, v] of inner.entries()) handle(v, { line: ev.line, index: i });
    else handle(ev.value, { line: ev.line, index: ev.index });
  }

  grouper.finish();
  r.bytes = stats.bytes;
  const container = stream.container();
  r.container = container ?? 'none';
  r.format = format ?? 'unknown';
  r.questionsIn = grouper.groups.length;
  if (format && ONE_RECORD_PER_QUESTION.has(format)) r.mergedDuplicates = grouper.merged;
  for (const o of grouper.overLimit) {
    rb.error({
      ...o.where,
      field: 'rationales',
      message: `${o.count} rationales over the ${limits.maxRationalesPerQuestion} per question limit (limits.maxRationalesPerQuestion)`,
    });
    rb.drop('over-rationale-limit', { ...o.where, question: o.question }, o.count);
  }
  return { grouper, format, usable };
}
