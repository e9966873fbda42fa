import { describe, expect, it } from 'vitest';
import { decode, encode, SafetensorsError } from '../../src/checkpoint/safetensors';
import { Xxh32, xxh32 } from '../../src/checkpoint/hash';
import { fnv1a64 } from '../../src/core/fingerprint';
import type { TensorMap } from '../../src/core/state';
import { expectSameTensors, rawFile } from './ckpt-fixtures';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('hashes', () => {
  it('xxh32 matches the reference test vectors', () => {
    expect(xxh32(new Uint8Array(0)).toString(16)).toBe('2cc5d05');
    expect(xxh32(enc('abc')).toString(16)).toBe('32d153ff');
    expect(xxh32(enc('Nobody inspects the spammish repetition')).toString(16)).toBe('e2293b2f');
  });

  it('xxh32 streaming over odd chunks and unaligned views equals one shot', () => {
    const data = new Uint8Array(10_007);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    const whole = xxh32(data);
    for (const chunk of [1, 3, 5, 16, 17, 1000]) {
      const h = new Xxh32();
      for (let i = 0; i < data.length; i += chunk) h.update(data.subarray(i, i + chunk));
      expect(h.digest()).toBe(whole);
    }
    const shifted = new Uint8Array(data.length + 1);
    shifted.set(data, 1);
    expect(xxh32(shifted.subarray(1))).toBe(whole); // byteOffset 1: the DataView path
    data[5000] ^= 1;
    expect(xxh32(data)).not.toBe(whole);
  });

  it("the dataset fingerprint's FNV-1a 64 matches the reference test vectors", () => {
    // ASCII: one UTF-16 code unit per byte, so the byte-wise vectors apply
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });
});

describe('safetensors encode/decode', () => {
  const tensors: TensorMap = {
    'b.weight': { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) },
    'a.bias': { shape: [3], data: Float32Array.from([0.25, -0, 1e-30]) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    scalar: { shape: [], data: Float32Array.from([42]) },
  };

  it('round-trips tensors and metadata', () => {
    const file = encode(tensors, { hello: 'world', json: '{"a":1}' });
    const { tensors: t, metadata } = decode(file);
    expectSameTensors(t, tensors);
    expect(metadata).toEqual({ hello: 'world', json: '{"a":1}' });
  });

  it('lays the file out as the spec says: aligned, space-padded, sorted', () => {
    const file = encode(tensors, {});
    const dv = new DataView(file.buffer);
    const n = dv.getUint32(0, true);
    expect(dv.getUint32(4, true)).toBe(0);
    expect((8 + n) % 8).toBe(0);
    const text = new TextDecoder().decode(file.subarray(8, 8 + n));
    expect(text).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(text);
    expect(header['a.bias']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [0, 12] });
    expect(header['b.weight'].data_offsets).toEqual([12, 36]);
    expect(header.empty.data_offsets).toEqual([36, 36]);
    expect(header.scalar.data_offsets).toEqual([36, 40]);
    expect(file.length).toBe(8 + n + 40);
    expect(new DataView(file.buffer, 8 + n + 12).getFloat32(0, true)).toBe(1);
  });

  it('gives Float32Array views without copying when aligned, copies when not', () => {
    const file = encode(tensors, {});
    expect(decode(file).tensors['b.weight'].data.buffer).toBe(file.buffer);
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    const t = decode(shifted.subarray(1)).tensors;
    expect(t['b.weight'].data.buffer).not.toBe(shifted.buffer);
    expectSameTensors(t, tensors);
  });

  it('converts F16 and BF16 to F32', () => {
    const f16 = [0x3c00, 0xc000, 0x3800, 0x7c00, 0x0001, 0x0000];
    const bf16 = [0x3f80, 0x4049];
    const body = new Uint8Array((f16.length + bf16.length) * 2);
    const dv = new DataView(body.buffer);
    [...f16, ...bf16].forEach((h, i) => dv.setUint16(i * 2, h, true));
    const file = rawFile(
      {
        h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [12, 16] },
      },
      body,
    );
    const t = decode(file).tensors;
    expect(Array.from(t.h.data)).toEqual([1, -2, 0.5, Infinity, 2 ** -24, 0]);
    expect(Array.from(t.b.data)).toEqual([1, 3.140625]);
  });

  it('refuses to encode data that does not match its shape', () => {
    expect(() => encode({ x: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      /tensor "x": shape \[2, 2\] needs 4 values, data has 3/,
    );
  });
});

