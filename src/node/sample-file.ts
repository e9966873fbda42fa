// The CLI's sample store: an append-only JSON Lines file of SampleRecords,
// one line per sample, each line flushed to disk (datasync) before the
// runner counts the sample as done. A line torn by a kill mid-write is the
// last one: it is ignored with a warning and cut off before the next append,
// so that the file stays one record a line. Any other unreadable line is a
// damaged file and is refused, naming its line.

import { existsSync } from 'node:fs';
import { type FileHandle, open, readFile, truncate } from 'node:fs/promises';
import { parseSampleLine } from '../teach/records';
import type { SampleRecord, SampleStore } from '../teach/types';

/** The samples file of a --out file: OUT without .jsonl/.json + .samples.jsonl. */
export function samplesPathOf(out: string): string {
  return `${out.replace(/\.(jsonl|json)$/i, '')}.samples.jsonl`;
}

export class SampleFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SampleFileError';
  }
}

export class JsonlSampleStore implements SampleStore {
  private fh: FileHandle | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly onWarning: (message: string) => void = () => {},
  ) {}

  async load(): Promise<SampleRecord[]> {
    if (!existsSync(this.path)) return [];
    const buf = await readFile(this.path);
    const text = buf.toString('utf8');
    const out: SampleRecord[] = [];
    let start = 0;
    let line = 0;
    while (start < text.length) {
      line++;
      const nl = text.indexOf('\n', start);
      if (nl < 0) {
        // No newline: the write of this line was cut short.
        const keep = Buffer.byteLength(text.slice(0, start), 'utf8');
        this.onWarning(`${this.path}: line ${line} is incomplete (the run was stopped mid-write); ignored, its sample will be asked again`);
        await truncate(this.path, keep);
        break;
      }
      const s = text.slice(start, nl);
      start = nl + 1;
      if (s.trim() === '') continue;
      const rec = parseSampleLine(s);
      if (!rec)
        throw new SampleFileError(`${this.path}: line ${line} is not a sample record; the file is damaged (move it away to start over)`);
      out.push(rec);
    }
    return out;
  }

  /** Appends one line and waits for it to reach the disk; appends are
   * serialized, so concurrent samples never interleave their bytes. */
  append(rec: SampleRecord): Promise<void> {
    const next = this.chain.then(async () => {
      this.fh ??= await open(this.path, 'a');
      await this.fh.write(`${JSON.stringify(rec)}\n`);
      await this.fh.datasync();
    });
    this.chain = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh?.close();
    this.fh = undefined;
  }
}
