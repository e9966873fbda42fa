// A Hugging Face model folder read into our names and float32 tensors:
// config.json, model.safetensors or its shards (model.safetensors.index.json),
// and the tokenizer files when present. Every check that needs no weight
// data (the config, the index, each shard's header against the tensor table)
// runs before a weight file is read whole. Works on any file source: the
// files of a folder picked in the page, or a directory in Node.

import { decode, jsonDepth, MAX_JSON_DEPTH, SafetensorsError } from '../checkpoint/safetensors';
import type { TensorMap } from '../core/state';
import { canonicalName, checkStoredTensors, HfConfigError, isIgnoredTensor, parseHfConfig, type HfModelSpec } from './config';

/** The files of one folder, by their names in it. */
export interface FolderSource {
  has(name: string): boolean;
  /** The first `n` bytes (a safetensors header), or the whole file. */
  read(name: string, n?: number): Promise<Uint8Array>;
}

export interface HfFolder {
  spec: HfModelSpec;
  /** config.json as stored (an export writes it back with the keys we do not read). */
  rawConfig: unknown;
  /** Parameters under our table's names (GPT-2's `transformer.` prefix). */
  weights: TensorMap;
  /** The storage dtypes seen (converted to float32 here). */
  dtypes: string[];
  tokenizerJson?: unknown;
  tokenizerConfig?: unknown;
  generationConfig?: unknown;
}

const INDEX = 'model.safetensors.index.json';
const SINGLE = 'model.safetensors';

function refuse(msg: string): never {
  throw new HfConfigError(msg);
}

/** A JSON file's bytes parsed; refused by `fail`, naming the file, when
 * they are not JSON or nest deeper than MAX_JSON_DEPTH (JSON.parse copes
 * with any depth, but what walks the value afterwards overflows the stack:
 * JSON.stringify in a message, the structured clone to the page). */
export function parseJsonFile(name: string, bytes: Uint8Array, fail: (msg: string) => never = refuse): unknown {
  const text = new TextDecoder().decode(bytes);
  if (jsonDepth(text) > MAX_JSON_DEPTH) fail(`${name} nests JSON more than ${MAX_JSON_DEPTH} levels deep (damaged or hostile file)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    return fail(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}

async function readJson(src: FolderSource, name: string): Promise<unknown> {
  return parseJsonFile(name, await src.read(name));
}

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

/** One file's tensor headers, from its first bytes. */
async function header(src: FolderSource, file: string): Promise<Map<string, { dtype: string; shape: number[] }>> {
  const head = await src.read(file, 8);
  if (head.length < 8) refuse(`${file} is ${head.length} bytes long: truncated`);
  const len =
    new DataView(head.buffer, head.byteOffset, 8).getUint32(0, true) +
    new DataView(head.buffer, head.byteOffset, 8).getUint32(4, true) * 2 ** 32;
  if (len > 100 * 1024 * 1024) refuse(`${file}: header length ${len} is not plausible (damaged file)`);
  const bytes = await src.read(file, 8 + len);
  if (bytes.length < 8 + len) refuse(`${file} is cut inside its header (${bytes.length} of ${8 + len} bytes): truncated`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + len)));
  } catch (e) {
    return refuse(`${file}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) refuse(`${file}: header must be a JSON object`);
  const out = new Map<string, { dtype: string; shape: number[] }>();
  for (const [name, t] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = t as { dtype?: unknown; shape?: unknown } | null;
    if (typeof e?.dtype !== 'string' || !Array.isArray(e.shape)) refuse(`${file}: tensor "${name}" has no dtype or shape`);
    out.set(name, { dtype: e.dtype, shape: e.shape as number[] });
  }
  return out;
}

/** Reads and checks a model folder; refuses (HfConfigError, naming the file,
 * field or tensor) before reading weights when anything disagrees. */
export async function readHfFolder(src: FolderSource): Promise<HfFolder> {
  if (!src.has('config.json')) refuse('config.json is missing: pick the model folder that holds config.json and model.safetensors');
  const rawConfig = await readJson(src, 'config.json');
  const spec = parseHfConfig(rawConfig);
  const files = await weightFiles(src);
  const headers = await Promise.all(files.map((f) => header(src, f)));
  const stored = new Map<string, { dtype: string; shape: number[] }>();
  headers.forEach((h, i) => {
    for (const [name, t] of h) {
      if (stored.has(name)) refuse(`tensor "${name}" is stored twice (in ${files[i]} and an earlier file)`);
      stored.set(name, t);
    }
  });
  checkStoredTensors(spec, stored);
  const weights: TensorMap = Object.create(null) as TensorMap;
  for (const f of files) {
    let tensors: ReturnType<typeof decode>['tensors'];
    try {
      tensors = decode(await src.read(f)).tensors;
    } catch (e) {
      if (e instanceof SafetensorsError) refuse(`${f}: ${e.message}`);
      throw e;
    }
    for (const [name, t] of Object.entries(tensors)) {
      if (isIgnoredTensor(name, spec)) continue;
      // decode's F32 tensors may view the file's buffer: copy, so that the
      // file can be dropped and the weights kept
      weights[canonicalName(name, spec)] = { shape: t.shape, data: t.data.slice() };
    }
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
