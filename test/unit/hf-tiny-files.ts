// A tiny Hugging Face GPT-2 folder and a PEFT adapter for it, built in
// TypeScript (no Python): config.json and model.safetensors with the table's
// shapes, adapter_config.json and adapter_model.safetensors. For the tests of
// hostile folders and the fuzz tests, which edit these bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encode } from '../../src/checkpoint/safetensors';
import { loraShapes, type ModelConfig } from '../../src/core/config';
import type { TensorMap } from '../../src/core/state';
import { hfTensorShapes, parseHfConfig, studentConfig } from '../../src/hf/config';
import { PEFT_PREFIX } from '../../src/hf/peft';

/** GPT-2 as transformers writes its config.json, at toy sizes. */
/** A small LLaMA config.json (no weights): the base of the config tests' edits. */
export const TINY_LLAMA_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 100,
  hidden_size: 32,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  num_hidden_layers: 2,
  intermediate_size: 64,
  max_position_embeddings: 64,
};

export const TINY_GPT2 = {
  architectures: ['GPT2LMHeadModel'],
  model_type: 'gpt2',
  vocab_size: 16,
  n_embd: 8,
  n_head: 2,
  n_layer: 1,
  n_positions: 8,
  layer_norm_epsilon: 1e-5,
  eos_token_id: 0,
};

/** Deterministic small values, different per tensor. */
function tensors(shapes: [string, number[]][]): TensorMap {
  const out: TensorMap = {};
  shapes.forEach(([name, shape], t) => {
    const n = shape.reduce((a, b) => a * b, 1);
    out[name] = { shape, data: Float32Array.from({ length: n }, (_, i) => ((i * 7 + t * 3) % 11) / 16 - 0.3) };
  });
  return out;
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** config.json and model.safetensors of TINY_GPT2 (F32). */
export function tinyGpt2Files(config: Record<string, unknown> = TINY_GPT2): Map<string, Uint8Array> {
  const spec = parseHfConfig(config);
  return new Map([
    ['config.json', json(config)],
    ['model.safetensors', encode(tensors(hfTensorShapes(spec)))],
  ]);
}

/** The model config of TINY_GPT2, as loadStudent makes it. */
export const tinyGpt2Model = (): ModelConfig => studentConfig(parseHfConfig(TINY_GPT2));

/** A PEFT adapter on c_attn for TINY_GPT2. */
export function tinyAdapterFiles(rank = 2): Map<string, Uint8Array> {
  const lora = { rank, alpha: 4, targets: ['c_attn'] };
  const shapes = loraShapes({ ...tinyGpt2Model(), lora }).map(([n, s]): [string, number[]] => [PEFT_PREFIX + n, s]);
  return new Map([
    ['adapter_config.json', json({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: rank, lora_alpha: 4, target_modules: ['c_attn'] })],
    ['adapter_model.safetensors', encode(tensors(shapes))],
  ]);
}

/** Writes the files into a new folder `dir`. */
export function writeFolder(dir: string, files: Map<string, Uint8Array | string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(path.join(dir, name), bytes);
  return dir;
}
