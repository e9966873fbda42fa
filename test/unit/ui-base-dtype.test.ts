// The Student step's "Base weights on the GPU": what each backend offers and
// why, the choice kept across visits, and the worker's refusal of a packed
// base where the page's choice cannot be held, and the base a built model
// holds (what a run's note names).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createBaseVariables, heldBaseDtype } from '../../src/core/base-dtype';
import { paramShapes } from '../../src/core/config';
import { tinyLlamaConfig } from './core-helpers';
import { initParams } from '../../src/core/model';
import { BaseDtypeError, baseDtypeNote, checkPageBaseDtype } from '../../src/core/base-dtype-choice';
import { baseDtypeApplies, baseDtypeChoice, keepBaseDtype, keptBaseDtype, onGpuWords } from '../../src/ui/base-dtype';

/** A page's localStorage, as far as the setting uses it. */
function storage(init: Record<string, string> = {}): Pick<Storage, 'getItem' | 'setItem'> & { items: Map<string, string> } {
  const items = new Map(Object.entries(init));
  return { items, getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) };
}

describe('the base dtype the Student step offers', () => {
  it('defaults to f16 on WebGPU, with f32 and int8 also offered', () => {
    expect(baseDtypeChoice('webgpu', undefined)).toEqual({ value: 'f16', offered: ['f32', 'f16', 'int8'] });
  });

  it('offers only f32 off WebGPU, and says why', () => {
    for (const b of ['wasm', 'webgl', 'cpu']) {
      const c = baseDtypeChoice(b, undefined);
      expect(c.value).toBe('f32');
      expect(c.offered).toEqual(['f32']);
      expect(c.why).toBe(
        `Full precision only on ${b}: half precision and int8 run in our WebGPU kernels (WGSL), so they need the WebGPU backend.`,
      );
    }
    expect(baseDtypeChoice(undefined, 'f16')).toMatchObject({
      value: 'f32',
      offered: ['f32'],
      why: 'Full precision until the backend is set up.',
    });
  });

  it('takes the kept choice where the backend holds it, the default elsewhere', () => {
    expect(baseDtypeChoice('webgpu', 'int8').value).toBe('int8');
    expect(baseDtypeChoice('webgpu', 'f32').value).toBe('f32');
    expect(baseDtypeChoice('wasm', 'int8').value).toBe('f32');
  });

  it('keeps a choice across visits; a bad or unreadable stored value is no choice', () => {
    const s = storage();
    expect(keptBaseDtype(s)).toBeUndefined();
    keepBaseDtype('int8', s);
    expect(s.items.get('mcckd.baseDtype')).toBe('int8');
    expect(keptBaseDtype(s)).toBe('int8');
    // back on WebGPU after a visit on wasm: the kept int8 again
    expect(baseDtypeChoice('wasm', keptBaseDtype(s)).value).toBe('f32');
    expect(baseDtypeChoice('webgpu', keptBaseDtype(s)).value).toBe('int8');
    expect(keptBaseDtype(storage({ 'mcckd.baseDtype': 'f64' }))).toBeUndefined();
    const broken = {
      getItem: (): string => {
        throw new Error('SecurityError');
      },
      setItem: (): void => {
        throw new Error('QuotaExceededError');
      },
    };
    expect(keptBaseDtype(broken)).toBeUndefined();
    expect(() => keepBaseDtype('f16', broken)).not.toThrow();
    expect(keptBaseDtype(undefined)).toBeUndefined();
  });

  it('says how the base is held in the words of the run and of the Stored-as row', () => {
    expect(baseDtypeNote('f16', true)).toBe('base f16');
    expect(baseDtypeNote('int8', true)).toBe('base int8');
    expect(baseDtypeNote('f16', false)).toBe('base f32 (every weight trains)');
    expect(onGpuWords('f16', true)).toBe('on the GPU: projections and token tables in f16, the rest float32');
    expect(onGpuWords('int8', false)).toBe('float32 on the GPU');
    expect(onGpuWords('f32', true)).toBe('float32 on the GPU');
  });

  it('says when the choice does not apply: from scratch, and when every weight trains', () => {
    expect(baseDtypeApplies('lora')).toBe('');
    expect(baseDtypeApplies('full')).toMatch(
      /^Rank 0 trains every weight: nothing is frozen, so the whole model stays in full precision \(f32\)/,
    );
    expect(baseDtypeApplies('scratch')).toMatch(/a student from scratch has no frozen base\.$/);
  });
});

describe("the worker's check of the page's base dtype", () => {
  it('holds f16 and int8 on WebGPU and f32 anywhere', () => {
    expect(checkPageBaseDtype('f16', 'webgpu')).toBe('f16');
    expect(checkPageBaseDtype('int8', 'webgpu')).toBe('int8');
    expect(checkPageBaseDtype('f32', 'wasm')).toBe('f32');
  });

  it('refuses a packed base off WebGPU, and a value that is not a dtype, naming the setting', () => {
    expect(() => checkPageBaseDtype('int8', 'wasm')).toThrow(
      new BaseDtypeError(
        'Base weights on the GPU: int8 runs in our WebGPU kernels, and this run is on wasm: choose full precision (f32), or the WebGPU backend',
      ),
    );
    expect(() => checkPageBaseDtype('f16', 'unknown')).toThrow(BaseDtypeError);
    expect(() => checkPageBaseDtype('bf16', 'webgpu')).toThrow('Base weights on the GPU must be one of f32, f16, int8, got "bf16"');
    expect(() => checkPageBaseDtype(undefined, 'webgpu')).toThrow('Base weights on the GPU must be one of f32, f16, int8, got undefined');
  });
});

describe("a run's note names the base as built", () => {
  const llama = tinyLlamaConfig;

  it('reads f32, f16 or int8 from the variables createBaseVariables made', () => {
    const n = tf.memory().numTensors;
    for (const d of ['f32', 'f16', 'int8'] as const) {
      const vs = createBaseVariables(initParams(llama, 1), paramShapes(llama), 'out-in', d);
      expect(heldBaseDtype(vs)).toBe(d);
      for (const v of vs.values()) v.dispose();
    }
    expect(tf.memory().numTensors).toBe(n);
  });
});
