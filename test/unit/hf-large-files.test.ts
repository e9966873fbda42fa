// Weight files of any size (issue 22, defect 4): a safetensors file's header
// is read and checked against the file's size first, then each tensor is read
// by its own range (a file handle in Node, Blob.slice in the page). Files over
// 2 GiB are sparse here (ftruncate): no disk space, and the bytes the reader
// asks for are counted, so that reading a file never costs its size.
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { refusal } from './refusal';
import { encode } from '../../src/checkpoint/safetensors';
import { HfConfigError } from '../../src/hf/config';
import { readHfFolder, type FolderSource } from '../../src/hf/folder';
import { readPeftAdapter } from '../../src/hf/peft';
import { nodeFolder } from '../../src/node/folder';
import { filesFolder } from '../../src/worker/students';
import { TINY_GPT2, tinyAdapterFiles, tinyGpt2Files, tinyGpt2Model, writeFolder } from './hf-tiny-files';

const tmp = mkdtempSync(path.join(tmpdir(), 'hf-large-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const folder = (files: Map<string, Uint8Array | string>): string => writeFolder(path.join(tmp, `f${n++}`), files);

const GIB = 2 ** 30;
/** Past what one readFile / one ArrayBuffer of Node could take. */
const HUGE = 2.5 * GIB;

/** A folder source that counts the bytes handed out. */
function counted(src: FolderSource): { src: FolderSource; bytes: () => number } {
  let total = 0;
  const read = async (...a: Parameters<FolderSource['read']>): Promise<Uint8Array> => {
    const b = await src.read(...a);
    total += b.length;
    return b;
  };
  return { src: { ...src, read }, bytes: () => total };
}

/** The 8-byte length and the JSON header of a file whose data section is
 * `entries` (name -> [dtype, shape, begin, end]), padded as encode() pads. */
function header(entries: Record<string, [string, number[], number, number]>): Uint8Array {
  const h: Record<string, unknown> = { __metadata__: {} };
  for (const [name, [dtype, shape, b, e]] of Object.entries(entries)) h[name] = { dtype, shape, data_offsets: [b, e] };
  const json = new TextEncoder().encode(JSON.stringify(h));
  const len = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + len).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.set(json, 8);
  return out;
}

/** Writes `parts` ([offset, bytes]) into a new file, then sets its size
 * (sparse beyond what was written). */
function sparseFile(file: string, size: number, parts: [number, Uint8Array][]): void {
  const fd = openSync(file, 'w');
  try {
    for (const [at, bytes] of parts) writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
  truncateSync(file, size);
}

/** The tiny GPT-2 folder with its model.safetensors re-laid: the model's
 * tensors, then GPT-2's attention-mask buffer h.0.attn.bias (a tensor the
 * reader skips) of `bufferBytes`, the file `extra` bytes longer than its
 * header says (negative: cut short). */
function bigGpt2(bufferBytes: number, extra = 0): { dir: string; modelBytes: number } {
  const model = tinyGpt2Files().get('model.safetensors')!;
  const len = Number(new DataView(model.buffer, model.byteOffset).getBigUint64(0, true));
  const parsed = JSON.parse(new TextDecoder().decode(model.subarray(8, 8 + len))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const data = model.subarray(8 + len);
  const entries: Record<string, [string, number[], number, number]> = {};
  for (const [name, t] of Object.entries(parsed))
    if (name !== '__metadata__') entries[name] = [t.dtype, t.shape, t.data_offsets[0], t.data_offsets[1]];
  entries['h.0.attn.bias'] = ['F32', [bufferBytes / 4], data.length, data.length + bufferBytes];
  const head = header(entries);
  const dir = folder(new Map([['config.json', JSON.stringify(TINY_GPT2)]]));
  sparseFile(path.join(dir, 'model.safetensors'), head.length + data.length + bufferBytes + extra, [
    [0, head],
    [head.length, data],
  ]);
  return { dir, modelBytes: data.length };
}

describe('a model.safetensors over 2 GiB', () => {
  it('whose header matches its size is read tensor by tensor, never whole', async () => {
    const { dir, modelBytes } = bigGpt2(HUGE);
    const { src, bytes } = counted(nodeFolder(dir));
    const f = await readHfFolder(src);
    const small = await readHfFolder(nodeFolder(folder(tinyGpt2Files())));
    // the same weights as the same tensors in a small file
    expect(Object.keys(f.weights).sort()).toEqual(Object.keys(small.weights).sort());
    for (const [name, t] of Object.entries(small.weights)) expect(Array.from(f.weights[name].data), name).toEqual(Array.from(t.data));
    // what was read: config.json, the header and the model's tensors, not the 2.5 GiB buffer
    expect(bytes()).toBeLessThan(2 * modelBytes + 64 * 1024);
  });

  it('whose size disagrees with its header is refused naming the file, before a tensor is read', async () => {
    for (const extra of [1, -1, GIB]) {
      const { dir } = bigGpt2(HUGE, extra);
      const { src, bytes } = counted(nodeFolder(dir));
      const e = await refusal(readHfFolder(src));
      expect(e, String(extra)).toBeInstanceOf(HfConfigError);
      expect(e.message, String(extra)).toMatch(/^model\.safetensors: /);
      expect(e.message, String(extra)).toMatch(extra > 0 ? /trailing bytes/ : /go beyond the data section/);
      expect(bytes(), String(extra)).toBeLessThan(64 * 1024);
    }
  });

  it('an adapter_model.safetensors that disagrees with its size is refused by the PEFT reader too, naming it', async () => {
    const files = tinyAdapterFiles();
    const dir = folder(files);
    truncateSync(path.join(dir, 'adapter_model.safetensors'), files.get('adapter_model.safetensors')!.length + HUGE);
    const { src, bytes } = counted(nodeFolder(dir));
    const e = await refusal(readPeftAdapter(src, tinyGpt2Model()));
    expect(e).toBeInstanceOf(HfConfigError);
    expect(e.message).toMatch(/adapter_model\.safetensors: .*trailing bytes/);
    expect(bytes()).toBeLessThan(64 * 1024);
  });
});

describe("the page's folder source (Files, read by Blob.slice)", () => {
  const asFiles = (m: Map<string, Uint8Array>): File[] =>
    [...m].map(([name, b]) => {
      const f = new File([b as BlobPart], name);
      Object.defineProperty(f, 'webkitRelativePath', { value: `tiny/${name}` });
      return f;
    });

  it('reads a folder the same as Node does, by ranges', async () => {
    const files = tinyGpt2Files();
    const page = await readHfFolder(filesFolder(asFiles(files)).source);
    const node = await readHfFolder(nodeFolder(folder(files)));
    for (const [name, t] of Object.entries(node.weights)) expect(Array.from(page.weights[name].data), name).toEqual(Array.from(t.data));
  });

  it('refuses a file whose size disagrees with its header, naming it', async () => {
    const files = tinyGpt2Files();
    const m = files.get('model.safetensors')!;
    const longer = new Uint8Array(m.length + 3);
    longer.set(m);
    files.set('model.safetensors', longer);
    const e = await refusal(readHfFolder(filesFolder(asFiles(files)).source));
    expect(e.message).toMatch(/^model\.safetensors: 3 trailing bytes/);
  });
});

it('the header helper writes what encode() writes (the sparse files above are real safetensors)', () => {
  const t = { a: { shape: [2], data: Float32Array.of(1, 2) } };
  const enc = encode(t);
  expect(Array.from(enc.subarray(0, enc.length - 8))).toEqual(Array.from(header({ a: ['F32', [2], 0, 8] })));
});
