// Qwen2 (Qwen2ForCausalLM: Qwen2.5): the LLaMA-like decoder with q/k/v biases.

import { llamaLike } from './llama-like';

export const QWEN2 = llamaLike({
  name: 'qwen2',
  hfArchitecture: 'Qwen2ForCausalLM',
  modelType: 'qwen2',
  qkvBias: true,
  refuse(c, r) {
    if (c.use_sliding_window === true) r.fail('"use_sliding_window": true is not supported');
  },
  // llama.cpp runs qwen2 with NeoX rope: rotate_half as is, no permutation
  gguf: { arch: 'qwen2', permuteQk: false },
});
