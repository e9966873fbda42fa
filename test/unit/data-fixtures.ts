// Helpers for the data-pipeline tests: fixtures are built in memory (or
// written to os.tmpdir()), never copied from ../shared/data.

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const enc = new TextEncoder();

/** Splits bytes into fixed-size chunks, as a stream would deliver them. */
export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

export function jsonl(rows: unknown[], eol = '\n'): string {
  return rows.map((r) => JSON.stringify(r)).join(eol) + eol;
}

export function tmpFile(name: string, content: string | Uint8Array): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mcckd-data-'));
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

/** Rationales that differ enough to pass the diversity filter. */
export const R32 = [
  'He found 15 + 18 = 33 items at the park. He has 67 - 35 = 32 more wrappers. Therefore, the answer is 32.',
  'Wrappers minus caps: sixty seven take away thirty five leaves 32 extra wrappers.\nSo the answer is 32.',
  'Count the difference directly: 67 wrappers versus 35 caps gives a gap of 32.',
  'The collection holds 67 wrappers and 35 bottle caps; 67 - 35 = 29. The answer is 29.',
];

export const Q1 = 'Danny has 67 wrappers and 35 bottle caps. How many more wrappers than bottle caps does he have?';
export const Q2 = 'Paco had 8 sweet cookies and ate 20 salty ones. How many cookies did he eat?';
export const R20 = ['He ate 20 salty cookies, so the number eaten is 20.', 'Paco only ate salty cookies: twenty of them, that is 20.'];
