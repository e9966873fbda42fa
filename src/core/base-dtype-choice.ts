// The names of the frozen base's dtypes, the default per backend and the
// refusal of a packed base off WebGPU: no tfjs here, so the page's Student
// step (src/ui) can import them. base-dtype.ts holds the packing itself and
// re-exports these.

import type { PackedDtype } from './fused/pack';

export type BaseDtype = 'f32' | PackedDtype;
export const BASE_DTYPES: readonly BaseDtype[] = ['f32', 'f16', 'int8'];

export const isBaseDtype = (x: unknown): x is BaseDtype => typeof x === 'string' && (BASE_DTYPES as readonly string[]).includes(x);

/** Whether `backend` can hold a packed (f16 / int8) base: only webgpu runs
 * the packed kernels (fused/packed.ts). */
export const packsBase = (backend: string): boolean => backend === 'webgpu';

/** f16 where the packed kernels run (WebGPU), f32 elsewhere. */
export const defaultBaseDtype = (backend: string): BaseDtype => (packsBase(backend) ? 'f16' : 'f32');

export class BaseDtypeError extends Error {
  override name = 'BaseDtypeError';
}

/** Refuses a packed base on a backend without the packed kernels; `flag`
 * names the setting as the caller's user knows it (--base-dtype). */
export function checkBaseDtype(dtype: BaseDtype, backend: string, flag = 'baseDtype'): void {
  if (dtype !== 'f32' && !packsBase(backend))
    throw new BaseDtypeError(
      `${flag} ${dtype} needs the webgpu backend (the packed base runs in its WGSL kernels); on ${backend} use ${flag} f32`,
    );
}

/** How a run's base is held, in the words of a run's notes (the CLI's
 * "model: ..." line and the page's "model ready" note): only a LoRA run's
 * base is frozen, and so packed; every weight of a full fine-tune trains in
 * float32. */
export const baseDtypeNote = (dtype: BaseDtype, lora: boolean): string => (lora ? `base ${dtype}` : 'base f32 (every weight trains)');

/** The page's own check of the base dtype it sends with a run (plain data
 * from the page: anything can arrive), in the words of its setting "Base
 * weights on the GPU". */
export function checkPageBaseDtype(dtype: unknown, backend: string): BaseDtype {
  if (!isBaseDtype(dtype))
    throw new BaseDtypeError(
      `Base weights on the GPU must be one of ${BASE_DTYPES.join(', ')}, got ${JSON.stringify(dtype)?.slice(0, 40)}`,
    );
  if (dtype !== 'f32' && !packsBase(backend))
    throw new BaseDtypeError(
      `Base weights on the GPU: ${dtype} runs in our WebGPU kernels, and this run is on ${backend}: choose full precision (f32), or the WebGPU backend`,
    );
  return dtype;
}
