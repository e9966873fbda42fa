// The backend badge's words: the backend the worker really uses, its GPU
// adapter, wasm's threads (and why only one), and why it fell back.

import type { BackendInfo } from '../worker/protocol';

export function backendLabel(b: BackendInfo): { text: string; warn: boolean } {
  let text = `backend: ${b.backend}${b.adapter ? ` (${b.adapter})` : ''}`;
  const t = b.threads;
  if (t) text += ` · ${t.count} thread${t.count === 1 ? '' : 's'}${t.reason ? ` (no threads: ${t.reason})` : ''}`;
  if (b.fellBackFrom) text += ` · fell back from ${b.fellBackFrom}: ${b.reason ?? 'unknown reason'}`;
  return { text, warn: !!b.fellBackFrom || !!t?.reason };
}
