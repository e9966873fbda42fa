// GGUF export for llama.cpp (and Ollama, LM Studio): one file with the merged
// weights, the architecture's metadata and the tokenizer. The format is in
// gguf-writer.ts, the mapping of our names to llama.cpp's in gguf-model.ts.

import { checkGgufComputable, ggufMetadata, ggufTensors, ggufVocab } from './gguf-model';
import { writeGguf } from './gguf-writer';
import type { ExportModel } from './source';

/** One .gguf file that llama.cpp loads, with the merged weights and the tokenizer.
 * F16 stores the matrices as half floats and keeps norms and biases F32. */
export function ggufFile(m: ExportModel, o: { dtype?: 'F32' | 'F16' } = {}): Uint8Array {
  const dtype = o.dtype ?? 'F32';
  checkGgufComputable(m.modelConfig); // before the vocabulary: the model's refusal is the one to report
  const vocab = ggufVocab(m.tokenizerJson, m.modelConfig.vocabSize, m.tokenizerConfig);
  return writeGguf(ggufMetadata(m, dtype, vocab), ggufTensors(m.modelConfig, m.weights, dtype));
}
