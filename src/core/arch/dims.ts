// The model's derived sizes: a leaf module (no imports but a type) so that
// every family module and config.ts can read it without an import cycle.

import type { ModelConfig } from '../records';

/** The model's derived sizes, with the defaults of the optional fields. */
export function dimsOf(c: ModelConfig): { d: number; headDim: number; nKvHead: number; inner: number; tied: boolean; ropeTheta: number } {
  return {
    d: c.nEmbd,
    headDim: c.headDim ?? c.nEmbd / c.nHead,
    nKvHead: c.nKvHead ?? c.nHead,
    inner: c.intermediateSize ?? 4 * c.nEmbd,
    tied: c.tieWordEmbeddings ?? true,
    ropeTheta: c.ropeTheta ?? 10_000,
  };
}

/** The product of a shape's sizes. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
