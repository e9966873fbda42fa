// support/hf_ref.py's --round-base rounds a base matrix exactly as our
// packing does (src/core/fused/pack.ts: packF16 / packInt8, then the
// values the kernels compute with, unpackMatrix): the same float32 bits
// for every element, ties, subnormals and the edges of the ranges
// included, in both source layouts. This is what lets
// test/unit/packed-webgpu.test.ts compare our f16 / int8 base with PyTorch
// on the same rounded weights. The rounding is numpy only: this runs
// without torch.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { packF16, packInt8, unpackMatrix, type SourceLayout } from '../../src/core/fused/pack';
import { Rng } from '../../src/shared/rng';
import { PY, PY_ENV, pythonMissing } from '../../support/python';

const SUPPORT = path.join(fileURLToPath(new URL('../..', import.meta.url)), 'support');
const noNumpy = pythonMissing('numpy');

// reads [{dtype, layout, shape, data (base64 float32)}], answers with the
// rounded [out, in] values (base64 float32) or the refusal
const PY_ROUND = `
import base64, json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import hf_ref
out = []
for c in json.load(sys.stdin):
    a = np.frombuffer(base64.b64decode(c["data"]), dtype="<f4").reshape(c["shape"])
    try:
        r = hf_ref.round_f16(a, np) if c["dtype"] == "f16" else hf_ref.round_int8(a, c["layout"], np)
    except hf_ref.Refused as e:
        out.append({"refused": str(e)})
        continue
    r = np.ascontiguousarray(r if c["layout"] == "out-in" else r.T, dtype="<f4")
    out.append({"data": base64.b64encode(r.tobytes()).decode()})
print(json.dumps(out))
`;

interface Case {
  dtype: 'f16' | 'int8';
  layout: SourceLayout;
  shape: [number, number];
  data: Float32Array;
}

