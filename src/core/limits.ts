// The WebGPU limits that size a training step: the largest buffer the device
// may create and the most one shader binding may see. tfjs binds every
// tensor whole, so no tensor may be larger than maxStorageBufferBindingSize
// (src/core/plan.ts checks a plan against them).
//
// tfjs-backend-webgpu 4.22 (dist/base.js, its registerBackend('webgpu')
// factory) requests its device with requiredLimits set to the ADAPTER's
// values for maxStorageBufferBindingSize and maxBufferSize (and for
// maxComputeWorkgroupStorageSize, maxComputeWorkgroupsPerDimension,
// maxComputeWorkgroupSizeX, maxComputeInvocationsPerWorkgroup), not
// WebGPU's defaults (128 MiB and 256 MiB): a device gets the most its
// adapter offers. The limits to plan with are therefore the device's, read
// here from the backend tfjs made (WebGPUBackend.device.limits), never the
// adapter's or the spec defaults.

import * as tf from '@tensorflow/tfjs-core';

export interface GpuLimits {
  /** GPUDevice.limits.maxBufferSize: the largest GPUBuffer. */
  maxBufferSize: number;
  /** GPUDevice.limits.maxStorageBufferBindingSize: the most one storage
   * binding may cover (tfjs: the largest tensor a kernel can read or write). */
  maxStorageBufferBindingSize: number;
}

/** The limits of the device the active tfjs webgpu backend created;
 * undefined when the active backend is another one (or none is set up), or
 * the device does not report them. Never starts a backend. */
export function gpuLimits(): GpuLimits | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  const backend = tf.engine().findBackend('webgpu') as unknown as {
    device?: { limits?: Partial<Record<keyof GpuLimits, unknown>> };
  } | null;
  const l = backend?.device?.limits;
  if (!l) return undefined;
  const maxBufferSize = Number(l.maxBufferSize);
  const maxStorageBufferBindingSize = Number(l.maxStorageBufferBindingSize);
  if (!(maxBufferSize > 0) || !(maxStorageBufferBindingSize > 0)) return undefined;
  return { maxBufferSize, maxStorageBufferBindingSize };
}
