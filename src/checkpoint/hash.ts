// xxHash32 in plain TypeScript, for checkpoint checksums: fast (4 bytes per
// step with Math.imul), the same in browser, worker and Node, and needs no
// secure context unlike crypto.subtle. Streaming, so large data never has to
// be joined. (Dataset fingerprints are core/fingerprint's.)

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

/** True on every platform a browser or Node realistically runs on; the
 * big-endian branches exist so that results never depend on the host. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/** Streaming XXH32 (the reference algorithm, seed configurable). */
export class Xxh32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private readonly tail = new Uint8Array(16);
  private tailLen = 0;
  private total = 0;

  constructor(private readonly seed = 0) {
    this.v1 = (seed + P1 + P2) | 0;
    this.v2 = (seed + P2) | 0;
    this.v3 = seed | 0;
    this.v4 = (seed - P1) | 0;
  }

  update(bytes: Uint8Array): this {
    this.total += bytes.length;
    let i = 0;
    if (this.tailLen > 0) {
      const take = Math.min(16 - this.tailLen, bytes.length);
      this.tail.set(bytes.subarray(0, take), this.tailLen);
      this.tailLen += take;
      i = take;
      if (this.tailLen < 16) return this;
      this.stripes(this.tail, 0, 16);
      this.tailLen = 0;
    }
    const end = i + Math.floor((bytes.length - i) / 16) * 16;
    if (end > i) this.stripes(bytes, i, end);
    if (end < bytes.length) {
      this.tail.set(bytes.subarray(end), 0);
      this.tailLen = bytes.length - end;
    }
    return this;
  }

  /** Processes bytes[from, to) (a multiple of 16 long) as 16-byte stripes. */
  private stripes(bytes: Uint8Array, from: number, to: number): void {
    let v1 = this.v1;
    let v2 = this.v2;
    let v3 = this.v3;
    let v4 = this.v4;
    const abs = bytes.byteOffset + from;
    if (LITTLE_ENDIAN && abs % 4 === 0) {
      // Fast path: read words straight from memory (no copy).
      const w = new Uint32Array(bytes.buffer, abs, (to - from) >>> 2);
      for (let k = 0; k < w.length; k += 4) {
        v1 = Math.imul(rotl((v1 + Math.imul(w[k], P2)) | 0, 13), P1);
        v2 = Math.imul(rotl((v2 + Math.imul(w[k + 1], P2)) | 0, 13), P1);
        v3 = Math.imul(rotl((v3 + Math.imul(w[k + 2], P2)) | 0, 13), P1);
        v4 = Math.imul(rotl((v4 + Math.imul(w[k + 3], P2)) | 0, 13), P1);
      }
    } else {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let k = from; k < to; k += 16) {
        v1 = Math.imul(rotl((v1 + Math.imul(dv.getUint32(k, true), P2)) | 0, 13), P1);
        v2 = Math.imul(rotl((v2 + Math.imul(dv.getUint32(k + 4, true), P2)) | 0, 13), P1);
        v3 = Math.imul(rotl((v3 + Math.imul(dv.getUint32(k + 8, true), P2)) | 0, 13), P1);
        v4 = Math.imul(rotl((v4 + Math.imul(dv.getUint32(k + 12, true), P2)) | 0, 13), P1);
      }
    }
    this.v1 = v1;
    this.v2 = v2;
    this.v3 = v3;
    this.v4 = v4;
  }

  /** The 32-bit digest as an unsigned number; the object can keep streaming. */
  digest(): number {
    let h = this.total >= 16 ? (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0 : (this.seed + P5) | 0;
    h = (h + (this.total % 0x100000000)) | 0; // the length enters modulo 2^32
    const t = this.tail;
    let k = 0;
    for (; k + 4 <= this.tailLen; k += 4) {
      const w = t[k] | (t[k + 1] << 8) | (t[k + 2] << 16) | (t[k + 3] << 24);
      h = Math.imul(rotl((h + Math.imul(w, P3)) | 0, 17), P4);
    }
    for (; k < this.tailLen; k++) h = Math.imul(rotl((h + Math.imul(t[k], P5)) | 0, 11), P1);
    h ^= h >>> 15;
    h = Math.imul(h, P2);
    h ^= h >>> 13;
    h = Math.imul(h, P3);
    h ^= h >>> 16;
    return h >>> 0;
  }

  hex(): string {
    return this.digest().toString(16).padStart(8, '0');
  }
}

export function xxh32(bytes: Uint8Array, seed = 0): number {
  return new Xxh32(seed).update(bytes).digest();
}
