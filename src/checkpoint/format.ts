// TrainState <-> one self-contained .safetensors file (format "mcckd-run/1",
// described in README's CLI section): params under their HF GPT-2 names, AdamW moments
// under optimizer.exp_avg.<name> / optimizer.exp_avg_sq.<name>, configs and
// run state as JSON strings in __metadata__, an xxh32 checksum over the
// tensor bytes and, in files written since issue 22, a second xxh32 over the
// metadata (metadata_checksum; older files without it still load). Loading
// checks everything before anything is used, and trusts nothing the
// checksums do not cover (an older file's metadata, a deliberate edit that
// recomputes them): configs are range-checked against core/config's MODEL_LIMITS and
// TRAIN_LIMITS, the model config is weighed against the values the file
// holds before its parameter table is built, the tokenizer is checked
// without building it and must match the model's vocabulary, and tensor
// names are only ever compared with the expected ones (never used as keys of
// an object with a prototype).

import {
  ConfigRangeError,
  DEFAULT_TRAIN,
  PRESETS,
  checkModelRanges,
  checkTrainRanges,
  countTrainable,
  paramCountOf,
  trainableShapes,
  type ModelConfig,
  type TrainConfig,
} from '../core/config';
import { DEFAULT_ARCH, archOf } from '../core/arch';
import type { BaseRef, NamedTensor, TensorMap, TrainState } from '../core/state';
import { validatePromptTemplate } from '../data/template';
import { TokenizerError, checkTokenizerJSON, type TokenizerJSON } from '../core/tokenizer';
import { Xxh32 } from './hash';
import { METRICS_KEY, decodeMetrics, encodeMetrics } from './metricsMeta';
import { MAX_JSON_DEPTH, decode, describeValue, encode, f32Bytes, jsonDepth, numel, sortedNames, type DecodeLimits } from './safetensors';

const CHECKPOINT_FORMAT = 'mcckd-run/1';
/** Named in the file next to the checksum, so that a later algorithm is a
 * readable change rather than a silent mismatch. */
const CHECKSUM_ALGORITHM = 'xxh32';
const EXP_AVG = 'optimizer.exp_avg.';
const EXP_AVG_SQ = 'optimizer.exp_avg_sq.';

type CheckpointProblem = 'format' | 'checksum' | 'config' | 'tensors';

export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
  constructor(
    message: string,
    readonly problem: CheckpointProblem,
  ) {
    super(message);
  }
}

/** What `run_state` holds: where training stands, besides the tensors. */
interface RunState {
  step: number;
  optimizerStep: number;
  rngState: number[];
  cursor: TrainState['cursor'];
  datasetFingerprint: string;
}

/** Every stored parameter with its shape (core/config's tables), by name:
 * the whole model, or only the adapter of a LoRA run (its base lives in the
 * pretrained model's folder, named by the `base` metadata). */
export function expectedParamShapes(c: ModelConfig): Record<string, number[]> {
  return Object.fromEntries(trainableShapes(c));
}

/** Hex xxh32 over the little-endian bytes of all tensors, in sorted name
 * order (for our files that is exactly the data section). */
export function checkpointChecksum(tensors: TensorMap): string {
  const h = new Xxh32(0);
  for (const name of sortedNames(tensors)) h.update(f32Bytes(tensors[name].data));
  return h.hex();
}

/** The metadata key of the checksum over the rest of the metadata. */
const METADATA_CHECKSUM = 'metadata_checksum';

/** Hex xxh32 over the metadata, every key but its own: the UTF-8 of the JSON
 * array of [key, value] pairs in sorted key order (one unambiguous text; the
 * tensor checksum is one of the values, so both are tied together). */
