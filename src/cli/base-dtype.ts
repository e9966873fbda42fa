// --base-dtype: how a pretrained student's frozen base is held on the GPU
// (src/core/base-dtype.ts), read once the backend is known.

import { BASE_DTYPES, checkBaseDtype, defaultBaseDtype, isBaseDtype, type BaseDtype } from '../core/base-dtype-choice';
import { UsageError } from './args';

/** The flag's value, or the backend's default (f16 on webgpu, f32
 * elsewhere); f16 and int8 are refused off webgpu, naming the flag. */
export function baseDtypeOf(v: string | undefined, backend: string): BaseDtype {
  if (v === undefined) return defaultBaseDtype(backend);
  if (!isBaseDtype(v)) throw new UsageError(`--base-dtype must be one of ${BASE_DTYPES.join(', ')}, got "${v.slice(0, 40)}"`);
  try {
    checkBaseDtype(v, backend, '--base-dtype');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return v;
}
