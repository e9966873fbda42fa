import { describe, expect, it } from 'vitest';
import { buildBatch, paddedLength, type EncodedRationale } from '../../src/core/batch';

const r = (ids: number[], promptLen: number, span: [number, number]): EncodedRationale => ({
  ids,
  promptLen,
  spanStart: span[0],
  spanEnd: span[1],
});

describe('buildBatch', () => {
  // prompt [10, 11], rationale [20, 21, 7, 8], eos 1; answer tokens [7, 8] at 4..6
  const a = r([10, 11, 20, 21, 7, 8, 1], 2, [4, 6]);
  const b = r([10, 11, 30, 7, 8, 1], 2, [3, 5]);

  it('shifts targets, masks the prompt and padding out of the CE, and pairs answer logits', () => {
    const x = buildBatch([{ a, b }], { blockSize: 32, padId: 0, multiple: 8 });
    expect([x.rows, x.time, x.pairs, x.span]).toEqual([2, 8, 1, 2]);
    expect(Array.from(x.ids.subarray(0, 8))).toEqual([10, 11, 20, 21, 7, 8, 0, 0]);
    expect(Array.from(x.targets.subarray(0, 8))).toEqual([11, 20, 21, 7, 8, 1, 0, 0]);
    // position 0 predicts a prompt token: masked; 1..5 predict rationale, answer, eos
    expect(Array.from(x.ceWeight.subarray(0, 8))).toEqual([0, 1, 1, 1, 1, 1, 0, 0]);
    expect(Array.from(x.ceWeight.subarray(8, 16))).toEqual([0, 1, 1, 1, 1, 0, 0, 0]);
    // logits at row 0 positions 3, 4 predict answer tokens 7, 8; row 1 positions 2, 3
    expect(Array.from(x.klA)).toEqual([3, 4]);
    expect(Array.from(x.klB)).toEqual([8 + 2, 8 + 3]);
    expect(Array.from(x.klMask)).toEqual([1, 1]);
    expect(x.targets[x.klA[0]]).toBe(7);
    expect(x.targets[x.klB[1]]).toBe(8);
    expect(x.tokens).toBe(6 + 5);
  });

  it('gives a single-rationale question a zero-weight copy and no KL pair', () => {
    const x = buildBatch(
      [
        { a, b: null },
        { a, b },
      ],
      { blockSize: 32, padId: 0, multiple: 8 },
    );
    expect(x.rows).toBe(4);
    expect(Array.from(x.ceWeight.subarray(8, 16)).every((w) => w === 0)).toBe(true);
    expect(Array.from(x.klMask)).toEqual([0, 0, 1, 1]);
  });

  it('does not pair answers whose tokens differ', () => {
    const c = r([10, 11, 30, 7, 9, 1], 2, [3, 5]);
    const x = buildBatch([{ a, b: c }], { blockSize: 32, padId: 0 });
    expect(Array.from(x.klMask)).toEqual([0, 0]);
  });

  it('pads to a multiple within blockSize and refuses what does not fit', () => {
    expect(paddedLength(17, 256)).toBe(32);
    expect(paddedLength(250, 256)).toBe(256);
    expect(() => buildBatch([{ a, b }], { blockSize: 4, padId: 0 })).toThrow(/does not fit/);
  });
});