export function metadataChecksum(metadata: Record<string, string>): string {
  const pairs = Object.keys(metadata)
    .filter((k) => k !== METADATA_CHECKSUM)
    .sort()
    .map((k) => [k, metadata[k]]);
  return new Xxh32(0).update(new TextEncoder().encode(JSON.stringify(pairs))).hex();
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Checks one family of tensors (params or a moment) against the expected
 * shapes; `label` says which family in the message. `get` and `names` read
 * the family, whose names are untrusted: only own names of `expected` count. */
function checkFamily(
  get: (name: string) => NamedTensor | undefined,
  names: Iterable<string>,
  expected: Record<string, number[]>,
  label: string,
  prefix: string,
): void {
  for (const [name, shape] of Object.entries(expected)) {
    const t = get(name);
    if (!t) throw new CheckpointFormatError(`${label} "${prefix}${name}" is missing`, 'tensors');
    if (!sameShape(t.shape, shape)) {
      throw new CheckpointFormatError(
        `${label} "${prefix}${name}" has shape ${fmt(t.shape)}, the model config needs ${fmt(shape)}`,
        'tensors',
      );
    }
    if (t.data.length !== numel(shape)) {
      throw new CheckpointFormatError(
        `${label} "${prefix}${name}" has ${t.data.length} values, shape ${fmt(shape)} needs ${numel(shape)}`,
        'tensors',
      );
    }
  }
  for (const name of names) {
    // own names only: "constructor" or "toString" are not parameters
    if (!Object.hasOwn(expected, name))
      throw new CheckpointFormatError(`unexpected ${label} "${prefix}${name}" (not part of the model config)`, 'tensors');
  }
}

function checkTensors(map: TensorMap, expected: Record<string, number[]>, label: string, prefix = ''): void {
  checkFamily((name) => (Object.hasOwn(map, name) ? map[name] : undefined), Object.keys(map), expected, label, prefix);
}

/** checkFamily over a Map of untrusted names; returns a plain TensorMap,
 * built only once every name is known to be one of the table's. */
function checkedMap(map: Map<string, NamedTensor>, expected: Record<string, number[]>, label: string, prefix = ''): TensorMap {
  checkFamily((name) => map.get(name), map.keys(), expected, label, prefix);
  const out: TensorMap = {};
  for (const [name, t] of map) out[name] = t;
  return out;
}

/** weightsOnly: no AdamW moments. metrics: state.metrics go into the
 * metadata too (metricsMeta.ts; only `mcckd import` asks for them). */
interface EncodeOptions {
  weightsOnly?: boolean;
  metrics?: boolean;
}

export function stateToSafetensors(state: TrainState, opts: EncodeOptions = {}): Uint8Array {
  return encodeCheckpoint(state, opts).bytes;
}

/** As stateToSafetensors, also returning the checksum written into the file. */
export function encodeCheckpoint(state: TrainState, opts: EncodeOptions = {}): { bytes: Uint8Array; checksum: string } {
  const expected = expectedParamShapes(state.modelConfig);
  const tensors: TensorMap = { ...state.params };
  try {
    checkTensors(state.params, expected, 'param');
    if (!opts.weightsOnly) {
      checkTensors(state.optimizer.m, expected, 'optimizer moment', EXP_AVG);
      checkTensors(state.optimizer.v, expected, 'optimizer moment', EXP_AVG_SQ);
    }
  } catch (e) {
    // Refuse to write a file that could not be loaded again.
    throw new CheckpointFormatError(`cannot save: ${(e as Error).message}`, 'tensors');
  }
  if (!opts.weightsOnly) {
    for (const name of Object.keys(expected)) {
      tensors[EXP_AVG + name] = state.optimizer.m[name];
      tensors[EXP_AVG_SQ + name] = state.optimizer.v[name];
    }
  }
  const runState: RunState = {
    step: state.step,
    optimizerStep: state.optimizer.step,
    rngState: state.rngState,
    cursor: state.cursor,
    datasetFingerprint: state.datasetFingerprint,
  };
  const checksum = checkpointChecksum(tensors);
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    model_config: JSON.stringify(state.modelConfig),
    train_config: JSON.stringify(state.trainConfig),
    tokenizer: JSON.stringify(state.tokenizer),
    ...(state.base ? { base: JSON.stringify(state.base) } : {}),
    run_state: JSON.stringify(runState),
    ...(opts.metrics ? { [METRICS_KEY]: encodeMetrics(state.metrics.filter((p) => p.step <= state.step)) } : {}),
    checksum_algorithm: CHECKSUM_ALGORITHM,
    checksum,
  };
  metadata[METADATA_CHECKSUM] = metadataChecksum(metadata);
  const bytes = encode(tensors, metadata);
  return { bytes, checksum };
}

// ---- validation of the metadata on load --------------------------------

