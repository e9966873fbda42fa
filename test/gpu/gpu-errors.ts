// WebGPU errors nobody caught, collected for a check's report. tfjs does not
// check its pipelines: an invalid one (say, more storage buffers than the
// device allows a stage) runs as a no-op and leaves whatever the output
// buffer held, often the previous result of the same size, so a comparison
// can pass against stale numbers. A check's figures count only with this
// list empty.
import * as tf from '@tensorflow/tfjs-core';

/** The list the current WebGPU device's uncaptured errors go to (their first
 * lines); empty and never written on another backend. */
export function watchGpuErrors(): string[] {
  const errors: string[] = [];
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  device?.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message.split('\n')[0]));
  return errors;
}
