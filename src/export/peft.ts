// The PEFT adapter export of a LoRA run: adapter_config.json as PEFT's
// LoraConfig.save_pretrained writes it and adapter_model.safetensors under
// PEFT's names (`base_model.model.<module>.lora_A.weight` [r, in],
// `.lora_B.weight` [out, r]). Our base fingerprint rides in the safetensors
// metadata (PEFT ignores it), so that importing refuses another base.

import { encode } from '../checkpoint/safetensors';
import { familyOf } from '../core/arch';
import { loraShapes } from '../core/config';
import type { TensorMap } from '../core/state';
import { ADAPTER_META, PEFT_PREFIX } from '../hf/peft';
import { baseModelName, modelCard } from './card';
import { ExportError, type ExportModel } from './source';

/** The keys PEFT 0.12's LoraConfig writes, with the values that match our math. */
function adapterConfig(m: ExportModel, base: string): Record<string, unknown> {
  const lora = m.adapter!.lora;
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: base,
    bias: 'none',
    // GPT-2's Conv1D stores [in, out]: PEFT sets this for it (the adapter's
    // A [r, in] and B [out, r] are the same either way)
    fan_in_fan_out: familyOf(m.modelConfig).weightLayout === 'in-out',
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: lora.alpha,
    lora_dropout: 0.0,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: lora.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...lora.targets].sort(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
}

/** adapter_config.json, adapter_model.safetensors and README.md. */
export function peftAdapterFiles(m: ExportModel): Map<string, Uint8Array> {
  if (!m.base)
    throw new ExportError(
      '--format peft: this student was trained from scratch, it has no base model for an adapter: export it as hf (or gguf)',
    );
  if (!m.adapter)
    throw new ExportError(
      `--format peft: this run fine-tuned every weight of "${m.base.name}" (LoRA rank 0), so there is no adapter: export it as hf (or gguf)`,
    );
  const mc = { ...m.modelConfig, lora: m.adapter.lora };
  const tensors: TensorMap = {};
  for (const [name, shape] of loraShapes(mc)) {
    const t = m.adapter.tensors[name];
    if (!t) throw new ExportError(`adapter_model.safetensors: the adapter lacks "${name}"`);
    if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
      throw new ExportError(
        `adapter_model.safetensors: "${name}" has shape [${t.shape.join(', ')}], r ${m.adapter.lora.rank} needs [${shape.join(', ')}]`,
      );
    }
    tensors[`${PEFT_PREFIX}${name}`] = t;
  }
  const name = (m.baseConfig as { _name_or_path?: unknown } | undefined)?._name_or_path;
  const base = typeof name === 'string' && name !== '' ? name : (baseModelName(m) ?? m.base.name);
  const meta = {
    format: 'pt',
    [ADAPTER_META.fingerprint]: m.base.fingerprint,
    [ADAPTER_META.base]: m.base.name,
    [ADAPTER_META.arch]: m.base.arch,
  };
  const files = new Map<string, Uint8Array>();
  files.set('adapter_config.json', new TextEncoder().encode(`${JSON.stringify(adapterConfig(m, base), null, 2)}\n`));
  files.set('adapter_model.safetensors', encode(tensors, meta));
  files.set('README.md', new TextEncoder().encode(modelCard(m, 'peft')));
  return files;
}