const isInt = (x: unknown, min = 0): x is number => Number.isSafeInteger(x) && (x as number) >= min;
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function parseJsonField(meta: Record<string, string>, key: string): unknown {
  const raw = Object.hasOwn(meta, key) ? meta[key] : undefined;
  if (raw === undefined) throw new CheckpointFormatError(`metadata "${key}" is missing`, 'format');
  // JSON.parse copes with any depth; what walks the value later may not
  if (jsonDepth(raw) > MAX_JSON_DEPTH)
    throw new CheckpointFormatError(`metadata "${key}" nests JSON more than ${MAX_JSON_DEPTH} levels deep`, 'format');
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new CheckpointFormatError(`metadata "${key}" is not valid JSON: ${(e as Error).message}`, 'format');
  }
}

function validateModelConfig(x: unknown): ModelConfig {
  const bad = (msg: string): never => {
    throw new CheckpointFormatError(`model_config: ${msg}`, 'config');
  };
  if (!isObj(x)) return bad('must be an object');
  for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
    if (!isInt(x[k], 1)) bad(`${k} must be a positive integer, got ${describeValue(x[k])}`);
  }
  const c = x as unknown as ModelConfig;
  if (c.nEmbd % c.nHead !== 0) bad(`nEmbd ${c.nEmbd} is not divisible by nHead ${c.nHead}`);
  if (typeof c.layerNormEps !== 'number' || !(c.layerNormEps > 0)) bad(`layerNormEps must be > 0, got ${describeValue(c.layerNormEps)}`);
  inRanges(() => checkModelRanges(c), bad);
  return c;
}

/** Runs a core/config range check, turning its ConfigRangeError into the
 * caller's refusal. */
function inRanges(check: () => void, bad: (msg: string) => never): void {
  try {
    check();
  } catch (e) {
    if (e instanceof ConfigRangeError) bad(e.message);
    throw e;
  }
}

const BACKENDS = ['cpu', 'wasm', 'webgpu', 'webgl'];

function validateTrainConfig(raw: unknown): TrainConfig {
  const bad = (msg: string): never => {
    throw new CheckpointFormatError(`train_config: ${msg}`, 'config');
  };
  if (!isObj(raw)) return bad('must be an object');
  // A key missing from an older file takes today's default (keys get added
  // as the trainer grows); a key present with the wrong type is refused.
  const x: Record<string, unknown> = { ...DEFAULT_TRAIN, ...raw };
  for (const [k, def] of Object.entries(DEFAULT_TRAIN)) {
    if (typeof x[k] !== typeof def) bad(`${k} must be a ${typeof def}, got ${describeValue(x[k])}`);
  }
  if (x.epochs !== undefined && typeof x.epochs !== 'number') bad(`epochs must be a number, got ${describeValue(x.epochs)}`);
  if (!Object.hasOwn(PRESETS, x.preset as string)) bad(`unknown preset "${describeValue(x.preset).replace(/^"|"$/g, '')}"`);
  if (!BACKENDS.includes(x.backend as string)) bad(`unknown backend "${describeValue(x.backend).replace(/^"|"$/g, '')}"`);
  const c = x as unknown as TrainConfig;
  inRanges(() => checkTrainRanges(c), bad);
  if (c.recompute !== undefined && typeof c.recompute !== 'boolean')
    bad(`recompute must be true or false, got ${describeValue(c.recompute)}`);
  if (c.promptTemplate !== undefined) {
    try {
      validatePromptTemplate(c.promptTemplate);
    } catch (e) {
      bad((e as Error).message);
    }
  }
  return c;
}

/** The `base` metadata of a run on a pretrained model. */
function validateBase(x: unknown, model: ModelConfig): BaseRef {
  const bad = (msg: string): never => {
    throw new CheckpointFormatError(`base: ${msg}`, 'config');
  };
  if (!isObj(x)) return bad('must be an object');
  if (x.arch !== archOf(model)) bad(`arch ${describeValue(x.arch)} does not match model_config's ${describeValue(archOf(model))}`);
  if (typeof x.name !== 'string' || x.name.length > 1000) bad('name must be a string of at most 1000 characters');
  if (typeof x.fingerprint !== 'string' || !/^[0-9a-f]{8}-\d{1,15}$/.test(x.fingerprint))
    bad(`fingerprint must look like "89abcdef-12345", got ${describeValue(x.fingerprint)}`);
  return { arch: x.arch as BaseRef['arch'], name: x.name as string, fingerprint: x.fingerprint as string };
}

