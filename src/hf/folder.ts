// A Hugging Face model folder read into our names and float32 tensors:
// config.json, model.safetensors or its shards (model.safetensors.index.json),
// and the tokenizer files when present. Every check that needs no weight
// data (the config, the index, each shard's header against its size and the
// tensor table) runs before a weight is read; then each tensor is read by
// its own byte range, so that a file of any size (over 2 GiB too) costs
// only the weights kept. Works on any file source: the files of a folder
// picked in the page (Blob.slice), or a directory in Node (a file handle).
// The matrices a packed base packs stay in their F16 / BF16 patterns when
// the file stores them so (core/half-tensor.ts): no float32 copy of them.

import {
  headerLength,
  jsonDepth,
  MAX_JSON_DEPTH,
  readLayout,
  SafetensorsError,
  tensorFromBytes,
  type SafetensorsLayout,
} from '../checkpoint/safetensors';
import { LITTLE_ENDIAN } from '../checkpoint/hash';
import { packableName, packedTableName } from '../core/base-dtype';
import { halfTensor } from '../core/half-tensor';
import type { TensorMap } from '../core/state';
import { canonicalName, checkStoredTensors, HfConfigError, isIgnoredTensor, parseHfConfig, type HfModelSpec } from './config';

/** The files of one folder, by their names in it. */
export interface FolderSource {
  has(name: string): boolean;
  /** The file's size in bytes. */
  size(name: string): Promise<number>;
  /** `length` bytes from `offset` (fewer past the end of the file), or
   * without a range the whole file (only JSON files are read whole). */
  read(name: string, range?: ByteRange): Promise<Uint8Array>;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface HfFolder {
  spec: HfModelSpec;
  /** config.json as stored (an export writes it back with the keys we do not read). */
  rawConfig: unknown;
  /** Parameters under our table's names (GPT-2's `transformer.` prefix):
   * float32, but the matrices a packed base packs (core/base-dtype.ts) when
   * the file stores them F16 / BF16, which stay in their 16-bit patterns
   * (HalfTensor: `data` decodes them on each read). */
  weights: TensorMap;
  /** The storage dtypes seen. */
  dtypes: string[];
  tokenizerJson?: unknown;
  tokenizerConfig?: unknown;
  generationConfig?: unknown;
}

const INDEX = 'model.safetensors.index.json';
const SINGLE = 'model.safetensors';
/** Largest JSON file read whole (Gemma 3's tokenizer.json is 33 MB). */
const MAX_JSON_BYTES = 256 * 1024 * 1024;
/** Largest safetensors header (a hub model's is well under 1 MB): a larger
 * length field is a damaged file. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function refuse(msg: string): never {
  throw new HfConfigError(msg);
}

/** A JSON file's bytes parsed; refused by `fail`, naming the file, when
 * they are not JSON or nest deeper than MAX_JSON_DEPTH (JSON.parse copes
 * with any depth, but what walks the value afterwards overflows the stack:
 * JSON.stringify in a message, the structured clone to the page). */
function parseJsonFile(name: string, bytes: Uint8Array, fail: (msg: string) => never = refuse): unknown {
  const text = new TextDecoder().decode(bytes);
  if (jsonDepth(text) > MAX_JSON_DEPTH) fail(`${name} nests JSON more than ${MAX_JSON_DEPTH} levels deep (damaged or hostile file)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    return fail(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}

/** A JSON file of the folder, read whole after its size is checked. */
export async function readJsonFile(src: FolderSource, name: string, fail: (msg: string) => never = refuse): Promise<unknown> {
  const size = await src.size(name);
  if (size > MAX_JSON_BYTES) fail(`${name} is ${size} bytes, more than the ${MAX_JSON_BYTES} a JSON file of a model folder may hold`);
  return parseJsonFile(name, await src.read(name), fail);
}

const readJson = (src: FolderSource, name: string): Promise<unknown> => readJsonFile(src, name);

/** A safetensors file's header, checked against the file's size before a
 * byte of tensor data is read; refused by `fail` naming the file. */
export async function readSafetensorsLayout(
  src: FolderSource,
  file: string,
  fail: (msg: string) => never = refuse,
): Promise<SafetensorsLayout> {
  try {
    const size = await src.size(file);
    const limits = { maxHeaderBytes: MAX_HEADER_BYTES };
    const len = headerLength(await src.read(file, { offset: 0, length: 8 }), size, limits);
    return readLayout(await src.read(file, { offset: 0, length: 8 + len }), size, limits);
  } catch (e) {
    if (e instanceof SafetensorsError) fail(`${file}: ${e.message}`);
    throw e;
  }
}

/** The tensors of `layout` that `want` keeps, as float32, each read by its
 * own range: a file of any size costs the tensors kept plus one tensor's
 * bytes at a time. An F16 / BF16 tensor that `keepHalf` names is kept in
 * its 16-bit patterns instead (a HalfTensor: half the bytes, packed for the
 * GPU without a float32 copy). */
export async function readSafetensors(
  src: FolderSource,
  file: string,
  layout: SafetensorsLayout,
  want: (name: string) => boolean,
  fail: (msg: string) => never = refuse,
  keepHalf: (name: string, shape: number[]) => boolean = () => false,
): Promise<TensorMap> {
  const out: TensorMap = Object.create(null) as TensorMap;
  for (const e of layout.entries) {
    if (!want(e.name)) continue;
    const bytes = await src.read(file, { offset: layout.dataStart + e.begin, length: e.end - e.begin });
    if (bytes.length !== e.end - e.begin) fail(`${file} was cut short while it was read (tensor "${e.name}")`);
    out[e.name] =
      (e.dtype === 'F16' || e.dtype === 'BF16') && LITTLE_ENDIAN && keepHalf(e.name, e.shape)
        ? halfTensor(e.shape, e.dtype, halfBits(bytes))
        : { shape: e.shape, data: tensorFromBytes(e, bytes) };
  }
  return out;
}

/** A tensor's bytes as 16-bit patterns: a view where the range starts on an
 * even byte (a FolderSource's range read is its own buffer, so the view
 * keeps nothing else alive), else a copy. */
const halfBits = (bytes: Uint8Array): Uint16Array =>
  bytes.byteOffset % 2 === 0
    ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)
    : new Uint16Array(bytes.slice().buffer, 0, bytes.length / 2);

/** The weight files and, for shards, which tensor each holds. */
async function weightFiles(src: FolderSource): Promise<string[]> {
  if (src.has(INDEX)) {
    const index = await readJson(src, INDEX);
    const map = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      refuse(`${INDEX}: "weight_map" must be an object of tensor name → file`);
    const files = [...new Set(Object.values(map as Record<string, unknown>))];
    for (const f of files) {
      if (typeof f !== 'string' || !/^[\w.-]+\.safetensors$/.test(f))
        refuse(`${INDEX}: ${JSON.stringify(f)} is not a .safetensors file name in this folder`);
      if (!src.has(f)) refuse(`${INDEX} names ${f}, which is not in the folder`);
    }
    return files as string[];
  }
  if (src.has(SINGLE)) return [SINGLE];
  return refuse(`no ${SINGLE} and no ${INDEX} in the folder (PyTorch .bin weights are not supported: save them as safetensors)`);
}

/** Reads and checks a model folder; refuses (HfConfigError, naming the file,
 * field or tensor) before reading weights when anything disagrees. */
export async function readHfFolder(src: FolderSource): Promise<HfFolder> {
  if (!src.has('config.json')) refuse('config.json is missing: pick the model folder that holds config.json and model.safetensors');
  const rawConfig = await readJson(src, 'config.json');
  const spec = parseHfConfig(rawConfig);
  const files = await weightFiles(src);
  // every header against its file's size first: no weight is read from a
  // folder with a damaged file
  const layouts: SafetensorsLayout[] = [];
  for (const f of files) layouts.push(await readSafetensorsLayout(src, f));
  const stored = new Map<string, { dtype: string; shape: number[] }>();
  layouts.forEach((l, i) => {
    for (const { name, dtype, shape } of l.entries) {
      if (stored.has(name)) refuse(`tensor "${name}" is stored twice (in ${files[i]} and an earlier file)`);
      stored.set(name, { dtype, shape });
    }
  });
  checkStoredTensors(spec, stored);
  const weights: TensorMap = Object.create(null) as TensorMap;
  for (const [i, f] of files.entries()) {
    const tensors = await readSafetensors(
      src,
      f,
      layouts[i],
      (name) => !isIgnoredTensor(name, spec),
      refuse,
      (name, shape) => {
        const ours = canonicalName(name, spec);
        return packableName(ours, shape) || packedTableName(ours, shape); // what a packed base packs
      },
    );
    for (const [name, t] of Object.entries(tensors)) weights[canonicalName(name, spec)] = t;
  }
  const optional = async (name: string): Promise<unknown> => (src.has(name) ? readJson(src, name) : undefined);
  return {
    spec,
    rawConfig,
    weights,
    dtypes: [...new Set([...stored].filter(([n]) => !isIgnoredTensor(n, spec)).map(([, t]) => t.dtype))].sort(),
    tokenizerJson: await optional('tokenizer.json'),
    tokenizerConfig: await optional('tokenizer_config.json'),
    generationConfig: await optional('generation_config.json'),
  };
}
