// `mcckd export --run DIR --format hf|peft|gguf|recipe --out PATH`: a saved run
// as a Hugging Face folder, a PEFT adapter folder or one GGUF file, each with a
// model card, or (recipe) its training recipe for PyTorch. One JSON line on
// stdout: what was written, file by file.

import { createReadStream, readFileSync } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, str, UsageError } from './args';
import { EXPORT_FLAGS } from './flags';
import { loadRun, runBaseFolder, runFacts } from '../checkpoint/runDir';
import { exportModel, type ExportBase, type ExportModel, type StoredDtype } from '../export/source';
import { hfFolderFiles } from '../export/hf';
import { peftAdapterFiles } from '../export/peft';
import { ggufFile } from '../export/gguf';
import { studentFolder } from './student';
import { recipeFiles } from '../export/recipe';
import { readTeacherFile } from '../data';
import { curationOf } from '../core/config';
import { fingerprintGroups } from '../core/fingerprint';
import type { TrainState } from '../core/state';

const FORMATS = ['hf', 'peft', 'gguf', 'recipe'] as const;
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

const tmpName = (out: string): string => `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

const why = (e: unknown): string => ((e as NodeJS.ErrnoException).code === 'ENOSPC' ? 'the disk is full' : (e as Error).message);

/** Makes the folders above `out` that are missing; the returned function
 * removes them again (as far as they are empty) after a failure. */
async function makeParents(out: string): Promise<() => Promise<void>> {
  const parent = path.dirname(out);
  const first = await mkdir(parent, { recursive: true });
  return async () => {
    for (let d = parent; first && d !== path.dirname(first); d = path.dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty: someone else's files are there too
      }
    }
  };
}

/** Writes the folder under a temporary name beside `out` (an absolute,
 * normalized path), then renames it: an interrupted export leaves no half
 * folder that looks finished, and a failed one leaves nothing. */
async function writeFolder(out: string, files: Map<string, Uint8Array>): Promise<void> {
  const tmp = tmpName(out);
  let undoParents = async (): Promise<void> => undefined;
  try {
    undoParents = await makeParents(out);
    await mkdir(tmp);
    for (const [name, bytes] of files) {
      // a recipe's files sit in sub-folders (data/, init_adapter/)
      if (name.includes('/')) await mkdir(path.dirname(path.join(tmp, name)), { recursive: true });
      await writeFile(path.join(tmp, name), bytes);
    }
    if ((await outState(out)) === 'empty-dir') await rm(out, { recursive: true });
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    await undoParents();
    throw new Error(`could not write ${out}: ${why(e)} (nothing was left there)`);
  }
}

/** Writes one new file: to a temporary name in the same folder, flushed,
 * then linked to `out`. link() never replaces a file that appeared
 * meanwhile, and a failed or interrupted write leaves nothing under `out`. */
async function writeNewFile(out: string, bytes: Uint8Array): Promise<void> {
  const tmp = tmpName(out);
  let undoParents = async (): Promise<void> => undefined;
  try {
    undoParents = await makeParents(out);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await publish(tmp, out);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    await undoParents();
    const exists = (e as NodeJS.ErrnoException).code === 'EEXIST';
    throw new Error(`could not write ${out}: ${exists ? 'it appeared meanwhile' : why(e)} (nothing was left under that name)`);
  }
}

/** tmp becomes out, unless out exists. Without hard links (some network or
 * FAT file systems) a rename after a check is the closest. */
async function publish(tmp: string, out: string): Promise<void> {
  try {
    await link(tmp, out);
    await unlink(tmp);
  } catch (e) {
    if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EOPNOTSUPP'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    if ((await outState(out)) !== 'absent') throw Object.assign(new Error(`${out} exists`), { code: 'EEXIST' });
    await rename(tmp, out);
  }
}

export async function runExport(argv: string[]): Promise<number> {
  const f = parseFlags(argv, EXPORT_FLAGS);
  const runDir = str(f, 'run');
  const format = str(f, 'format');
  const outFlag = str(f, 'out');
  if (!runDir) throw new UsageError('--run DIR is required');
  if (!format) throw new UsageError('--format hf|peft|gguf|recipe is required');
  if (!(FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${format}"`);
  if (!outFlag) throw new UsageError('--out PATH is required');
  // "DIR/" and "x/../y" name the same place as their normal form; the
  // temporary name beside it must not end up inside it or under "x"
  const out = path.resolve(outFlag);
  const dtypeFlag = str(f, 'dtype');
  if (dtypeFlag !== undefined && dtypeFlag !== 'F32' && dtypeFlag !== 'F16')
    throw new UsageError(`--dtype must be F32 or F16, got "${dtypeFlag}"`);
  if (dtypeFlag !== undefined && (format === 'peft' || format === 'recipe'))
    throw new UsageError('--dtype applies to hf and gguf (an adapter is written in F32)');
  const dataFlag = str(f, 'data');
  if (format === 'recipe' && !dataFlag) throw new UsageError('--format recipe needs --data FILE: the teacher file the run trained on');
  if (format !== 'recipe' && dataFlag !== undefined) throw new UsageError('--data applies to --format recipe only');
  const fmt = format as Format;
  const state = await outState(out);
  if (state === 'taken')
    throw new UsageError(`--out ${outFlag} already exists${fmt === 'gguf' ? '' : ' and is not an empty folder'}: give a new path`);
  if (state === 'empty-dir' && fmt === 'gguf')
    throw new UsageError(`--out ${outFlag} is a folder: gguf writes one file (e.g. ${path.join(outFlag, 'model.gguf')})`);

  const { state: run, checkpoint } = await loadRun(runDir);
  let base: ExportBase | undefined;
  let baseDir = '';
  if (run.base) {
    const given = str(f, 'student');
    const dir = given ?? (await runBaseFolder(runDir));
    if (!dir) throw new UsageError(`the run in ${runDir} fine-tunes "${run.base.name}": give its folder with --student DIR`);
    baseDir = path.resolve(dir);
    base = await studentFolder(dir, given ? '--student' : `the base folder that ${path.join(runDir, 'config.json')} names,`);
  } else if (str(f, 'student') !== undefined) {
    throw new UsageError(`the run in ${runDir} trains a student from scratch: --student does not apply`);
  }
  const m = exportModel(run, { ...(base ? { base } : {}), facts: await runFacts(runDir, checkpoint) });
  const dtype = dtypeFlag as StoredDtype | undefined;

  let written: { name: string; bytes: number }[];
  if (fmt === 'recipe') {
    if (!base || !run.modelConfig.lora)
      throw new UsageError(`--format recipe: the run in ${runDir} is not a LoRA run on a pretrained base (a recipe trains a PEFT adapter)`);
    const files = await recipeOf(run, m, { ...base, dir: baseDir }, dataFlag!, runDir);
    await writeFolder(out, files);
    written = [...files].map(([name, b]) => ({ name, bytes: b.length }));
  } else if (fmt === 'gguf') {
    const bytes = ggufFile(m, dtype === 'F16' ? { dtype: 'F16' } : dtype === 'F32' ? { dtype: 'F32' } : {});
    await writeNewFile(out, bytes);
    written = [{ name: path.basename(out), bytes: bytes.length }];
  } else {
    const files = fmt === 'hf' ? hfFolderFiles(m, dtype ? { dtype } : {}) : peftAdapterFiles(m);
    await writeFolder(out, files);
    written = [...files].map(([name, b]) => ({ name, bytes: b.length }));
  }
  const total = written.reduce((s, x) => s + x.bytes, 0);
  process.stdout.write(
    `${JSON.stringify({ format: fmt, out, ...(fmt === 'peft' || fmt === 'recipe' ? {} : { dtype: dtype ?? m.dtype }), files: written, bytes: total })}\n`,
  );
  return 0;
}

