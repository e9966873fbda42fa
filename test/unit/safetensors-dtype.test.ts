// encode()'s F16 and BF16 storage: hand-picked edge cases (ties, subnormals,
// overflow, NaN), every value read back by decode(), and numpy's own
// conversions of many random values as the other implementation.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decode, encode, floatToBf16Bits, floatToHalfBits } from '../../src/checkpoint/safetensors';
import { Rng } from '../../src/shared/rng';

import { PY } from '../../support/python';
const hasNumpy = spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('F16 / BF16 rounding', () => {
  it('F16: ties to even, subnormals, overflow, signed zero, NaN', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [Infinity, 0x7c00],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [3 * 2 ** -26, 0x0001],
      [3 * 2 ** -25, 0x0002],
      [1023 * 2 ** -24, 0x03ff],
      [1023.5 * 2 ** -24, 0x0400],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [1 / 3, 0x3555],
      [-0.1, 0xae66],
    ];
    for (const [x, bits] of cases) expect(floatToHalfBits(x).toString(16), String(x)).toBe(bits.toString(16));
    expect(floatToHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(floatToHalfBits(NaN) & 0x3ff).not.toBe(0);
  });

  it('BF16: ties to even, carries into the exponent, NaN never becomes infinity', () => {
    const bits = (u: number): number => new Float32Array(new Uint32Array([u]).buffer)[0];
    expect(floatToBf16Bits(1)).toBe(0x3f80);
    expect(floatToBf16Bits(bits(0x3f808000))).toBe(0x3f80); // tie, even stays
    expect(floatToBf16Bits(bits(0x3f818000))).toBe(0x3f82); // tie, odd rounds up
    expect(floatToBf16Bits(bits(0x3f808001))).toBe(0x3f81);
    expect(floatToBf16Bits(bits(0x7f7fffff))).toBe(0x7f80); // largest float rounds to infinity
    expect(floatToBf16Bits(bits(0x7f800001)) & 0x7f).not.toBe(0);
    expect(floatToBf16Bits(-0)).toBe(0x8000);
  });

  it('encode writes the dtype in the header; decode reads back the rounded values', () => {
    const data = new Float32Array([1, -0.1, 1 / 3, 65504, 2 ** -24, 1e-9, 3.14159]);
    for (const dtype of ['F16', 'BF16'] as const) {
      const bytes = encode({ w: { shape: [7], data } }, { format: 'pt' }, { dtype });
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(0, true)))) as Record<
        string,
        { dtype: string; data_offsets: number[] }
      >;
      expect(header.w.dtype).toBe(dtype);
      expect(header.w.data_offsets).toEqual([0, 14]);
      const back = decode(bytes).tensors.w.data;
      for (let i = 0; i < data.length; i++) {
        const rel = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
        // a half keeps values below its smallest normal to 2^-25 absolute
        expect(Math.abs(back[i] - data[i])).toBeLessThanOrEqual(Math.max(Math.abs(data[i]) * rel, dtype === 'F16' ? 2 ** -25 : 0));
      }
    }
    expect(() => encode({ w: { shape: [1], data: new Float32Array(1) } }, {}, { dtype: 'F64' as 'F32' })).toThrow(
      /dtype "F64" cannot be written/,
    );
  });

  it.skipIf(!hasNumpy)('agrees with numpy bit for bit on 20,000 values across every exponent', () => {
    const rng = new Rng(7);
    const xs = new Float32Array(20_000);
    for (let i = 0; i < xs.length; i++) xs[i] = (rng.next() - 0.5) * 2 ** Math.floor(rng.next() * 80 - 40);
    const hex = Buffer.from(xs.buffer).toString('hex');
    const script = `
import sys, numpy as np
a = np.frombuffer(bytes.fromhex(sys.stdin.read()), dtype='<f4')
u = a.view(np.uint32).astype(np.uint64)
bf = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # torch's rounding, as make_tiny.py
print(a.astype('<f2').view(np.uint16).tobytes().hex()); print(bf.astype('<u2').tobytes().hex())`;
    const r = spawnSync(PY, ['-c', script], { input: hex, encoding: 'utf8', maxBuffer: 16 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const [f16, bf16] = r.stdout
      .trim()
      .split('\n')
      .map((h) => new Uint16Array(new Uint8Array(Buffer.from(h, 'hex')).buffer));
    let badF16 = 0;
    let badBf16 = 0;
    for (let i = 0; i < xs.length; i++) {
      if (floatToHalfBits(xs[i]) !== f16[i]) badF16++;
      if (floatToBf16Bits(xs[i]) !== bf16[i]) badBf16++;
    }
    expect(badF16).toBe(0);
    expect(badBf16).toBe(0);
  });
});