function validateRunState(x: unknown): RunState {
  const bad = (msg: string): never => {
    throw new CheckpointFormatError(`run_state: ${msg}`, 'config');
  };
  if (!isObj(x)) return bad('must be an object');
  if (!isInt(x.step)) bad(`step must be a non-negative integer, got ${describeValue(x.step)}`);
  if (!isInt(x.optimizerStep)) bad(`optimizerStep must be a non-negative integer, got ${describeValue(x.optimizerStep)}`);
  // the data order's generator (shared/rng) is four 32-bit words: refused here, not at the first step
  // 32-bit words, written signed or unsigned (the generator's state is kept
  // as JavaScript's int32 results; Rng.fromState reads either as unsigned)
  if (
    !Array.isArray(x.rngState) ||
    x.rngState.length !== 4 ||
    !x.rngState.every((n) => Number.isSafeInteger(n) && n >= -0x80000000 && n <= 0xffffffff)
  )
    bad(`rngState must be four 32-bit integers (in [-2147483648, 4294967295]), got ${describeValue(x.rngState)}`);
  const c = x.cursor;
  if (!isObj(c) || !isInt(c.epoch) || !isInt(c.position) || !Array.isArray(c.order) || !c.order.every((n) => isInt(n))) {
    bad('cursor must be {epoch, position, order: non-negative integers}');
  }
  if (typeof x.datasetFingerprint !== 'string') bad('datasetFingerprint must be a string');
  return x as unknown as RunState;
}

/** The tokenizer metadata, checked as core/tokenizer checks it (without
 * building any token). */
function validateTokenizer(tokenizer: unknown): TokenizerJSON {
  try {
    return checkTokenizerJSON(tokenizer);
  } catch (e) {
    if (e instanceof TokenizerError) throw new CheckpointFormatError(e.message, 'config');
    throw e;
  }
}

/** The model's embedding has one row per token id: an id past it reads
 * zeros on WebGPU/WebGL (and a smaller tokenizer leaves rows untrained). */
function checkVocabMatch(tokenizer: TokenizerJSON, model: ModelConfig): void {
  const size = tokenizer.vocabSize;
  if (size !== model.vocabSize) {
    throw new CheckpointFormatError(
      `tokenizer has a vocabulary of ${size} tokens but model_config.vocabSize is ${model.vocabSize} (token ids would fall outside the embedding)`,
      'config',
    );
  }
}

interface LoadedCheckpoint {
  /** Complete state; metrics are [] (they live outside the file) unless
   * the file embeds them (metricsMeta.ts). For a
   * weights-only file the moments are zeros and optimizer.step is 0, i.e.
   * AdamW starts afresh from these weights. */
  state: TrainState;
  weightsOnly: boolean;
  /** The checksum the file carries (verified). */
  checksum: string;
}

/** Validates a whole checkpoint file and turns it into a TrainState. The
 * returned tensors may be views into `bytes` (see decode). */