/** The recipe of a LoRA run: its data read again from the teacher file as
 * training read it (the same curation and dev split, checked by the run's
 * data fingerprint), tokenized with the base's tokenizer. */
async function recipeOf(
  run: TrainState,
  m: ExportModel,
  base: ExportBase & { dir: string },
  dataPath: string,
  runDir: string,
): Promise<Map<string, Uint8Array>> {
  const read = (devFraction?: number): ReturnType<typeof readTeacherFile> =>
    readTeacherFile(createReadStream(dataPath), { ...curationOf(run.trainConfig), ...(devFraction === 0 ? { devFraction: 0 } : {}) });
  // train held out a dev split unless it was given --eval: whichever matches the run
  let data: Awaited<ReturnType<typeof readTeacherFile>> | undefined;
  for (const devFraction of [undefined, 0]) {
    let d: Awaited<ReturnType<typeof readTeacherFile>>;
    try {
      d = await read(devFraction);
    } catch (e) {
      throw new UsageError(`--data ${dataPath}: ${(e as Error).message}`);
    }
    if (fingerprintGroups(d.groups) === run.datasetFingerprint) {
      data = d;
      break;
    }
  }
  if (!data) throw new UsageError(`--data ${dataPath} is not the data the run in ${runDir} trained on (its curated questions differ)`);
  const tokenizer = base.student.tokenizer;
  return recipeFiles({
    state: run,
    model: m,
    tokenizer,
    groups: data.groups,
    dev: data.dev,
    baseFolder: base.dir,
    script: readFileSync(new URL('../export/recipe/train_mcckd.py', import.meta.url), 'utf8'),
  });
}
