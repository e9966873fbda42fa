// Our byte-level BPE written as a Hugging Face tokenizer.json (placeholder:
// being written; see the export issue).

import type { TokenizerJSON } from '../core/tokenizer';

export function bpeTokenizerFiles(t: TokenizerJSON): { tokenizerJson: unknown; tokenizerConfig: unknown } {
  throw new Error(`exporting the from-scratch tokenizer (${t.merges.length} merges) is not written yet`);
}
