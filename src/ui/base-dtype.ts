// The Student step's "Base weights on the GPU": how a pretrained student's
// frozen base is held (core/base-dtype-choice.ts), offered per backend and
// kept across visits (kept.ts). No tfjs.

import type { StudentKind } from '../core/run-settings';
import { BASE_DTYPES, defaultBaseDtype, isBaseDtype, packsBase, type BaseDtype } from '../core/base-dtype-choice';
import { keepValue, keptValue, type KeyStore } from './kept';

export const BASE_DTYPE_LABELS: Readonly<Record<BaseDtype, string>> = {
  f16: 'Half precision (f16)',
  int8: '8-bit integers (int8)',
  f32: 'Full precision (f32)',
};

/** The options in the order the page lists them: the default first. */
export const BASE_DTYPE_ORDER: readonly BaseDtype[] = ['f16', 'int8', 'f32'];

export const BASE_DTYPE_HELP =
  'How the frozen base of a LoRA run is held: f16 halves its memory, int8 about quarters it and changes the log-probs slightly. The adapter always trains in float32.';

/** When the choice applies (it is always shown: a resume of a pretrained
 * run takes it too): only a frozen base is packed. */
export function baseDtypeApplies(student: StudentKind): string {
  if (student === 'lora') return '';
  if (student === 'full')
    return 'Rank 0 trains every weight: nothing is frozen, so the whole model stays in full precision (f32) whatever this says.';
  return 'Used by a pretrained student trained with LoRA, and when resuming one; a student from scratch has no frozen base.';
}

export interface BaseDtypeChoice {
  /** What the page shows and sends with a run. */
  value: BaseDtype;
  /** The dtypes this backend can hold. */
  offered: readonly BaseDtype[];
  /** Why the others are not offered (off WebGPU). */
  why?: string;
}

/** The choice on `backend` (undefined: not set up yet) given the one kept
 * from an earlier visit: the kept one where the backend offers it, else
 * the backend's default (f16 on WebGPU, f32 elsewhere). */
export function baseDtypeChoice(backend: string | undefined, kept: BaseDtype | undefined): BaseDtypeChoice {
  if (backend !== undefined && packsBase(backend)) return { value: kept ?? defaultBaseDtype(backend), offered: BASE_DTYPES };
  return {
    value: 'f32',
    offered: ['f32'],
    why:
      backend === undefined
        ? 'Full precision until the backend is set up.'
        : `Full precision only on ${backend}: half precision and int8 run in our WebGPU kernels (WGSL), so they need the WebGPU backend.`,
  };
}

const KEY = 'mcckd.baseDtype';

/** The choice kept from an earlier visit (a value picked by hand), if any. */
export function keptBaseDtype(store?: KeyStore): BaseDtype | undefined {
  const v = keptValue(KEY, store);
  return isBaseDtype(v) ? v : undefined;
}

export function keepBaseDtype(d: BaseDtype, store?: KeyStore): void {
  keepValue(KEY, d, store);
}

/** "On the GPU" in the Student step's "Stored as" row. */
export function onGpuWords(d: BaseDtype, lora: boolean): string {
  if (!lora || d === 'f32') return 'float32 on the GPU';
  return `on the GPU: projections and token tables in ${d}, the rest float32`;
}