describe('safetensors decode refuses hostile or damaged files', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const refuse = (file: Uint8Array, msg: RegExp, tensor?: string): void => {
    let err: unknown;
    try {
      decode(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toMatch(msg);
    if (tensor) expect((err as SafetensorsError).tensor).toBe(tensor);
  };

  it('accepts the well-formed base case', () => {
    expect(decode(rawFile(ok, 8)).tensors.a.shape).toEqual([2]);
  });

  it('file shorter than 8 bytes', () => {
    refuse(new Uint8Array(5), /5 bytes long: too short/);
    refuse(new Uint8Array(0), /0 bytes long/);
  });

  it('header length over the limit', () => {
    refuse(rawFile(ok, 8, { headerLen: 2n ** 40n }), /header length 1099511627776 exceeds the limit/);
    expect(() => decode(rawFile(ok, 8), { maxHeaderBytes: 10 })).toThrow(/exceeds the limit of 10 bytes/);
  });

  it('header length beyond the file', () => {
    refuse(rawFile(ok, 8, { headerLen: 5000 }), /header length 5000 goes beyond the end of the file/);
  });

  it('truncated file: tensor data beyond the end', () => {
    const file = encode({ a: { shape: [4], data: new Float32Array(4) }, b: { shape: [4], data: new Float32Array(4) } });
    refuse(
      file.subarray(0, file.length - 3),
      /tensor "b": data_offsets \[16, 32\] go beyond the data section \(29 bytes\): file truncated/,
      'b',
    );
  });

  it('invalid UTF-8 and invalid JSON', () => {
    const bad = rawFile('{"a":1}');
    bad[10] = 0xff;
    refuse(bad, /not valid UTF-8/);
    refuse(rawFile('{"a": {"dtype": "F32",'), /not valid JSON/);
  });

  it('header that is not an object', () => {
    refuse(rawFile('[1,2]'), /must be a JSON object, got \[1,2\]/);
    refuse(rawFile('null'), /must be a JSON object, got null/);
  });

  it('unknown dtype', () => {
    refuse(rawFile({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8), /tensor "a": unsupported dtype "I64"/, 'a');
    refuse(rawFile({ a: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor "a": dtype missing/);
  });

  it('bad shapes', () => {
    for (const shape of [[-1], [1.5], '2', [null], { 0: 2 }]) {
      refuse(
        rawFile({ a: { dtype: 'F32', shape, data_offsets: [0, 8] } }, 8),
        /tensor "a": shape must be an array of non-negative integers/,
        'a',
      );
    }
  });

  it('bad data_offsets', () => {
    for (const offs of [[8, 0], [0], [0, 8, 9], ['0', 8], [-4, 4], [0, 8.5], null]) {
      refuse(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: offs } }, 8), /tensor "a": data_offsets must be \[begin, end\]/, 'a');
    }
  });

  it('byte size that does not match the shape', () => {
    refuse(
      rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
      /tensor "a": holds 8 bytes but shape \[3\] of F32 needs 12 bytes/,
    );
    refuse(rawFile({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, 8), /needs \d+ bytes/);
  });

  it('offsets out of bounds', () => {
    refuse(
      rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 8),
      /tensor "a": data_offsets \[8, 16\] go beyond the data section \(8 bytes\)/,
    );
  });

  it('overlapping tensors', () => {
    const h = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    refuse(rawFile(h, 12), /tensors "a" and "b" overlap \(bytes \[0, 8\) and \[4, 12\)\)/, 'b');
    const same = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    refuse(rawFile(same, 8), /overlap/);
    const inside = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } };
    refuse(rawFile(inside, 8), /tensors "a" and "z" overlap/);
  });

  it('gaps and trailing bytes', () => {
    const gap = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    refuse(rawFile(gap, 12), /bytes \[4, 8\) before tensor "b" belong to no tensor/, 'b');
    refuse(rawFile(ok, 12), /4 trailing bytes after the last tensor/);
  });

  it('metadata values that are not strings', () => {
    refuse(rawFile({ __metadata__: { step: 5 }, ...ok }, 8), /__metadata__ "step" must be a string, got 5/);
    refuse(rawFile({ __metadata__: ['x'], ...ok }, 8), /__metadata__ must be an object of strings/);
  });

  it('prototype-polluting names', () => {
    refuse(
      rawFile('{"__proto__": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}'),
      /tensor "__proto__": this name is not allowed/,
    );
    refuse(rawFile('{"__metadata__": {"__proto__": "x"}}'), /"__proto__" is not allowed/);
  });
});
