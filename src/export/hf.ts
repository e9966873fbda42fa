// The Hugging Face folder export: what `from_pretrained` and our own
// `--student DIR` read. config.json is the architecture's own config class
// (the base's config.json with only torch_dtype changed, or a GPT2Config for
// our from-scratch GPT, which computes exactly GPT-2's math: pre-LayerNorm
// blocks with biases, tanh GELU, learned positions, tied head); the weights
// are the merged model under the architecture's names (GPT2LMHeadModel's
// `transformer.` prefix, no lm_head when tied) in the chosen dtype.

import { encode } from '../checkpoint/safetensors';
import { archOf, dimsOf, paramShapes } from '../core/config';
import { GPT2 } from '../core/arch/gpt2';
import type { TensorMap } from '../core/state';
import { modelCard } from './card';
import { ExportError, type ExportModel, type StoredDtype } from './source';

const TORCH_DTYPE: Record<StoredDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The transformers version whose save_pretrained output we mirror (the
 * version the tiny reference models are written as). */
const TRANSFORMERS_VERSION = '4.44.2';

const jsonBytes = (x: unknown): Uint8Array => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);

/** GPT2Config.to_dict() for our from-scratch student. Dropout is 0: the
 * student trained without it, and continuing elsewhere should match. */
function gpt2Config(m: ExportModel, dtype: StoredDtype): Record<string, unknown> {
  const c = m.modelConfig;
  const { inner, tied } = dimsOf(c);
  if (inner !== 4 * c.nEmbd) throw new ExportError(`config: an MLP width of ${inner} is not GPT-2's 4 * n_embd`);
  const eos = m.eosTokenIds[0];
  return {
    _name_or_path: '',
    activation_function: 'gelu_new',
    architectures: [GPT2.hfArchitecture],
    attn_pdrop: 0.0,
    bos_token_id: m.bosTokenId ?? eos,
    embd_pdrop: 0.0,
    eos_token_id: eos,
    initializer_range: 0.02,
    layer_norm_epsilon: c.layerNormEps,
    model_type: GPT2.modelType,
    n_embd: c.nEmbd,
    n_head: c.nHead,
    n_inner: null,
    n_layer: c.nLayer,
    n_positions: c.blockSize,
    ...(m.padTokenId !== undefined ? { pad_token_id: m.padTokenId } : {}),
    reorder_and_upcast_attn: false,
    resid_pdrop: 0.0,
    scale_attn_by_inverse_layer_idx: false,
    scale_attn_weights: true,
    summary_activation: null,
    summary_first_dropout: 0.0,
    summary_proj_to_labels: true,
    summary_type: 'cls_index',
    summary_use_proj: true,
    tie_word_embeddings: tied,
    torch_dtype: TORCH_DTYPE[dtype],
    transformers_version: TRANSFORMERS_VERSION,
    use_cache: true,
    vocab_size: c.vocabSize,
  };
}

/** The base's config.json as stored; only the dtype says something new. */
function baseConfig(m: ExportModel, dtype: StoredDtype): Record<string, unknown> {
  const raw = m.baseConfig;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ExportError("config: the base model's config.json is not a JSON object");
  return { ...(raw as Record<string, unknown>), torch_dtype: TORCH_DTYPE[dtype] };
}

function generationConfig(m: ExportModel): unknown {
  if (m.generationConfig !== undefined) return m.generationConfig;
  const eos = m.eosTokenIds.length === 1 ? m.eosTokenIds[0] : m.eosTokenIds;
  return {
    _from_model_config: true,
    ...(m.bosTokenId !== undefined
      ? { bos_token_id: m.bosTokenId }
      : !m.base && m.eosTokenIds.length
        ? { bos_token_id: m.eosTokenIds[0] }
        : {}),
    ...(m.eosTokenIds.length ? { eos_token_id: eos } : {}),
    ...(m.padTokenId !== undefined ? { pad_token_id: m.padTokenId } : {}),
    transformers_version: TRANSFORMERS_VERSION,
  };
}

/** The stored tensors: exactly the architecture's table, checked. */
function tableWeights(m: ExportModel): TensorMap {
  const out: TensorMap = {};
  for (const [name, shape] of paramShapes(m.modelConfig)) {
    const t = m.weights[name];
    if (!t) throw new ExportError(`model.safetensors: the weights lack "${name}"`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new ExportError(`model.safetensors: "${name}" has shape [${t.shape.join(', ')}], the config needs [${shape.join(', ')}]`);
    }
    out[name] = t;
  }
  return out;
}

interface HfFolderOptions {
  /** Storage dtype of the weights; default the base's (F32 from scratch). */
  dtype?: StoredDtype;
}

/** Every file of the folder, by name. Without a tokenizer (tokenizerJson
 * null or undefined) the tokenizer files are left out. */
export function hfFolderFiles(m: ExportModel, o: HfFolderOptions = {}): Map<string, Uint8Array> {
  const dtype = o.dtype ?? m.dtype;
  if (!(dtype in TORCH_DTYPE)) throw new ExportError(`dtype "${String(dtype)}" is not one of F32, F16, BF16`);
  if (m.base && archOf(m.modelConfig) !== m.base.arch)
    throw new ExportError(`config: the model is ${archOf(m.modelConfig)} but its base is ${m.base.arch}`);
  const files = new Map<string, Uint8Array>();
  files.set('config.json', jsonBytes(m.base ? baseConfig(m, dtype) : gpt2Config(m, dtype)));
  files.set('generation_config.json', jsonBytes(generationConfig(m)));
  // {"format": "pt"}: what transformers writes and checks when it loads
  files.set('model.safetensors', encode(tableWeights(m), { format: 'pt' }, { dtype }));
  if (m.tokenizerJson !== undefined && m.tokenizerJson !== null) {
    files.set('tokenizer.json', jsonBytes(m.tokenizerJson));
    if (m.tokenizerConfig !== undefined && m.tokenizerConfig !== null) files.set('tokenizer_config.json', jsonBytes(m.tokenizerConfig));
    else
      files.set(
        'tokenizer_config.json',
        jsonBytes({ tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: m.modelConfig.blockSize }),
      );
  }
  files.set('README.md', new TextEncoder().encode(modelCard({ ...m, dtype }, 'hf')));
  return files;
}
