// Pretrained students in the worker: a model folder picked in the page (its
// Files), read and checked into a student, and kept in the Origin Private
// File System (bases/<fingerprint>/...) so that a run on it resumes after a
// reload without a new pick. Only plain summaries go back to the page.

import { archOf, countParams, DEFAULT_LORA_TARGETS, LORA_DEFAULTS, LORA_MODULES, type LoraConfig } from '../core/config';
import type { PretrainedStudent } from '../core/trainer';
import type { BaseRef } from '../core/state';
import type { FolderSource, HfFolder } from '../hf/folder';
import { loadStudent } from '../hf/student';
import type { StudentSummary } from './protocol';

/** The files of a model folder that we read; anything else in it (README,
 * pytorch_model.bin, onnx/) is neither read nor kept. */
const FOLDER_FILES =
  /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|model\.safetensors|model\.safetensors\.index\.json|model-\d{5}-of-\d{5}\.safetensors)$/;

/** A picked folder's Files by their names inside it (webkitRelativePath is
 * "folder/name"; files in subfolders are not part of the model). */
export function filesFolder(files: readonly File[]): { source: FolderSource; name: string; files: Map<string, File> } {
  const byName = new Map<string, File>();
  let folder = '';
  for (const f of files) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
    const parts = rel.split('/');
    if (parts.length > 2) continue;
    if (parts.length === 2) folder = parts[0];
    byName.set(parts[parts.length - 1], f);
  }
  return { source: fileSource(byName), name: folder || 'model', files: byName };
}

function fileSource(byName: Map<string, Blob>): FolderSource {
  const blob = (name: string): Blob => {
    const f = byName.get(name);
    if (!f) throw new Error(`${name} is missing`);
    return f;
  };
  return {
    has: (name) => byName.has(name),
    size: async (name) => blob(name).size,
    // a range is a Blob.slice: a weight file is never in memory whole
    read: async (name, range) => {
      const f = blob(name);
      return new Uint8Array(await (range === undefined ? f : f.slice(range.offset, range.offset + range.length)).arrayBuffer());
    },
  };
}

// ---- the Origin Private File System ------------------------------------

const BASES = 'bases';

async function basesDir(create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
  if (typeof navigator === 'undefined' || !navigator.storage?.getDirectory) return undefined;
  const root = await navigator.storage.getDirectory();
  try {
    return await root.getDirectoryHandle(BASES, { create });
  } catch {
    return undefined;
  }
}

type SyncHandle = { write(b: Uint8Array, o: { at: number }): number; truncate(n: number): void; flush(): void; close(): void };

/** Writes one file; a dedicated worker has createSyncAccessHandle everywhere
 * OPFS exists, createWritable only in newer browsers. */
async function writeFile(dir: FileSystemDirectoryHandle, name: string, blob: Blob): Promise<void> {
  const h = await dir.getFileHandle(name, { create: true });
  const sync = (h as unknown as { createSyncAccessHandle?: () => Promise<SyncHandle> }).createSyncAccessHandle;
  if (sync) {
    const a = await sync.call(h);
    try {
      a.truncate(0);
      const chunk = 8 << 20; // never the whole file in memory twice
      for (let at = 0; at < blob.size; at += chunk) a.write(new Uint8Array(await blob.slice(at, at + chunk).arrayBuffer()), { at });
      a.flush();
    } finally {
      a.close();
    }
    return;
  }
  const w = await (
    h as unknown as { createWritable(): Promise<WritableStream & { write(b: Blob): Promise<void>; close(): Promise<void> }> }
  ).createWritable();
  await w.write(blob);
  await w.close();
}

/** Keeps the folder's model files under bases/<fingerprint>/; a marker file
 * written last says the copy is complete. */
async function keepBase(base: BaseRef, files: Map<string, File>): Promise<boolean> {
  const bases = await basesDir(true);
  if (!bases) return false;
  const dir = await bases.getDirectoryHandle(base.fingerprint, { create: true });
  for (const [name, f] of files) if (FOLDER_FILES.test(name)) await writeFile(dir, name, f);
  await writeFile(dir, 'mcckd-base.json', new Blob([JSON.stringify(base)]));
  return true;
}

