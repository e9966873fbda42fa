// Read + curate throughput of a large generated teacher file, and checkpoint
// encode/decode and run-directory save/load times.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readTeacherFile } from '../src/data';
import { generateDemo } from '../scripts/demo/generate';
import type { PresetName } from '../src/core/config';
import { encodeCheckpoint, safetensorsToState } from '../src/checkpoint/format';
import { saveRunDir, loadRunDir } from '../src/checkpoint/runDir';
import { benchTrainer, median } from '../support/synthetic';

/** Our own format, repeated to `mb` megabytes (ids made unique), streamed in
 * 64 KiB chunks as a file would be. */
export async function curateThroughput(
  mb: number,
): Promise<{ megabytes: number; seconds: number; mbPerSecond: number; questions: number }> {
  const base = generateDemo({ seed: 5, train: 600, test: 0 }).train;
  const enc = new TextEncoder();
  const lines: string[] = [];
  let bytes = 0;
  for (let rep = 0; bytes < mb * 1e6; rep++) {
    for (const rec of base) {
      const s = JSON.stringify({ ...rec, id: `${rec.id}-${rep}`, question: `${rec.question} (#${rep})` });
      lines.push(s);
      bytes += s.length + 1;
    }
  }
  const all = enc.encode(`${lines.join('\n')}\n`);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < all.length; i += 65536) yield all.subarray(i, i + 65536);
  }
  const t0 = performance.now();
  const r = await readTeacherFile(chunks(), {});
  const seconds = (performance.now() - t0) / 1000;
  return { megabytes: all.length / 1e6, seconds, mbPerSecond: all.length / 1e6 / seconds, questions: r.report.questions };
}

export async function checkpointTimes(preset: PresetName, repeats = 3): Promise<Record<string, number>> {
  const t = await benchTrainer(preset);
  const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-ckpt-'));
  const times = {
    snapshotMs: [] as number[],
    encodeMs: [] as number[],
    decodeMs: [] as number[],
    saveDirMs: [] as number[],
    loadDirMs: [] as number[],
  };
  let bytes = 0;
  for (let i = 0; i < repeats; i++) {
    let t0 = performance.now();
    const state = await t.snapshot();
    times.snapshotMs.push(performance.now() - t0);
    t0 = performance.now();
    const enc = encodeCheckpoint(state);
    times.encodeMs.push(performance.now() - t0);
    bytes = enc.bytes.length;
    t0 = performance.now();
    safetensorsToState(enc.bytes);
    times.decodeMs.push(performance.now() - t0);
    t0 = performance.now();
    await saveRunDir(dir, state);
    times.saveDirMs.push(performance.now() - t0);
    t0 = performance.now();
    await loadRunDir(dir);
    times.loadDirMs.push(performance.now() - t0);
  }
  t.dispose();
  rmSync(dir, { recursive: true, force: true });
  return { bytes, ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) };
}
