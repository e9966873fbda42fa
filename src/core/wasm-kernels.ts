// tfjs-backend-wasm's Identity kernel copies its input. tfjs calls Identity
// for every tensor it saves for a gradient (engine.clone in
// saveTensorsForBackwardMode), so on wasm each saved activation, and each
// frozen weight an op saves (the slice of GPT-2's wpe), was held twice
// during a step: measured on a SmolLM2-135M LoRA step at batch 2 x 128,
// Identity was 2.4 s of 40.8 s of kernel time, and its copies a large part
// of the 3.5 GB heap. Tensors are immutable (a variable's assign takes a new
// buffer), so a clone may share its input's buffer, as the cpu backend's
// Identity and wasm's own Reshape do: the backend counts references, and
// frees the buffer with the last of them.

import * as tf from '@tensorflow/tfjs-core';

interface RefCounted {
  incRef(dataId: tf.DataId): void;
}

const shareIdentity: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as tf.TensorInfo;
  (backend as unknown as RefCounted).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

/** Replaces wasm's copying Identity with one that shares the buffer (once;
 * call after tfjs-backend-wasm is imported). */
export function shareWasmIdentity(): void {
  const k = tf.getKernel('Identity', 'wasm');
  if (!k || k.kernelFunc === shareIdentity) return;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: shareIdentity });
}
