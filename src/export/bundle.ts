// One download per export: a Hugging Face folder or a PEFT adapter as a zip
// whose entries sit in one folder (unzipped, it is the folder other tools and
// our Student step open), a GGUF as the single file llama.cpp reads.

import { zipSync, type Zippable } from 'fflate';
import { ggufFile } from './gguf';
import { hfFolderFiles } from './hf';
import { peftAdapterFiles } from './peft';
import type { ExportFormat as ExportKind } from './card';
import type { ExportModel } from './source';

export type { ExportFormat as ExportKind } from './card';

/** A file-system-safe name from a run's name. */
export function safeName(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[^\w.-]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^[_.]+|_+$/g, '');
  return (s || 'student').slice(0, 80);
}

/** What the page downloads for an export. */
export function exportDownload(
  m: ExportModel,
  kind: ExportKind,
  o: { dtype?: 'F32' | 'F16' } = {},
): { fileName: string; bytes: Uint8Array } {
  const base = `${safeName(m.facts.name)}-step${m.step}`;
  if (kind === 'gguf') return { fileName: `${base}.gguf`, bytes: ggufFile(m, o) };
  const dir = `${base}-${kind}`;
  const entries: Zippable = {};
  // safetensors and GGUF barely compress: store them, deflate the JSON and text
  // peftAdapterFiles refuses a run without an adapter, naming the formats it has
  for (const [name, bytes] of kind === 'hf' ? hfFolderFiles(m) : peftAdapterFiles(m))
    entries[`${dir}/${name}`] = [bytes, { level: /\.(safetensors|gguf)$/.test(name) ? 0 : 6 }];
  return { fileName: `${dir}.zip`, bytes: zipSync(entries) };
}
