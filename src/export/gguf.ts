// GGUF export for llama.cpp (placeholder: being written; see the export issue).

import { ExportError, type ExportModel } from './source';

/** One .gguf file that llama.cpp loads, with the merged weights and the tokenizer. */
export function ggufFile(m: ExportModel, o: { dtype?: 'F32' | 'F16' } = {}): Uint8Array {
  throw new ExportError(`GGUF export is not written yet (${m.modelConfig.arch ?? 'gpt2'}, ${o.dtype ?? 'F32'})`);
}
