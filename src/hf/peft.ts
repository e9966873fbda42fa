// A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
// read onto a pretrained student: PEFT's names (`base_model.model.<module>.
// lora_A.weight`, A [r, in], B [out, r]) to ours (`<module>.lora_A.weight`),
// checked against the model before use. What PEFT computes differently (rsLoRA,
// DoRA, per-module ranks, trained biases, extra saved modules) is refused, and
// so is an adapter that our export made for another base (its fingerprint).

import { ConfigRangeError, LORA_MODULES, archOf, checkLora, loraShapes, type LoraConfig, type ModelConfig } from '../core/config';
import type { BaseRef, TensorMap } from '../core/state';
import { HfConfigError } from './config';
import { readJsonFile, readSafetensors, readSafetensorsLayout, type FolderSource } from './folder';

/** PEFT's prefix of every adapter tensor of a *ForCausalLM model. */
export const PEFT_PREFIX = 'base_model.model.';

/** The adapter_model.safetensors metadata our export adds (PEFT ignores
 * metadata): the base the adapter was trained on. */
export const ADAPTER_META = { fingerprint: 'mcckd.base_fingerprint', base: 'mcckd.base_name', arch: 'mcckd.base_arch' } as const;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function refuse(msg: string): never {
  throw new HfConfigError(`adapter: ${msg}`);
}

/** adapter_config.json into our LoRA setting for this model. */
function parsePeftConfig(raw: unknown, model: ModelConfig): LoraConfig {
  if (!isObj(raw)) refuse('adapter_config.json must be a JSON object');
  const c = raw;
  if (c.peft_type !== 'LORA') refuse(`adapter_config.json: "peft_type" ${JSON.stringify(c.peft_type)} is not supported (only "LORA")`);
  if (c.task_type !== undefined && c.task_type !== null && c.task_type !== 'CAUSAL_LM')
    refuse(`adapter_config.json: "task_type" ${JSON.stringify(c.task_type)} is not supported (only "CAUSAL_LM")`);
  for (const k of ['use_rslora', 'use_dora']) if (c[k] === true) refuse(`adapter_config.json: "${k}": true is not supported`);
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (isObj(c[k]) && Object.keys(c[k]).length > 0) refuse(`adapter_config.json: "${k}" (per-module ranks or alphas) is not supported`);
  if ((c.bias ?? 'none') !== 'none') refuse(`adapter_config.json: "bias" ${JSON.stringify(c.bias)} is not supported (only "none")`);
  if (Array.isArray(c.modules_to_save) && c.modules_to_save.length > 0) refuse('adapter_config.json: "modules_to_save" is not supported');
  const r = c.r;
  if (!Number.isSafeInteger(r) || (r as number) < 1 || (r as number) > 4096)
    refuse(`adapter_config.json: "r" must be an integer in [1, 4096], got ${JSON.stringify(r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha))
    refuse(`adapter_config.json: "lora_alpha" must be a positive number, got ${JSON.stringify(c.lora_alpha)}`);
  // the same bounds as a LoRA trained here (checkLora), under PEFT's names
  try {
    checkLora({ ...model, lora: { rank: r as number, alpha, targets: [...LORA_MODULES[archOf(model)]] } });
  } catch (e) {
    if (!(e instanceof ConfigRangeError)) throw e;
    const field = e.field === 'lora.alpha' ? 'lora_alpha' : e.field === 'lora.rank' ? 'r' : e.field;
    refuse(`adapter_config.json: ${e.message.replace(e.field, `"${field}"`)}`);
  }
  const known = LORA_MODULES[archOf(model)];
  const t = c.target_modules;
  if (!Array.isArray(t) || t.length === 0 || !t.every((x) => typeof x === 'string'))
    refuse(
      `adapter_config.json: "target_modules" must be a list of module names (a regex string is not supported), got ${JSON.stringify(t)}`,
    );
  const targets = (t as string[]).map((x) => x.slice(x.lastIndexOf('.') + 1));
  for (const x of targets)
    if (!known.includes(x))
      refuse(`adapter_config.json: target "${x}" is not a projection of a ${archOf(model)} model (${known.join(', ')})`);
  return { rank: r as number, alpha, targets: [...new Set(targets)] };
}

/** Reads an adapter folder for `model`; returns the LoRA setting and the
 * adapter's float32 tensors under our names. With `base`, an adapter whose
 * metadata names another base fingerprint is refused (adapters from
 * elsewhere carry none: their shapes are checked, as always). */
export async function readPeftAdapter(
  src: FolderSource,
  model: ModelConfig,
  base?: BaseRef,
): Promise<{ lora: LoraConfig; weights: TensorMap }> {
  if (!src.has('adapter_config.json')) refuse('adapter_config.json is missing');
  if (!src.has('adapter_model.safetensors')) refuse('adapter_model.safetensors is missing');
  const raw = await readJsonFile(src, 'adapter_config.json', refuse);
  // the header against the file's size first; the tensors after the checks
  const layout = await readSafetensorsLayout(src, 'adapter_model.safetensors', refuse);
  const meta = layout.metadata;
  const fp = meta[ADAPTER_META.fingerprint];
  if (base && fp !== undefined && fp !== base.fingerprint) {
    const named = meta[ADAPTER_META.base] !== undefined ? `"${meta[ADAPTER_META.base]}" ` : '';
    refuse(
      `adapter_model.safetensors was trained on another base model, ${named}(weights ${fp}), not on "${base.name}" (weights ${base.fingerprint}): give the base it was trained on`,
    );
  }
  // after the fingerprint: for another base, that is the reason to give
  const lora = parsePeftConfig(raw, model);
  const mc: ModelConfig = { ...model, lora };
  const expected = new Map(loraShapes(mc));
  const ourName = (name: string): string => (name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length) : name);
  const seen = new Set<string>();
  for (const t of layout.entries) {
    const ours = ourName(t.name);
    const shape = expected.get(ours);
    if (!shape) refuse(`unexpected tensor "${t.name}" (not a LoRA tensor of targets ${lora.targets.join(', ')} on this model)`);
    if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1])
      refuse(`tensor "${t.name}" has shape [${t.shape.join(', ')}], the model and r ${lora.rank} need [${shape.join(', ')}]`);
    if (seen.has(ours)) refuse(`tensor "${ours}" is stored twice (with and without "${PEFT_PREFIX}")`);
    seen.add(ours);
  }
  for (const name of expected.keys()) if (!seen.has(name)) refuse(`tensor "${PEFT_PREFIX}${name}" is missing`);
  const tensors = await readSafetensors(src, 'adapter_model.safetensors', layout, () => true, refuse);
  const weights: TensorMap = Object.create(null) as TensorMap;
  for (const [name, t] of Object.entries(tensors)) {
    // NaN or infinity would make every log-prob null and every token "!"
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) refuse(`adapter_model.safetensors: tensor "${name}" holds ${t.data[bad]} at index ${bad} (every value must be finite)`);
    weights[ourName(name)] = t;
  }
  return { lora, weights };
}
