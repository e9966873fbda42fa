// The peak of the bytes of the distinct tensor buffers alive while `fn`
// runs: what a step really holds, and what src/core/plan.ts plans.
// tf.profile's peakBytes (tf.memory().numBytes) counts a buffer once per
// tensor that views it: a Reshape, or a clone tfjs saves for a gradient (the
// cpu backend's Identity, and wasm's with src/core/wasm-kernels.ts, share
// the input's buffer), counts again. The engine itself tracks each buffer
// once (its tensorInfo, keyed by dataId: what tf.memory().numDataBuffers
// counts); this follows the bytes of that map as buffers come and go.
// Engine internals (tfjs-core 4.x): for the bench and tests only.
import * as tf from '@tensorflow/tfjs-core';

interface EngineInternals {
  state: { tensorInfo: WeakMap<tf.DataId, { bytes: number }> };
  trackTensor(a: tf.Tensor, backend: unknown): void;
  removeDataId(dataId: tf.DataId, backend: unknown): void;
}

/** Runs `fn`; returns its value, the peak bytes of distinct buffers during it
 * (those alive before it included) and the bytes alive when it started.
 * The map is a WeakMap: the start is tf.memory().numBytes, exact when no
 * two live tensors share a buffer then (`sharedAtStart`: how many do, 0
 * between two training steps). */
export async function bufferPeak<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; peakBytes: number; startBytes: number; sharedAtStart: number }> {
  const e = tf.engine() as unknown as EngineInternals;
  const info = e.state.tensorInfo;
  const m = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
  const sharedAtStart = m.numTensors - m.numDataBuffers;
  let now = m.numBytes;
  const startBytes = now;
  let peak = now;
  const track = e.trackTensor;
  const remove = e.removeDataId;
  e.trackTensor = function (this: EngineInternals, a, backend) {
    const fresh = !info.has(a.dataId);
    track.call(this, a, backend);
    const i = info.get(a.dataId);
    if (fresh && i) {
      now += i.bytes;
      if (now > peak) peak = now;
    }
  };
  e.removeDataId = function (this: EngineInternals, dataId, backend) {
    const i = info.get(dataId);
    remove.call(this, dataId, backend);
    if (i && !info.has(dataId)) now -= i.bytes;
  };
  try {
    const value = await fn();
    return { value, peakBytes: peak, startBytes, sharedAtStart };
  } finally {
    e.trackTensor = track;
    e.removeDataId = remove;
  }
}
