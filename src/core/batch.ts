// Host-side batch layout (plain typed arrays, no tfjs): pure, so it is tested
// in Node and shared with the benchmark's PyTorch reference.
//
// A batch holds B questions; question b contributes rows 2b and 2b+1 (two
// different rationales). A question with a single rationale fills row 2b+1
// with a copy whose CE weight is 0 and has no KL pair, so shapes stay fixed.

/** One training sequence: prompt, rationale, eos. */
export interface EncodedRationale {
  ids: number[]; // prompt tokens, rationale tokens, eos
  promptLen: number; // tokens of the prompt (masked out of the CE)
  spanStart: number; // answer tokens are ids[spanStart .. spanEnd)
  spanEnd: number;
}

export interface EncodedGroup {
  id: string;
  rationales: EncodedRationale[];
}

export interface HostBatch {
  rows: number; // R = 2B
  time: number; // T
  ids: Int32Array; // [R, T] inputs, pad-filled
  targets: Int32Array; // [R*T] next tokens
  ceWeight: Float32Array; // [R*T]
  pairs: number; // P
  span: number; // S
  klA: Int32Array; // [P*S] flat indices into the [R*T] logits rows
  klB: Int32Array; // [P*S]
  klMask: Float32Array; // [P, S]
  tokens: number; // real (non-pad) input tokens
}

/** Rounds T up so that a few shapes cover all batches (every new shape costs
 * a shader compile on WebGPU). */
export function paddedLength(n: number, blockSize: number, multiple = 16): number {
  return Math.min(blockSize, Math.ceil(n / multiple) * multiple);
}

export function buildBatch(
  picks: { a: EncodedRationale; b: EncodedRationale | null }[],
  opts: { blockSize: number; padId: number; multiple?: number },
): HostBatch {
  const rows = picks.length * 2;
  let longest = 1;
  for (const { a, b } of picks) longest = Math.max(longest, a.ids.length - 1, b ? b.ids.length - 1 : 0);
  const time = paddedLength(longest, opts.blockSize, opts.multiple);
  if (longest > time) throw new Error(`a sequence of ${longest + 1} tokens does not fit the model's ${opts.blockSize} positions`);
  const ids = new Int32Array(rows * time).fill(opts.padId);
  const targets = new Int32Array(rows * time).fill(opts.padId);
  const ceWeight = new Float32Array(rows * time);
  let span = 0;
  for (const { a, b } of picks) if (b) span = Math.max(span, a.spanEnd - a.spanStart);
  const pairs = span > 0 ? picks.length : 0;
  const klA = new Int32Array(pairs * span);
  const klB = new Int32Array(pairs * span);
  const klMask = new Float32Array(pairs * span);
  let tokens = 0;
  const put = (row: number, r: EncodedRationale, weight: number): void => {
    const n = r.ids.length - 1;
    for (let t = 0; t < n; t++) {
      ids[row * time + t] = r.ids[t];
      targets[row * time + t] = r.ids[t + 1];
      // position t predicts ids[t+1]: trained when that token is past the prompt
      if (t + 1 >= r.promptLen) ceWeight[row * time + t] = weight;
    }
    if (weight > 0) tokens += n;
  };
  picks.forEach(({ a, b }, q) => {
    put(2 * q, a, 1);
    put(2 * q + 1, b ?? a, b ? 1 : 0);
    if (!b || pairs === 0) return;
    const len = a.spanEnd - a.spanStart;
    // identical answer text gives identical tokens; anything else has no pair
    const same = len === b.spanEnd - b.spanStart && a.ids.slice(a.spanStart, a.spanEnd).every((x, i) => x === b.ids[b.spanStart + i]);
    for (let s = 0; s < span; s++) {
      const k = q * span + s;
      const ok = same && s < len && a.spanStart >= 1 && b.spanStart >= 1;
      // the logits at position spanStart+s-1 predict answer token s
      klA[k] = ok ? 2 * q * time + a.spanStart + s - 1 : 0;
      klB[k] = ok ? (2 * q + 1) * time + b.spanStart + s - 1 : 0;
      klMask[k] = ok ? 1 : 0;
    }
  });
  return { rows, time, ids, targets, ceWeight, pairs, span, klA, klB, klMask, tokens };
}
