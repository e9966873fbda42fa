// One download per export: a Hugging Face folder or a PEFT adapter as a zip
// whose entries sit in one folder (unzipped, it is the folder other tools and
// our Student step open), a GGUF as the single file llama.cpp reads.

import { zipSync, type Zippable } from 'fflate';
import { ggufFile } from './gguf';
import { hfFolderFiles } from './hf';
import { peftAdapterFiles } from './peft';
import type { ExportFormat as ExportKind } from './card';
import { ExportError, type ExportModel } from './source';

export type { ExportFormat as ExportKind } from './card';

export const EXPORT_KINDS: Record<ExportKind, string> = {
  hf: 'Hugging Face folder (.zip): transformers, transformers.js, continue training',
  peft: 'PEFT LoRA adapter (.zip): the adapter alone, for its base model',
  gguf: 'GGUF (.gguf): llama.cpp, Ollama, LM Studio',
};

/** A file-system-safe name from a run's name. */
export function safeName(name: string): string {
  const s = name.normalize('NFKD').replace(/[^\w.-]+/g, '_').replace(/_+/g, '_').replace(/^[_.]+|_+$/g, '');
  return (s || 'student').slice(0, 80);
}

/** The files of a folder export, by name. */
export function folderFiles(m: ExportModel, kind: 'hf' | 'peft'): Map<string, Uint8Array> {
  if (kind === 'peft' && !m.adapter) throw new ExportError('this run trained every weight, not a LoRA adapter: export it as a Hugging Face folder or GGUF');
  return kind === 'hf' ? hfFolderFiles(m) : peftAdapterFiles(m);
}

/** What the page downloads for an export. */
export function exportDownload(m: ExportModel, kind: ExportKind, o: { dtype?: 'F32' | 'F16' } = {}): { fileName: string; bytes: Uint8Array } {
  const base = `${safeName(m.facts.name)}-step${m.step}`;
  if (kind === 'gguf') return { fileName: `${base}.gguf`, bytes: ggufFile(m, o) };
  const dir = `${base}-${kind}`;
  const entries: Zippable = {};
  // safetensors and GGUF barely compress: store them, deflate the JSON and text
  for (const [name, bytes] of folderFiles(m, kind)) entries[`${dir}/${name}`] = [bytes, { level: /\.(safetensors|gguf)$/.test(name) ? 0 : 6 }];
  return { fileName: `${dir}.zip`, bytes: zipSync(entries) };
}
