// IEEE half precision <-> float32 on the host, shared by the safetensors
// reader and writer (src/checkpoint) and the packed frozen base of the
// WebGPU kernels (src/core/fused/pack.ts).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half bits, round to nearest even (as numpy and torch):
 * subnormals kept, beyond 65504 (after rounding) infinity, NaN stays NaN. */
export function floatToHalfBits(x: number): number {
  f32[0] = x;
  const u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // the half exponent field
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // a half subnormal counts units of 2^-24: M * 2^(exp-150) / 2^-24 = M >> (126 - exp)
    const shift = 126 - exp;
    if (shift > 24) return sign; // below half the smallest subnormal
    const M = mant | 0x800000;
    const m = M >>> shift;
    const rem = M - m * 2 ** shift;
    const half = 2 ** (shift - 1);
    // m + 1 may reach 0x400: the smallest normal, encoded by the same bits
    return sign | (rem > half || (rem === half && m & 1) ? m + 1 : m);
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // a carry out of the mantissa steps the exponent, up to infinity (0x7c00)
  return sign | (rem > 0x1000 || (rem === 0x1000 && h & 1) ? h + 1 : h);
}

/** IEEE half bits -> its exact float32 value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
