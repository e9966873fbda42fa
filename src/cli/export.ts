// `mcckd export --run DIR --format hf|peft|gguf --out PATH`: a saved run as a
// Hugging Face folder, a PEFT adapter folder or one GGUF file, each with a
// model card. One JSON line on stdout: what was written, file by file.

import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, str, UsageError } from './args';
import { EXPORT_FLAGS } from './flags';
import { loadRun, runBaseFolder, runFacts } from '../checkpoint/runDir';
import { exportModel, type ExportBase, type StoredDtype } from '../export/source';
import { hfFolderFiles } from '../export/hf';
import { peftAdapterFiles } from '../export/peft';
import { ggufFile } from '../export/gguf';
import { studentFolder } from './student';

const FORMATS = ['hf', 'peft', 'gguf'] as const;
type Format = (typeof FORMATS)[number];

/** What is at `p`: nothing, an empty folder, or something we must not overwrite. */
async function outState(p: string): Promise<'absent' | 'empty-dir' | 'taken'> {
  try {
    const st = await stat(p);
    if (st.isDirectory()) return (await readdir(p)).length === 0 ? 'empty-dir' : 'taken';
    return 'taken';
  } catch {
    return 'absent';
  }
}

/** Writes the folder under a temporary name beside `out`, then renames it:
 * an interrupted export leaves no half folder that looks finished. */
async function writeFolder(out: string, files: Map<string, Uint8Array>): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await mkdir(tmp, { recursive: true });
    for (const [name, bytes] of files) await writeFile(path.join(tmp, name), bytes);
    if ((await outState(out)) === 'empty-dir') await rm(out, { recursive: true });
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`could not write ${out}: ${(e as Error).message}`);
  }
}

export async function runExport(argv: string[]): Promise<number> {
  const f = parseFlags(argv, EXPORT_FLAGS);
  const runDir = str(f, 'run');
  const format = str(f, 'format');
  const out = str(f, 'out');
  if (!runDir) throw new UsageError('--run DIR is required');
  if (!format) throw new UsageError('--format hf|peft|gguf is required');
  if (!(FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${format}"`);
  if (!out) throw new UsageError('--out PATH is required');
  const dtypeFlag = str(f, 'dtype');
  if (dtypeFlag !== undefined && dtypeFlag !== 'F32' && dtypeFlag !== 'F16')
    throw new UsageError(`--dtype must be F32 or F16, got "${dtypeFlag}"`);
  if (dtypeFlag !== undefined && format === 'peft') throw new UsageError('--dtype applies to hf and gguf (an adapter is written in F32)');
  const fmt = format as Format;
  const state = await outState(out);
  if (state === 'taken')
    throw new UsageError(`--out ${out} already exists${fmt === 'gguf' ? '' : ' and is not an empty folder'}: give a new path`);
  if (state === 'empty-dir' && fmt === 'gguf')
    throw new UsageError(`--out ${out} is a folder: gguf writes one file (e.g. ${path.join(out, 'model.gguf')})`);

  const { state: run, checkpoint } = await loadRun(runDir);
  let base: ExportBase | undefined;
  if (run.base) {
    const given = str(f, 'student');
    const dir = given ?? (await runBaseFolder(runDir));
    if (!dir) throw new UsageError(`the run in ${runDir} fine-tunes "${run.base.name}": give its folder with --student DIR`);
    base = await studentFolder(dir, given ? '--student' : `the base folder that ${path.join(runDir, 'config.json')} names,`);
  } else if (str(f, 'student') !== undefined) {
    throw new UsageError(`the run in ${runDir} trains a student from scratch: --student does not apply`);
  }
  const m = exportModel(run, { ...(base ? { base } : {}), facts: await runFacts(runDir, checkpoint) });
  const dtype = dtypeFlag as StoredDtype | undefined;

  let written: { name: string; bytes: number }[];
  if (fmt === 'gguf') {
    const bytes = ggufFile(m, dtype === 'F16' ? { dtype: 'F16' } : dtype === 'F32' ? { dtype: 'F32' } : {});
    await mkdir(path.dirname(path.resolve(out)), { recursive: true });
    await writeFile(out, bytes, { flag: 'wx' }); // wx: never over a file that appeared meanwhile
    written = [{ name: path.basename(out), bytes: bytes.length }];
  } else {
    const files = fmt === 'hf' ? hfFolderFiles(m, dtype ? { dtype } : {}) : peftAdapterFiles(m);
    await writeFolder(out, files);
    written = [...files].map(([name, b]) => ({ name, bytes: b.length }));
  }
  const total = written.reduce((s, x) => s + x.bytes, 0);
  process.stdout.write(
    `${JSON.stringify({ format: fmt, out: path.resolve(out), ...(fmt === 'peft' ? {} : { dtype: dtype ?? m.dtype }), files: written, bytes: total })}\n`,
  );
  return 0;
}
