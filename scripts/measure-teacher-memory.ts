// Peak memory of reading one large teacher file (issue 22, defect 12): N
// short JSON Lines records (default 1,000,000, about 75 MB), each its own
// question with two rationales, read by readTeacherFile from a file stream
// as `mcckd train --data` does. Prints the process's peak resident memory
// (VmHWM, Linux) and the report's counts; a measurement, not a test.
// Usage: npx tsx scripts/measure-teacher-memory.ts [N] [--limit-questions Q]

import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readTeacherFile } from '../src/data';

const n = Number(process.argv[2] ?? 1_000_000);
const file = path.join(tmpdir(), `mcckd-teacher-${n}.jsonl`);

async function write(): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0; i < n; i++) {
    const a = i % 97;
    const line = `{"id":"q${i}","question":"What is ${a} + ${i}?","answer":"${a + i}","rationales":["${a} + ${i} = ${a + i}.","It is ${a + i}."]}\n`;
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

/** Peak and current resident memory of this process, MB (Linux). */
function rss(): { peakMB: number; nowMB: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { peakMB: Math.round(kb('VmHWM') / 1024), nowMB: Math.round(kb('VmRSS') / 1024) };
}

if (!existsSync(file)) await write();
const bytes = (await import('node:fs')).statSync(file).size;
const before = rss();
try {
  const { groups, report } = await readTeacherFile(createReadStream(file), { devFraction: 0 });
  const after = rss();
  console.log(
    JSON.stringify({
      file,
      MB: Math.round(bytes / 1e6),
      records: report.records,
      questions: groups.length,
      dropped: report.dropped,
      rssBeforeMB: before.nowMB,
      peakRssMB: after.peakMB,
    }),
  );
} catch (e) {
  console.log(
    JSON.stringify({
      file,
      MB: Math.round(bytes / 1e6),
      refused: (e as Error).message,
      rssBeforeMB: before.nowMB,
      peakRssMB: rss().peakMB,
    }),
  );
}
