// The data order of a run: questions in a seeded shuffle, epoch after epoch,
// and for each question two distinct rationales drawn at random. Pure (plain
// indices and the Rng), so the trainer and the recipe export (which writes
// the same order down for PyTorch) draw exactly the same batches.

import type { Rng } from '../shared/rng';

export interface DataCursor {
  epoch: number;
  position: number; // next index into order
  order: number[]; // this epoch's question order
}

/** One question of a batch: its index and the indices of its two rationales
 * (b is null when the question has a single rationale). */
interface Pick {
  group: number;
  a: number;
  b: number | null;
}

/** The next `batchSize` picks over groups of `sizes[i]` rationales; advances
 * `cursor` (reshuffling at each epoch's end) and `rng` in place. */
export function nextPicks(sizes: readonly number[], cursor: DataCursor, rng: Rng, batchSize: number): Pick[] {
  if (sizes.length === 0) throw new Error('no training data: every question was dropped or none was given');
  const picks: Pick[] = [];
  for (let i = 0; i < batchSize; i++) {
    if (cursor.position >= cursor.order.length) {
      cursor.epoch += 1;
      cursor.position = 0;
      cursor.order = rng.shuffle(sizes.map((_, j) => j));
    }
    const group = cursor.order[cursor.position++];
    const k = sizes[group];
    if (k === 1) {
      picks.push({ group, a: 0, b: null });
      continue;
    }
    const x = rng.int(k);
    const y = (x + 1 + rng.int(k - 1)) % k; // uniform over the others
    picks.push({ group, a: x, b: y });
  }
  return picks;
}
