// Host memory of loading a pretrained student stored BF16 / F16 and packing
// its base (issue 23, item 2): a LLaMA-shaped folder (vocab 32000, width 512,
// 8 layers, MLP 1408, 8 query heads over 2 key/value heads, tied: 39.5 M
// parameters) written once under the system's temp dir, then, in a fresh
// process, loadStudent (read, check, fingerprint) and createBaseVariables
// in the base dtype asked, on tfjs's cpu backend (its variables are host
// memory, where WebGPU's would be the GPU's) or wasm (its heap). Prints the process's peak
// resident memory (VmHWM, Linux), the ArrayBuffer bytes alive after the load
// (after a GC: the student's host copy) and after the pack. A measurement,
// not a test; run it on two checkouts to compare (it uses only APIs both have).
// Usage: npx tsx scripts/measure-base-load-memory.ts [BF16|F16] [f16|int8|f32] [cpu|wasm]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode } from '../src/checkpoint/safetensors';
import { setupBackend } from '../src/cli/setup';
import { createBaseVariables } from '../src/core/base-dtype';
import { paramShapes } from '../src/core/config';
import type { TensorMap } from '../src/core/state';
import { hfTensorShapes, parseHfConfig } from '../src/hf/config';
import { loadStudent } from '../src/hf/student';
import { nodeFolder } from '../src/node/folder';
import { PY } from '../support/python';

const [fileDtype = 'BF16', baseDtype = 'f16', backend = 'cpu'] = process.argv.slice(2);
if (fileDtype !== 'BF16' && fileDtype !== 'F16') throw new Error(`file dtype must be BF16 or F16, got ${fileDtype}`);
if (baseDtype !== 'f16' && baseDtype !== 'int8' && baseDtype !== 'f32')
  throw new Error(`base dtype must be f16, int8 or f32, got ${baseDtype}`);
if (backend !== 'cpu' && backend !== 'wasm') throw new Error(`backend must be cpu or wasm, got ${backend}`);

const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 32000,
  hidden_size: 512,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  num_hidden_layers: 8,
  intermediate_size: 1408,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
};
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = path.join(tmpdir(), `mcckd-load-memory-${fileDtype}`);

/** The folder, written by a child process (its float32 weights must not
 * count here). */
function make(): void {
  const work = `${dir}.making-${process.pid}`;
  mkdirSync(work, { recursive: true });
  writeFileSync(path.join(work, 'config.json'), JSON.stringify(CONFIG));
  const tensors: TensorMap = {};
  let seed = 1;
  for (const [name, shape] of hfTensorShapes(parseHfConfig(CONFIG))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const norm = shape.length === 1;
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      data[i] = norm ? 1 : (seed / 2 ** 32 - 0.5) * 0.1;
    }
    tensors[name] = { shape, data };
  }
  writeFileSync(path.join(work, 'model.safetensors'), encode(tensors, { format: 'pt' }, { dtype: fileDtype as 'BF16' | 'F16' }));
  const r = spawnSync(PY, [path.join(ROOT, 'scripts/hf/tiny_tokenizer.py'), work], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tiny_tokenizer.py: ${r.stderr}`);
  renameSync(work, dir);
}

/** Peak and current resident memory of this process, MB (Linux). */
function rss(): { peakMB: number; nowMB: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { peakMB: Math.round(kb('VmHWM') / 1024), nowMB: Math.round(kb('VmRSS') / 1024) };
}

const gc = (globalThis as { gc?: () => void }).gc;
const buffersMB = (): number => {
  gc?.();
  return Math.round(process.memoryUsage().arrayBuffers / 1e6);
};

if (process.env.MCCKD_MEASURE !== '1') {
  if (!existsSync(dir)) make();
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), fileDtype, baseDtype, backend],
    {
      env: { ...process.env, MCCKD_MEASURE: '1' },
      stdio: 'inherit',
    },
  );
  process.exit(r.status ?? 1);
}

await setupBackend(backend);
const start = rss();
const startBuffers = buffersMB();
const t0 = performance.now();
const { student } = await loadStudent(nodeFolder(dir), 'load-memory');
const t1 = performance.now();
const loaded = rss();
const heldMB = buffersMB() - startBuffers;
const vs = createBaseVariables(student.weights, paramShapes(student.modelConfig), 'out-in', baseDtype);
const t2 = performance.now();
const packed = rss();
const withBaseMB = buffersMB() - startBuffers;
const params = paramShapes(student.modelConfig).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
console.log(
  JSON.stringify({
    file: `${fileDtype} ${Math.round(params / 1e5) / 10} M params`,
    base: baseDtype,
    backend,
    fingerprint: student.base.fingerprint,
    rssStartMB: start.nowMB,
    peakRssAfterLoadMB: loaded.peakMB,
    peakRssAfterPackMB: packed.peakMB,
    studentBuffersMB: heldMB,
    studentAndBaseBuffersMB: withBaseMB,
    loadMs: Math.round(t1 - t0),
    packMs: Math.round(t2 - t1),
  }),
);
for (const v of vs.values()) v.dispose();
