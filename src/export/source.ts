// What every export reads: one trained student as plain data, whatever it
// started from. A from-scratch student is its checkpoint plus our BPE written
// as a Hugging Face tokenizer.json; a pretrained one is its base folder with
// the run's adapter merged in (or the run's full weights, for rank 0). The
// writers (hf.ts, peft.ts, gguf.ts, card.ts) take an ExportModel and nothing
// else, so the CLI and the worker export the same bytes.

import { countParams, type LoraConfig, type ModelConfig, type TrainConfig } from '../core/config';
import { loraModules } from '../core/config';
import { familyOf } from '../core/arch';
import type { BaseRef, MetricPoint, TensorMap, TrainState } from '../core/state';
import { EOS_ID, PAD_ID, Tokenizer } from '../core/tokenizer';
import { checkBaseSettings } from '../core/inference';
import type { PretrainedStudent } from '../core/trainer';
import type { RunFacts } from '../checkpoint/schema';
import type { HfFolder } from '../hf/folder';
import { bpeTokenizerFiles } from './tokenizer-json';

export type StoredDtype = 'F32' | 'F16' | 'BF16';

export class ExportError extends Error {
  override readonly name = 'ExportError';
}

export interface ExportModel {
  /** The architecture, without the LoRA setting: the merged model's. */
  modelConfig: ModelConfig;
  /** Every parameter under our names (Hugging Face's), float32, adapter merged in. */
  weights: TensorMap;
  /** A LoRA run's adapter, not merged: its setting and tensors under our
   * names (`<module>.lora_A.weight` [r, in], `.lora_B.weight` [out, r]). */
  adapter?: { lora: LoraConfig; tensors: TensorMap };
  /** What the weights are stored as: the base's dtype, F32 from scratch. */
  dtype: StoredDtype;
  tokenizerJson: unknown;
  tokenizerConfig?: unknown;
  generationConfig?: unknown;
  /** The base's config.json as it was stored; absent from scratch. */
  baseConfig?: unknown;
  base?: BaseRef;
  bosTokenId?: number;
  eosTokenIds: number[];
  padTokenId?: number;
  trainConfig: TrainConfig;
  step: number;
  metrics: MetricPoint[];
  parameters: number;
  facts: RunFacts;
}

/** A pretrained run's base as read from its folder. */
export interface ExportBase {
  student: PretrainedStudent;
  folder: HfFolder;
}

/** W + (alpha / r) * B @ A for every adapted module, as PEFT's merge does;
 * GPT-2's Conv1D weights are [in, out], so the delta goes in transposed.
 * Tensors without an adapter are shared with `base`, not copied. */
function mergeLora(c: ModelConfig, base: TensorMap, adapter: TensorMap): TensorMap {
  if (!c.lora) return base;
  const out: TensorMap = { ...base };
  const conv1d = familyOf(c).weightLayout === 'in-out';
  const r = c.lora.rank;
  const s = c.lora.alpha / r;
  for (const m of loraModules(c)) {
    const name = `${m.module}.weight`;
    const A = adapter[`${m.module}.lora_A.weight`]; // [r, in]
    const B = adapter[`${m.module}.lora_B.weight`]; // [out, r]
    const W = base[name];
    if (!A || !B || !W) throw new ExportError(`merging LoRA: ${!W ? name : `${m.module}.lora_${A ? 'B' : 'A'}.weight`} is missing`);
    const w = W.data.slice();
    const row = new Float64Array(m.in);
    for (let o = 0; o < m.out; o++) {
      row.fill(0);
      for (let k = 0; k < r; k++) {
        const b = B.data[o * r + k] * s;
        if (b === 0) continue;
        const a = A.data.subarray(k * m.in, (k + 1) * m.in);
        for (let i = 0; i < m.in; i++) row[i] += b * a[i];
      }
      if (conv1d)
        for (let i = 0; i < m.in; i++) w[i * m.out + o] += row[i]; // W [in, out]
      else for (let i = 0; i < m.in; i++) w[o * m.in + i] += row[i]; // W [out, in]
    }
    out[name] = { shape: W.shape.slice(), data: w };
  }
  return out;
}

/** One dtype for the merged weights: the base's when it stored one, else F32. */
function dtypeOf(folder: HfFolder): StoredDtype {
  const d = folder.dtypes;
  return d.length === 1 && (d[0] === 'F16' || d[0] === 'BF16') ? d[0] : 'F32';
}

/** The student of a checkpoint as every export sees it. A run on a
 * pretrained base needs that base (the fingerprint must match). */
export function exportModel(state: TrainState, o: { base?: ExportBase; facts: RunFacts }): ExportModel {
  const { lora, ...modelConfig } = state.modelConfig;
  const common = {
    modelConfig,
    trainConfig: state.trainConfig,
    step: state.step,
    metrics: state.metrics,
    parameters: countParams(modelConfig),
    facts: o.facts,
  };
  if (!state.base) {
    const tok = Tokenizer.fromJSON(state.tokenizer);
    const files = bpeTokenizerFiles(tok.toJSON());
    return {
      ...common,
      weights: state.params,
      dtype: 'F32',
      tokenizerJson: files.tokenizerJson,
      tokenizerConfig: files.tokenizerConfig,
      eosTokenIds: [EOS_ID],
      padTokenId: PAD_ID,
    };
  }
  const base = o.base;
  if (!base) throw new ExportError(`this run fine-tunes "${state.base.name}": its base model folder is needed to export it`);
  if (base.student.base.fingerprint !== state.base.fingerprint) {
    throw new ExportError(
      `the model folder "${base.student.base.name}" (fingerprint ${base.student.base.fingerprint}) is not the base this run trained on ("${state.base.name}", ${state.base.fingerprint})`,
    );
  }
  try {
    checkBaseSettings(state.modelConfig, base.student);
  } catch (e) {
    throw new ExportError((e as Error).message);
  }
  const spec = base.folder.spec;
  const weights = lora ? mergeLora(state.modelConfig, base.student.weights, state.params) : state.params;
  return {
    ...common,
    weights,
    ...(lora ? { adapter: { lora, tensors: state.params } } : {}),
    dtype: dtypeOf(base.folder),
    tokenizerJson: base.folder.tokenizerJson,
    tokenizerConfig: base.folder.tokenizerConfig,
    generationConfig: base.folder.generationConfig,
    baseConfig: base.folder.rawConfig,
    base: state.base,
    ...(spec.bosTokenId !== undefined ? { bosTokenId: spec.bosTokenId } : {}),
    eosTokenIds:
      base.student.tokenizer.eosId !== undefined ? [...new Set([base.student.tokenizer.eosId, ...spec.eosTokenIds])] : spec.eosTokenIds,
  };
}
