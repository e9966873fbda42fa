// Hostile Hugging Face folders and PEFT adapters (issue 22): every one is
// refused by the reader's own error, naming the file and the field, before a
// weight is read; none crashes the reader.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { refusal } from './refusal';
import { checkModelRanges } from '../../src/core/config';
import { HfConfigError, parseHfConfig, studentConfig } from '../../src/hf/config';
import { readHfFolder, type FolderSource } from '../../src/hf/folder';
import { readPeftAdapter } from '../../src/hf/peft';
import { nodeFolder } from '../../src/node/folder';
import { TINY_GPT2, TINY_LLAMA_CONFIG, tinyAdapterFiles, tinyGpt2Files, tinyGpt2Model, writeFolder } from './hf-tiny-files';

const tmp = mkdtempSync(path.join(tmpdir(), 'hf-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const folder = (files: Map<string, Uint8Array | string>): string => writeFolder(path.join(tmp, `f${n++}`), files);

/** A folder source that notes the name of every file read. */
function watched(src: FolderSource): { src: FolderSource; opened: string[] } {
  const opened: string[] = [];
  const read = (...a: Parameters<FolderSource['read']>): ReturnType<FolderSource['read']> => {
    opened.push(a[0]);
    return src.read(...a);
  };
  return { src: { ...src, read }, opened };
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

describe("one set of limits, the core's, checked on config.json before a weight is read (defect 7)", () => {
  const llama = TINY_LLAMA_CONFIG;
  const gemma3 = {
    ...llama,
    architectures: ['Gemma3ForCausalLM'],
    model_type: 'gemma3_text',
    head_dim: 8,
    num_hidden_layers: 2,
    layer_types: ['sliding_attention', 'full_attention'],
    sliding_window: 4,
  };
  const qwen3 = { ...llama, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', head_dim: 8 };
  // each beyond MODEL_LIMITS / MODEL_OPTION_LIMITS (src/core/config.ts), refused by its Hugging Face name
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['130 layers', { ...llama, num_hidden_layers: 130 }, /"num_hidden_layers" must be an integer in \[1, 128\], got 130/],
    [
      '130 heads',
      { ...llama, hidden_size: 1040, num_attention_heads: 130, num_key_value_heads: 130 },
      /"num_attention_heads" must be .*128/,
    ],
    ['GPT-2 with 9,000 positions', { ...TINY_GPT2, n_positions: 9000 }, /"n_positions" must be an integer in \[1, 8192\], got 9000/],
    ['GPT-2 with 130 layers', { ...TINY_GPT2, n_layer: 130 }, /"n_layer" must be an integer in \[1, 128\], got 130/],
    ['GPT-2 with a huge epsilon', { ...TINY_GPT2, layer_norm_epsilon: 0.5 }, /"layer_norm_epsilon" must be a number in \[1e-12, 0.1\]/],
    ['rope_theta 1e300', { ...llama, rope_theta: 1e300 }, /"rope_theta" must be a number in \(0, 1000000000\], got 1e\+300/],
    ['rms_norm_eps 1e-30', { ...llama, rms_norm_eps: 1e-30 }, /"rms_norm_eps" must be a number in \[1e-12, 0.1\], got 1e-30/],
    ['hidden 16384', { ...llama, hidden_size: 16384, num_attention_heads: 128 }, /"hidden_size" must be an integer in \[1, 8192\]/],
    ['Qwen3 rope_parameters', { ...qwen3, rope_parameters: { rope_type: 'default', rope_theta: 1e300 } }, /"rope_theta" must be a number/],
    ['Gemma3 local RoPE base', { ...gemma3, rope_local_base_freq: 1e300 }, /"rope_local_base_freq" must be a number/],
    ['Gemma3 attention scale', { ...gemma3, query_pre_attn_scalar: 1e-9 }, /1 \/ sqrt\("query_pre_attn_scalar"\)\) must be a number/],
  ];

  it('parseHfConfig refuses each, naming the Hugging Face field', () => {
    for (const [what, cfg, msg] of cases) {
      let err: unknown;
      try {
        parseHfConfig(cfg);
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(HfConfigError);
      expect((err as Error).message, what).toMatch(msg);
      expect((err as Error).message, what).toMatch(/^config\.json: /);
    }
  });

  it('a folder with such a config.json is refused before any weight file is opened', async () => {
    for (const [what, cfg, msg] of cases) {
      const { src, opened } = watched(nodeFolder(folder(new Map([['config.json', JSON.stringify(cfg)]]))));
      const e = await refusal(readHfFolder(src));
      expect(e.message, what).toMatch(msg);
      expect(opened, what).toEqual(['config.json']);
    }
  });

  it('at the limits every family reads, and what it reads passes the core check under our names', () => {
    const edge: Record<string, unknown>[] = [
      { ...llama, num_hidden_layers: 128, rope_theta: 1e9, rms_norm_eps: 1e-12 },
      { ...TINY_GPT2, n_positions: 8192, n_layer: 128, layer_norm_epsilon: 0.1 },
      { ...qwen3, num_attention_heads: 128, num_key_value_heads: 128, hidden_size: 1024 },
      { ...gemma3, rope_local_base_freq: 1e9 },
    ];
    for (const cfg of edge) expect(() => checkModelRanges(studentConfig(parseHfConfig(cfg))), JSON.stringify(cfg)).not.toThrow();
  });
});
