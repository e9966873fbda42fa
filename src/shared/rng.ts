// Seeded RNG for weight init, pair sampling and data order. sfc32 uses only
// 32-bit integer ops, so every platform and backend draws the same numbers,
// and its four-word state is plain data that checkpoints store.

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined; // second Box-Muller value

  constructor(seed: number) {
    const sm = splitmix32(Math.floor(seed));
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    this.spare = undefined;
    for (let i = 0; i < 12; i++) this.nextUint32(); // decorrelate close seeds
  }

  static fromState(s: number[]): Rng {
    if (!Array.isArray(s) || s.length < 4 || s.slice(0, 4).some((x) => !Number.isInteger(x))) {
      throw new Error('Rng.fromState: expected four 32-bit integers');
    }
    const r = new Rng(0);
    [r.a, r.b, r.c, r.d] = s.slice(0, 4).map((x) => x >>> 0);
    r.spare = undefined;
    return r;
  }

  /** Plain state; a pending Box-Muller spare is dropped, so restore exactly
   * only between normal() pairs (the trainer draws normals only at init). */
  state(): number[] {
    return [this.a, this.b, this.c, this.d];
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new Error(`Rng.int: n must be positive, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates, in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}