export function safetensorsToState(bytes: Uint8Array, limits?: DecodeLimits): LoadedCheckpoint {
  const { tensors, metadata } = decode(bytes, limits);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointFormatError(
      metadata.format === undefined
        ? `not an MCC-KD checkpoint: metadata has no "format" (expected "${CHECKPOINT_FORMAT}")`
        : `unsupported checkpoint format "${metadata.format}" (expected "${CHECKPOINT_FORMAT}")`,
      'format',
    );
  }
  const algo = metadata.checksum_algorithm ?? CHECKSUM_ALGORITHM;
  if (algo !== CHECKSUM_ALGORITHM) throw new CheckpointFormatError(`unsupported checksum algorithm "${algo}"`, 'format');
  if (!metadata.checksum) throw new CheckpointFormatError('metadata "checksum" is missing', 'format');
  const actual = checkpointChecksum(tensors);
  if (actual !== metadata.checksum.toLowerCase()) {
    throw new CheckpointFormatError(
      `checksum mismatch: the file says ${metadata.checksum}, its tensor bytes hash to ${actual} (the file is damaged)`,
      'checksum',
    );
  }
  const metaSum = Object.hasOwn(metadata, METADATA_CHECKSUM) ? metadata[METADATA_CHECKSUM] : undefined;
  if (metaSum !== undefined && metaSum.toLowerCase() !== metadataChecksum(metadata)) {
    throw new CheckpointFormatError(
      `metadata checksum mismatch: the file says ${metaSum}, its metadata hashes to ${metadataChecksum(metadata)} (the configs or run state were edited or damaged)`,
      'checksum',
    );
  }
  const modelConfig = validateModelConfig(parseJsonField(metadata, 'model_config'));
  // Weigh the config against the file before building its parameter table:
  // a full file holds the parameters three times, weights-only once, so a
  // config describing more parameters than the file has values in all
  // cannot belong to it (and could be arbitrarily large): refused at once.
  let values = 0;
  for (const name of Object.keys(tensors)) values += tensors[name].data.length;
  // (a LoRA file holds the adapter, whose table is small and bounded by the limits)
  const count = modelConfig.lora ? countTrainable(modelConfig) : paramCountOf(modelConfig);
  if (count > values) {
    throw new CheckpointFormatError(
      `model_config describes ${count} parameters, but the file's tensors hold only ${values} values in all (the config does not belong to these tensors)`,
      'tensors',
    );
  }
  const trainConfig = validateTrainConfig(parseJsonField(metadata, 'train_config'));
  const tokenizer = parseJsonField(metadata, 'tokenizer');
  // A pretrained student's tokenizer is its base's tokenizer.json (null here);
  // a from-scratch student's is our BPE, stored whole.
  const base = metadata.base === undefined ? undefined : validateBase(parseJsonField(metadata, 'base'), modelConfig);
  if (!base && archOf(modelConfig) !== DEFAULT_ARCH) {
    throw new CheckpointFormatError(
      `model_config: a ${modelConfig.arch} model must name its pretrained base (metadata "base" is missing)`,
      'config',
    );
  }
  if (!base && modelConfig.lora)
    throw new CheckpointFormatError('model_config: a LoRA adapter must name its pretrained base (metadata "base" is missing)', 'config');
  if (base && tokenizer !== null)
    throw new CheckpointFormatError(
      'metadata "tokenizer" must be null for a run on a pretrained base (its tokenizer.json is the base\'s)',
      'config',
    );
  if (!base && !isObj(tokenizer)) throw new CheckpointFormatError('metadata "tokenizer" must be a JSON object', 'config');
  const tokenizerJSON = base ? undefined : validateTokenizer(tokenizer);
  const run = validateRunState(parseJsonField(metadata, 'run_state'));
  let metrics: TrainState['metrics'] = [];
  if (Object.hasOwn(metadata, METRICS_KEY)) {
    try {
      metrics = decodeMetrics(parseJsonField(metadata, METRICS_KEY), run.step);
    } catch (e) {
      if (e instanceof CheckpointFormatError) throw e;
      throw new CheckpointFormatError(`metadata "${METRICS_KEY}": ${(e as Error).message}`, 'format');
    }
  }

  // Split by name into Maps (names are data: "__proto__" is just a string
  // here), check them against the table, and only then build plain objects,
  // whose keys are then the table's own names.
  const split = { params: new Map<string, NamedTensor>(), m: new Map<string, NamedTensor>(), v: new Map<string, NamedTensor>() };
  for (const name of Object.keys(tensors)) {
    const t = tensors[name];
    if (name.startsWith(EXP_AVG)) split.m.set(name.slice(EXP_AVG.length), t);
    else if (name.startsWith(EXP_AVG_SQ)) split.v.set(name.slice(EXP_AVG_SQ.length), t);
    else split.params.set(name, t);
  }
  const expected = expectedParamShapes(modelConfig);
  const params = checkedMap(split.params, expected, 'param');
  // after the tensors: a model config that does not fit them says so first
  if (tokenizerJSON) checkVocabMatch(tokenizerJSON, modelConfig);
  const weightsOnly = split.m.size === 0 && split.v.size === 0;
  let m: TensorMap = {};
  let v: TensorMap = {};
  if (weightsOnly) {
    for (const [name, shape] of Object.entries(expected)) {
      m[name] = { shape: [...shape], data: new Float32Array(numel(shape)) };
      v[name] = { shape: [...shape], data: new Float32Array(numel(shape)) };
    }
  } else {
    m = checkedMap(split.m, expected, 'optimizer moment', EXP_AVG);
    v = checkedMap(split.v, expected, 'optimizer moment', EXP_AVG_SQ);
  }
  const state: TrainState = {
    format: CHECKPOINT_FORMAT,
    modelConfig,
    trainConfig,
    tokenizer,
    ...(base ? { base } : {}),
    step: run.step,
    rngState: run.rngState,
    cursor: run.cursor,
    datasetFingerprint: run.datasetFingerprint,
    params,
    optimizer: { step: weightsOnly ? 0 : run.optimizerStep, m, v },
    metrics,
  };
  return { state, weightsOnly, checksum: actual };
}
