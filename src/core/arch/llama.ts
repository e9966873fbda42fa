// LLaMA (LlamaForCausalLM: SmolLM2, TinyLlama): the LLaMA-like decoder as is.

import { llamaLike } from './llama-like';

export const LLAMA = llamaLike({
  name: 'llama',
  hfArchitecture: 'LlamaForCausalLM',
  modelType: 'llama',
  qkvBias: false,
  refuse(c, r) {
    if (c.attention_bias === true) r.fail('"attention_bias": true is not supported');
    if (c.mlp_bias === true) r.fail('"mlp_bias": true is not supported');
  },
  gguf: { arch: 'llama', permuteQk: true },
});
