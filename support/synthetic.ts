// Fixed-shape synthetic batches for the benchmark and the PyTorch reference: every step has the same
// [R, T] so throughput is comparable across backends and with PyTorch.
import { buildBatch, type EncodedRationale, type HostBatch } from '../src/core/batch';
import { PAD_ID, Tokenizer, type TokenizerJSON } from '../src/core/tokenizer';
import { Rng } from '../src/shared/rng';
import { DEFAULT_TRAIN, PRESETS, type PresetName, type TrainConfig } from '../src/core/config';
import { Trainer } from '../src/core/trainer';

export interface Shape {
  questions: number; // B: two rows each
  time: number; // T
}

/** "QxT" (a flag's value) as a Shape: Q questions of two rows, T positions. */
export function parseShape(s: string): Shape {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 2) throw new Error(`a batch shape is QxT (questions x positions, e.g. 1x32), got "${s}"`);
  return { questions: Number(m[1]), time: Number(m[2]) };
}

export const SHAPES: Record<string, Shape> = {
  tiny: { questions: 4, time: 64 },
  small: { questions: 8, time: 128 },
  base: { questions: 8, time: 256 },
};

/** Batches whose rows fill all T positions; the two rows of a question end in
 * the same 3-token answer (so the KL term is exercised). */
export function syntheticBatches(n: number, shape: Shape, vocabSize: number, blockSize: number, seed = 1): HostBatch[] {
  const rng = new Rng(seed);
  const tok = (): number => 2 + rng.int(vocabSize - 2);
  const row = (answer: number[]): EncodedRationale => {
    const ids = Array.from({ length: shape.time + 1 }, tok);
    const start = shape.time - 4;
    answer.forEach((a, i) => (ids[start + i] = a));
    return { ids, promptLen: 16, spanStart: start, spanEnd: start + answer.length };
  };
  return Array.from({ length: n }, () => {
    const picks = Array.from({ length: shape.questions }, () => {
      const answer = [tok(), tok(), tok()];
      return { a: row(answer), b: row(answer) };
    });
    return buildBatch(picks, { blockSize, padId: PAD_ID, multiple: 1 });
  });
}

/** A tokenizer with no merges, sized to a preset's vocabulary: the benchmark
 * measures weights and shapes, not text. */
export function byteTokenizer(vocabSize: number): TokenizerJSON {
  return Tokenizer.fromJSON({ type: 'byte-bpe/1', vocabSize, merges: [] }).toJSON();
}

/** A trainer with fresh weights and no data (the bench feeds batches itself),
 * with the preset's own vocabulary. */
export function benchTrainer(preset: PresetName, o: Partial<TrainConfig> = {}): Promise<Trainer> {
  const vocabSize = PRESETS[preset].vocabSize;
  const trainConfig: TrainConfig = { ...DEFAULT_TRAIN, preset, vocabSize, ...o };
  return Trainer.create({ groups: [], trainConfig, datasetFingerprint: 'bench', tokenizer: byteTokenizer(vocabSize) });
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
