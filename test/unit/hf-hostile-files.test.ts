// Hostile Hugging Face folders and PEFT adapters (issue 22): every one is
// refused by the reader's own error, naming the file and the field, before a
// weight is read; none crashes the reader.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HfConfigError } from '../../src/hf/config';
import { readHfFolder } from '../../src/hf/folder';
import { readPeftAdapter } from '../../src/hf/peft';
import { nodeFolder } from '../../src/node/folder';
import { TINY_GPT2, tinyAdapterFiles, tinyGpt2Files, tinyGpt2Model, writeFolder } from './hf-tiny-files';

const tmp = mkdtempSync(path.join(tmpdir(), 'hf-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const folder = (files: Map<string, Uint8Array | string>): string => writeFolder(path.join(tmp, `f${n++}`), files);

async function refusal(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'accepted').toBeInstanceOf(Error);
  return e as Error;
}

/** `depth` nested arrays around 0, as JSON text. */
const deep = (depth: number): string => `${'['.repeat(depth)}0${']'.repeat(depth)}`;

describe('deeply nested JSON (defect 6)', () => {
  it('config.json, tokenizer.json and generation_config.json: an HfConfigError naming the file, not a stack overflow', async () => {
    const cases: [string, string][] = [
      ['config.json', `{"architectures": ${deep(100_000)}}`],
      ['tokenizer.json', deep(100_000)],
      ['generation_config.json', `{"eos_token_id": ${deep(100_000)}}`],
    ];
    for (const [name, text] of cases) {
      const files = new Map<string, Uint8Array | string>(tinyGpt2Files());
      files.set(name, text);
      const e = await refusal(readHfFolder(nodeFolder(folder(files))));
      expect(e, name).toBeInstanceOf(HfConfigError);
      expect(e.message, name).toMatch(new RegExp(`${name.replace('.', '\\.')}.*nests JSON more than \\d+ levels deep`));
    }
  });

  it('adapter_config.json: an HfConfigError naming the file, not a stack overflow', async () => {
    const files = new Map<string, Uint8Array | string>(tinyAdapterFiles());
    files.set('adapter_config.json', `{"peft_type": ${deep(100_000)}}`);
    const e = await refusal(readPeftAdapter(nodeFolder(folder(files)), tinyGpt2Model()));
    expect(e).toBeInstanceOf(HfConfigError);
    expect(e.message).toMatch(/adapter_config\.json nests JSON more than \d+ levels deep/);
  });

  it('the untouched tiny folder and adapter load (the cases above differ only in the one file)', async () => {
    const f = await readHfFolder(nodeFolder(folder(tinyGpt2Files())));
    expect(f.spec.nLayer).toBe(TINY_GPT2.n_layer);
    const a = await readPeftAdapter(nodeFolder(folder(tinyAdapterFiles())), tinyGpt2Model());
    expect(a.lora.targets).toEqual(['c_attn']);
  });
});