function pyRound(cases: Case[]): ({ data: Float32Array } | { refused: string })[] {
  const input = cases.map((c) => ({ ...c, data: Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength).toString('base64') }));
  const r = spawnSync(PY, ['-c', PY_ROUND, SUPPORT], { input: JSON.stringify(input), encoding: 'utf8', env: PY_ENV });
  if (r.status !== 0) throw new Error(`hf_ref rounding failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as ({ data: string } | { refused: string })[]).map((o) => {
    if ('refused' in o) return o;
    const b = Buffer.from(o.data, 'base64');
    return { data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
  });
}

const rng = new Rng(23);
const normals = (n: number, s: number): number[] => Array.from({ length: n }, () => rng.normal() * s);

// f16: exact ties between neighbouring halves (1 + 2^-11 rounds down to 1,
// 1 + 3 * 2^-11 up to 1 + 2^-9), subnormal halves and their ties (2^-25 to 0,
// 3 * 2^-25 to 2^-23), below the smallest subnormal, the top of the range
// (65519 rounds to 65504), signed zeros, and normals over twelve decades
const F16_EDGES = [
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  -(1 + 2 ** -11),
  2 ** -25,
  3 * 2 ** -25,
  -(3 * 2 ** -25),
  2 ** -24,
  2 ** -14 - 2 ** -25,
  2 ** -27,
  65504,
  65519,
  -65519,
  0,
  -0,
  2 ** -14,
  1 / 3,
  -1e-7,
];
const F16_DATA = Float32Array.from([
  ...F16_EDGES,
  ...[1e-6, 1e-3, 1, 1e3].flatMap((s) => normals(16, s)),
  ...normals(64 * 3 - 64 - F16_EDGES.length, 0.2),
]);

// int8, [out, in] rows of 8: a row of maximum 127 (scale exactly 1) holding
// ties at .5 both ways of even; an all-zero row; a row whose maximum is so
// small that its scale rounds to 0 in float32; a negative maximum; random rows
const INT8_ROWS = [
  [127, 2.5, -3.5, 0.5, -0.5, 1.5, -1.5, 126.5],
  [0, 0, 0, 0, 0, 0, 0, 0],
  [1e-45, -1e-45, 0, 0, 0, 0, 0, 0],
  [-3, 1, 0.75, -2.999, 2.25, 0, 1e-9, -1e-9],
  ...Array.from({ length: 8 }, (_, i) => normals(8, 0.02 * (i + 1))),
];
const INT8_DATA = Float32Array.from(INT8_ROWS.flat());

/** The same data read in the other layout: [in, out] storage of [out, in] rows. */
function transpose(d: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(d.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = d[r * cols + c];
  return t;
}

describe.skipIf(!!noNumpy)(`hf_ref.py rounds a base as pack.ts packs it${noNumpy ? ` (skipped: ${noNumpy})` : ''}`, () => {
  it('gives the very float32 values the kernels compute with, f16 and int8, both layouts', () => {
    const cases: Case[] = [
      { dtype: 'f16', layout: 'out-in', shape: [3, 64], data: F16_DATA },
      { dtype: 'f16', layout: 'in-out', shape: [64, 3], data: F16_DATA },
      { dtype: 'int8', layout: 'out-in', shape: [INT8_ROWS.length, 8], data: INT8_DATA },
      // GPT-2's Conv1D: [in, out], a scale per column
      { dtype: 'int8', layout: 'in-out', shape: [8, INT8_ROWS.length], data: transpose(INT8_DATA, INT8_ROWS.length, 8) },
      // the same values read as [out, in] with 12 rows of 8 in the other direction: other scales
      { dtype: 'int8', layout: 'in-out', shape: [INT8_ROWS.length, 8], data: INT8_DATA },
    ];
    const got = pyRound(cases);
    cases.forEach((c, k) => {
      const ours = unpackMatrix(c.dtype === 'f16' ? packF16(c.data, c.shape, c.layout) : packInt8(c.data, c.shape, c.layout));
      const py = got[k];
      if (!('data' in py)) throw new Error(`case ${k} refused: ${py.refused}`);
      const what = `${c.dtype} ${c.layout} [${c.shape}]`;
      expect(py.data.length, what).toBe(ours.length);
      // bit for bit (-0 and +0 included): compare the patterns
      const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
      expect(bits(py.data), what).toEqual(bits(ours));
    });
    // the ties went both ways (the check can see a wrong tie rule)
    const i8 = got[2] as { data: Float32Array };
    expect(Array.from(i8.data.slice(0, 8))).toEqual([127, 2, -4, 0, 0, 2, -2, 126]);
    const f16 = got[0] as { data: Float32Array };
    expect(Array.from(f16.data.slice(0, 5))).toEqual([1, 1 + 2 ** -9, -1, 0, 2 ** -23]);
  });

  it('refuses what pack.ts refuses: a value past the half range, a non-finite value for int8', () => {
    const got = pyRound([
      { dtype: 'f16', layout: 'out-in', shape: [1, 2], data: Float32Array.from([1, 65520]) },
      { dtype: 'int8', layout: 'out-in', shape: [1, 2], data: Float32Array.from([1, Number.POSITIVE_INFINITY]) },
    ]);
    expect(() => packF16(Float32Array.from([1, 65520]), [1, 2], 'out-in')).toThrow(/beyond half precision's range/);
    expect(got[0]).toEqual({ refused: expect.stringMatching(/65520.*beyond half precision's range/) });
    expect(got[1]).toEqual({ refused: expect.stringMatching(/cannot be quantized/) });
  });

  it('refuses bad --round-base / --round-names, naming the flag, before reading a weight', () => {
    // a config alone: every refusal comes before the weights are read
    const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-round-'));
    const cfg = {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 32,
      intermediate_size: 64,
      num_attention_heads: 4,
      num_hidden_layers: 1,
      num_key_value_heads: 2,
      vocab_size: 64,
      max_position_embeddings: 16,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: true,
    };
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    const up = 'model.layers.0.mlp.up_proj.weight';
    const refusal = (...args: string[]): string => {
      const r = spawnSync(PY, [path.join(SUPPORT, 'hf_ref.py'), dir, '--ids', '1,2', ...args], { encoding: 'utf8', env: PY_ENV });
      expect(r.status, args.join(' ')).toBe(2);
      return r.stderr;
    };
    try {
      expect(refusal('--round-base', 'f16')).toMatch(/--round-base and --round-names go together/);
      expect(refusal('--round-names', `${up}:out-in`)).toMatch(/--round-base and --round-names go together/);
      expect(refusal('--round-base', 'int8', '--round-names', up)).toMatch(/--round-names: .* is not NAME:out-in or NAME:in-out/);
      expect(refusal('--round-base', 'f16', '--round-names', 'model.layers.1.mlp.up_proj.weight:out-in')).toMatch(/not a parameter/);
      expect(refusal('--round-base', 'f16', '--round-names', 'model.norm.weight:out-in')).toMatch(/not a matrix/);
      expect(refusal('--round-base', 'f16', '--round-names', `${up}:out-in,${up}:in-out`)).toMatch(/named twice/);
      expect(refusal('--round-base', 'int8', '--round-names', 'lm_head.weight:out-in')).toMatch(
        /tied to the embedding.*round model\.embed_tokens\.weight/,
      );
      // a valid request gets as far as the (absent) weights
      expect(refusal('--round-base', 'int8', '--round-names', `${up}:out-in`)).toMatch(/model\.safetensors .*is missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
