// Memory that a teacher file can make the reader hold (issue 22, defect 12a):
// a file of many short records used to take 23 times its size in RAM (1M
// records of 123 MB: 2.9 GB peak; scripts/measure-teacher-memory.ts). Now
// the records of one file are capped (limits.maxRecords, said in the
// refusal) and reading stops at the first record past the cap, so even an
// endless stream ends; what is kept per question is plain (no per-record
// hidden class from object spreads, exact-length arrays, one shared field
// name per rationale index), checked here by counting, not by timing.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, DataError, readEvalFile, readTeacherFile } from '../../src/data/index';
import { Grouper } from '../../src/data/group';
import { adapt } from '../../src/data/formats';

const record = (i: number): string =>
  JSON.stringify({ id: `q${i}`, question: `What is ${i} + 1?`, answer: String(i + 1), rationales: [`${i} + 1 = ${i + 1}.`] });

/** JSON Lines, one record a chunk, without end; counts the chunks pulled. */
function endless(): { source: AsyncIterable<string>; pulled: () => number } {
  let n = 0;
  return {
    pulled: () => n,
    source: {
      async *[Symbol.asyncIterator]() {
        for (;;) yield `${record(n++)}\n`;
      },
    },
  };
}

describe('the record cap of one file', () => {
  it('is 500,000 records by default', () => {
    expect(DEFAULT_LIMITS.maxRecords).toBe(500_000);
  });

  it('refuses a file over the cap naming the cap and the line, and stops reading there (an endless stream ends)', async () => {
    const { source, pulled } = endless();
    const err = await readTeacherFile(source, { limits: { maxRecords: 50 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toBe(
      'file has more than 50 records (limits.maxRecords): reading stopped at line 51; split it into files of at most 50 records',
    );
    // the reader pulls a chunk or two ahead, never the rest of the stream
    expect(pulled()).toBeLessThanOrEqual(53);
  });

  it('a file at the cap reads whole; the cap counts in a JSON array and in evaluation files too', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => record(i));
    const atCap = await readTeacherFile(lines.join('\n'), { limits: { maxRecords: 20 }, devFraction: 0 });
    expect(atCap.groups).toHaveLength(20);
    await expect(readTeacherFile(`[${lines.join(',')}]`, { limits: { maxRecords: 19 } })).rejects.toThrow(
      /^file has more than 19 records \(limits\.maxRecords\): reading stopped at line 1; split it/,
    );
    await expect(readEvalFile(lines.join('\n'), { limits: { maxRecords: 10 } })).rejects.toThrow(
      /more than 10 records \(limits\.maxRecords\): reading stopped at line 11/,
    );
  });
});

/** Object shapes (V8's hidden classes) in a heap snapshot, which collects
 * garbage first: what live objects hold. */
async function liveShapes(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of v8.getHeapSnapshot()) chunks.push(c as Buffer);
  const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
  };
  const fields = j.snapshot.meta.node_fields;
  const type = fields.indexOf('type');
  const shape = j.snapshot.meta.node_types[0].indexOf('object shape');
  let n = 0;
  for (let i = 0; i < j.nodes.length; i += fields.length) if (j.nodes[i + type] === shape) n++;
  return n;
}

describe('what the reader keeps per question', () => {
  it('no hidden class per record: 3,000 questions held add a fixed number of shapes, not one per record', async () => {
    const held = async (n: number): Promise<number> => {
      const g = new Grouper(256);
      for (let i = 0; i < n; i++) g.add(adapt('native', JSON.parse(record(i)), true, 100_000).item!, { line: i + 1, index: undefined });
      (globalThis as { keep?: unknown }).keep = g;
      const count = await liveShapes();
      (globalThis as { keep?: unknown }).keep = undefined;
      return count;
    };
    const few = await held(10);
    const many = await held(3000);
    // an object spread per record held ~2 shapes per record (6,000 here)
    expect(many - few).toBeLessThan(300);
  });

  it('rationale field names are shared strings, and a group holds exactly its answers and rationales', () => {
    const a = adapt('native', JSON.parse(record(1)), true, 100_000).item!;
    const b = adapt('native', JSON.parse(record(2)), true, 100_000).item!;
    expect(a.rationales[0].field).toBe('rationales[0]');
    const g = new Grouper(256);
    g.add(a, { line: 1 });
    g.add({ ...a, rationales: b.rationales }, { line: 2 });
    expect(g.groups).toHaveLength(1);
    expect(g.groups[0].rationales.map((r) => r.line)).toEqual([1, 2]);
    expect(g.groups[0].answers).toHaveLength(2);
    expect(g.merged).toBe(1);
  });
});