/** The kept copy of a base, if this browser has a complete one. */
async function keptBase(fingerprint: string): Promise<{ source: FolderSource; ref: BaseRef } | undefined> {
  const bases = await basesDir(false);
  if (!bases || !/^[0-9a-f]{8}-\d+$/.test(fingerprint)) return undefined;
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await bases.getDirectoryHandle(fingerprint);
  } catch {
    return undefined;
  }
  const byName = new Map<string, Blob>();
  for await (const [name, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
    if (h.kind === 'file') byName.set(name, await (h as FileSystemFileHandle).getFile());
  }
  const marker = byName.get('mcckd-base.json');
  if (!marker) return undefined; // an interrupted copy
  const ref = JSON.parse(await marker.text()) as BaseRef;
  byName.delete('mcckd-base.json');
  return { source: fileSource(byName), ref };
}

// ---- summaries -----------------------------------------------------------

/** What the folder is (the worker adds the plan and its base dtype). */
type FolderSummary = Omit<StudentSummary, 'plan' | 'baseDtype'>;

function summarize(s: PretrainedStudent, dtypes: string[], kept: boolean): FolderSummary {
  const c = s.modelConfig;
  const arch = archOf(c);
  return {
    name: s.base.name,
    arch,
    params: countParams(c),
    dtypes,
    vocabSize: c.vocabSize,
    nLayer: c.nLayer,
    hidden: c.nEmbd,
    nHead: c.nHead,
    nKvHead: c.nKvHead ?? c.nHead,
    blockSize: c.blockSize,
    tied: c.tieWordEmbeddings ?? true,
    fingerprint: s.base.fingerprint,
    eos: s.tokenizer.tokenLabel(s.tokenizer.eosId),
    loraModules: [...LORA_MODULES[arch]],
    defaultTargets: [...DEFAULT_LORA_TARGETS[arch]],
    kept,
  };
}

/** A LoRA default for a new pick: rank 8, alpha 16, attention projections. */
export function defaultLora(s: PretrainedStudent): LoraConfig {
  return { ...LORA_DEFAULTS, targets: [...DEFAULT_LORA_TARGETS[archOf(s.modelConfig)]] };
}

/** Reads a picked folder; keeps it in OPFS (a failure there is only a note:
 * the run trains, but resuming after a reload needs the folder again). */
export async function studentFromFiles(
  files: readonly File[],
): Promise<{ student: PretrainedStudent; folder: HfFolder; summary: FolderSummary; note?: string }> {
  const f = filesFolder(files);
  const { student, folder } = await loadStudent(f.source, f.name);
  let kept = false;
  let note: string | undefined;
  try {
    kept = await keepBase(student.base, f.files);
    if (!kept) note = 'this browser has no Origin Private File System: resuming a run after a reload will need the folder again';
  } catch (e) {
    note = `the model could not be kept in this browser (${e instanceof Error ? e.message : String(e)}): resuming after a reload will need the folder again`;
  }
  return { student, folder, summary: summarize(student, folder.dtypes, kept), ...(note ? { note } : {}) };
}

/** The student a stored run needs: the one in memory when it is the same
 * base, else the kept copy; else a clear request to pick the folder again. */
export async function studentFor(base: BaseRef, current?: PretrainedStudent): Promise<PretrainedStudent> {
  if (current?.base.fingerprint === base.fingerprint) return current;
  return (await baseFolderFor(base, undefined, 'resume')).student;
}

/** A stored run's base with its folder as read (an export writes its
 * config.json and tokenizer files back): the picked one when it is the
 * same base, else the kept copy. */
export async function baseFolderFor(
  base: BaseRef,
  current?: { student: PretrainedStudent; folder: HfFolder },
  action: 'resume' | 'export' = 'export',
): Promise<{ student: PretrainedStudent; folder: HfFolder }> {
  if (current?.student.base.fingerprint === base.fingerprint) return current;
  const kept = await keptBase(base.fingerprint);
  if (!kept)
    throw new Error(
      `this run fine-tunes "${base.name}", which is not kept in this browser: pick its model folder (Student) and ${action} again`,
    );
  return loadStudent(kept.source, kept.ref.name);
}
