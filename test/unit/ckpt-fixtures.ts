// Hand-built TrainStates and raw safetensors files for the checkpoint tests
// (no model needed: params come from expectedParamShapes).

import { expect } from 'vitest';
import { DEFAULT_TRAIN, type ModelConfig } from '../../src/core/config';
import type { MetricPoint, TensorMap, TrainState } from '../../src/core/state';
import { expectedParamShapes } from '../../src/checkpoint/format';
import { numel } from '../../src/checkpoint/safetensors';

export const TINY: ModelConfig = { vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, layerNormEps: 1e-5 };

function filled(shapes: Record<string, number[]>, seed: number): TensorMap {
  const out: TensorMap = {};
  let k = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const data = new Float32Array(numel(shape));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed * 1000 + k++ * 0.37) * 0.1;
    out[name] = { shape: [...shape], data };
  }
  return out;
}

export function metric(step: number, loss = 2 - step / 100): MetricPoint {
  return { step, loss, ce: loss * 0.9, kl: loss * 0.1, lr: 1e-3, tokensPerSecond: 1000 + step, time: step * 10 };
}

export function tinyState(opts: { step?: number; seed?: number; config?: ModelConfig; metrics?: MetricPoint[] } = {}): TrainState {
  const config = opts.config ?? TINY;
  const seed = opts.seed ?? 1;
  const shapes = expectedParamShapes(config);
  const step = opts.step ?? 5;
  return {
    format: 'mcckd-run/1',
    modelConfig: config,
    trainConfig: { ...DEFAULT_TRAIN, steps: 50, vocabSize: config.vocabSize },
    tokenizer: { type: 'byte-bpe/1', vocabSize: config.vocabSize, merges: [[1, 2]], specials: ['<|eos|>', '<|pad|>'] },
    step,
    rngState: [1, 2, 3, 4],
    cursor: { epoch: 0, position: step, order: [2, 0, 1] },
    datasetFingerprint: 'abcdef0123456789',
    params: filled(shapes, seed),
    optimizer: { step, m: filled(shapes, seed + 100), v: filled(shapes, seed + 200) },
    metrics: opts.metrics ?? [],
  };
}

/** A safetensors file from an arbitrary (possibly hostile) header and body. */
export function rawFile(header: unknown, body: Uint8Array | number = 0, opts: { headerLen?: number | bigint } = {}): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bodyBytes = typeof body === 'number' ? new Uint8Array(body) : body;
  const out = new Uint8Array(8 + json.length + bodyBytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(opts.headerLen ?? json.length), true);
  out.set(json, 8);
  out.set(bodyBytes, 8 + json.length);
  return out;
}

/** Byte offset of the data section of a well-formed file. */
export function dataStart(file: Uint8Array): number {
  return 8 + Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
}

export function expectSameTensors(a: TensorMap, b: TensorMap): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    expect(a[k].shape).toEqual(b[k].shape);
    expect(Array.from(a[k].data)).toEqual(Array.from(b[k].data));
  }
}
