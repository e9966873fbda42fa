// One trained student as llama.cpp's GGUF: the architecture's metadata, the
// tokenizer as tokenizer.ggml.*, and every weight under llama.cpp's tensor
// names (learned from llama.cpp's convert_hf_to_gguf.py, gguf-py's
// constants.py and src/llama-vocab.cpp / src/models/*.cpp).
//
// Text tokenization limit: llama.cpp does not run the tokenizer.json's
// pre-tokenizer regex; it picks a built-in one by tokenizer.ggml.pre. We name
// the built-in whose regex equals the tokenizer's (GPT-2, LLaMA-3, Qwen2);
// for any other regex (our from-scratch BPE's, for one) we name the closest
// built-in, and llama.cpp may then split text differently from us and
// produce other ids for the same text. Ids fed directly give the same
// logits either way (the wllama check feeds ids).

import { modelCard } from './card';
import { familyOf } from '../core/arch';
import { dimsOf, type ModelConfig } from '../core/config';
import type { TensorMap } from '../core/state';
import { ExportError, type ExportModel } from './source';
import { GgmlType, kv, loneSurrogateAt, type GgufTensor, type GgufValue } from './gguf-writer';

/** llama.cpp's llama_token_type. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** llama_ftype: what most of the weights are stored as. */
const FILE_TYPE = { F32: 0, F16: 1 } as const;

// The pre-tokenizer regexes as Hugging Face's tokenizer.json files spell
// them (a Sequence is its regexes in order, joined by a NUL), and the
// llama.cpp pre-tokenizer that runs the same split.
const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const DIGITS = '\\p{N}'; // a Digits pre-tokenizer with individual_digits
const KNOWN_REGEX: Record<string, string> = {
  [GPT2_REGEX]: 'gpt-2',
  [`${DIGITS}\0${GPT2_REGEX}`]: 'smollm', // SmolLM / StarCoder: digits one by one, then GPT-2's
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
    'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
    'qwen2',
};

export interface GgufVocab {
  model: 'gpt2' | 'llama';
  pre?: string;
  /** True when `pre` names the tokenizer's own regex, false when it is only the closest. */
  preExact: boolean;
  tokens: string[];
  types: number[];
  scores?: Float32Array;
  merges?: string[];
  addBos: boolean;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Every Split regex and ByteLevel(use_regex) of a pre_tokenizer, in order. */
/** Every split rule of a pre_tokenizer, in order, as a regex; another kind
 * of pre-tokenizer (Punctuation, Whitespace, ...) as "?" + its type, which
 * matches no llama.cpp one. */
function preRegexes(p: unknown, out: string[] = []): string[] {
  if (!isObj(p)) return out;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) for (const q of p.pretokenizers) preRegexes(q, out);
  else if (p.type === 'Split' && isObj(p.pattern)) {
    if (typeof p.pattern.Regex === 'string') out.push(p.pattern.Regex);
    else out.push(`?Split ${JSON.stringify(p.pattern)}`);
  } else if (p.type === 'ByteLevel') {
    if (p.use_regex !== false) out.push(GPT2_REGEX);
  } else if (p.type === 'Digits' && p.individual_digits === true) out.push(DIGITS);
  else out.push(`?${String(p.type)}`);
  return out;
}

/** The closest llama.cpp pre-tokenizer for a regex it does not have:
 * digits one by one (as our from-scratch BPE splits them) is Qwen2's rule,
 * digit runs of up to three LLaMA-3's, anything else GPT-2's. */
function closestPre(res: string[]): string {
  const r = res.join('\0');
  if (/(^|[|\0])(\\p\{N\}|\\d)($|[|\0])/.test(r)) return 'qwen2'; // a digit alone as one alternative
  if (/\\p\{N\}\{1,3\}/.test(r)) return 'llama-bpe';
  return 'gpt-2';
}

/** Whether the post-processor puts a special token before a single text (a BOS). */
function addsBos(tj: Record<string, unknown>, tokenizerConfig: unknown): boolean | undefined {
  if (isObj(tokenizerConfig) && typeof tokenizerConfig.add_bos_token === 'boolean') return tokenizerConfig.add_bos_token;
  const pp = tj.post_processor;
  const templ = (p: unknown): boolean | undefined => {
    if (!isObj(p)) return undefined;
    if (p.type === 'Sequence' && Array.isArray(p.processors)) {
      for (const q of p.processors) {
        const r = templ(q);
        if (r !== undefined) return r;
      }
      return undefined;
    }
    if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) return isObj(p.single[0]) && 'SpecialToken' in p.single[0];
    return undefined;
  };
  return templ(pp);
}

/** The tokenizer.json as llama.cpp's vocabulary, `vocabSize` entries (the
 * embedding's rows: llama.cpp takes the token count as n_vocab). Ids the
 * tokenizer does not use become unused "[PAD<id>]" entries, as llama.cpp's
 * converter writes them. */
export function ggufVocab(tokenizerJson: unknown, vocabSize: number, tokenizerConfig?: unknown): GgufVocab {
  if (!isObj(tokenizerJson) || !isObj(tokenizerJson.model)) throw new ExportError('GGUF export: the tokenizer.json has no "model" object');
  const model = tokenizerJson.model;
  if (model.type !== 'BPE')
    throw new ExportError(
      `GGUF export: a tokenizer.json of model type ${JSON.stringify(model.type)} is not supported (only BPE: byte-level as GPT-2, or with byte fallback as LLaMA's SentencePiece)`,
    );
  if (!isObj(model.vocab)) throw new ExportError('GGUF export: the tokenizer.json BPE model has no vocab');
  const tokens: (string | undefined)[] = new Array<string | undefined>(vocabSize).fill(undefined);
  const types = new Array<number>(vocabSize).fill(TokenType.NORMAL);
  const put = (text: string, id: unknown, type: number): void => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
      throw new ExportError(`GGUF export: token ${JSON.stringify(text)} has id ${String(id)}`);
    // UTF-8 would carry it as U+FFFD: another token, maybe the same as another id's
    if (loneSurrogateAt(text) >= 0)
      throw new ExportError(
        `GGUF export: token ${JSON.stringify(text)} (id ${id}) is not valid Unicode (a lone surrogate), which GGUF cannot store`,
      );
    if (id >= vocabSize)
      throw new ExportError(`GGUF export: token ${JSON.stringify(text)} has id ${id}, beyond the model's ${vocabSize} embedding rows`);
    if (tokens[id] !== undefined && tokens[id] !== text)
      throw new ExportError(`GGUF export: id ${id} is both ${JSON.stringify(tokens[id])} and ${JSON.stringify(text)}`);
    tokens[id] = text;
    types[id] = type;
  };
  const byteFallback = model.byte_fallback === true;
  for (const [text, id] of Object.entries(model.vocab))
    put(text, id, byteFallback && /^<0x[0-9A-F]{2}>$/.test(text) ? TokenType.BYTE : TokenType.NORMAL);
  for (const a of Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : []) {
    if (!isObj(a) || typeof a.content !== 'string') continue;
    put(a.content, a.id, a.special === true ? TokenType.CONTROL : TokenType.USER_DEFINED);
  }
  if (typeof model.unk_token === 'string' && isObj(model.vocab) && typeof model.vocab[model.unk_token] === 'number')
    types[model.vocab[model.unk_token] as number] = TokenType.UNKNOWN;
  const seen = new Map<string, number>();
  const out = tokens.map((t, i) => {
    if (t === undefined) {
      types[i] = TokenType.UNUSED;
      t = `[PAD${i}]`;
    }
    // llama.cpp maps text -> id as well: two ids with one text would break it
    if (seen.has(t)) throw new ExportError(`GGUF export: ids ${seen.get(t)} and ${i} are both the token ${JSON.stringify(t)}`);
    seen.set(t, i);
    return t;
  });
  const addBos = addsBos(tokenizerJson, tokenizerConfig);

  if (byteFallback) {
    // SentencePiece-style (LLaMA-2, TinyLlama): llama.cpp's "llama" tokenizer
    // merges by score, not by a merge list; a BPE vocabulary is ordered by
    // merge rank, so minus the id orders the merges as the ranks do.
    const scores = new Float32Array(vocabSize);
    out.forEach((_, i) => {
      scores[i] = types[i] === TokenType.NORMAL ? -i : 0;
    });
    return { model: 'llama', preExact: true, tokens: out, types, scores, addBos: addBos ?? true };
  }
  const merges: string[] = [];
  for (const m of Array.isArray(model.merges) ? model.merges : []) {
    const pair = typeof m === 'string' ? m.split(' ') : Array.isArray(m) ? m : [];
    if (pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string')
      throw new ExportError(`GGUF export: the merge ${JSON.stringify(m)} is not two tokens separated by one space`);
    if (loneSurrogateAt(pair[0]) >= 0 || loneSurrogateAt(pair[1]) >= 0)
      throw new ExportError(`GGUF export: the merge ${JSON.stringify(m)} is not valid Unicode (a lone surrogate), which GGUF cannot store`);
    merges.push(`${pair[0]} ${pair[1]}`);
  }
  const res = preRegexes(tokenizerJson.pre_tokenizer);
  const exact = KNOWN_REGEX[res.join('\0')];
  if (!res.length && !isObj(tokenizerJson.pre_tokenizer))
    throw new ExportError('GGUF export: the BPE tokenizer.json has no pre_tokenizer; only byte-level BPE tokenizers are supported');
  return {
    model: 'gpt2',
    pre: exact ?? closestPre(res),
    preExact: exact !== undefined,
    tokens: out,
    types,
    merges,
    addBos: addBos ?? false,
  };
}

// the RoPE row permutation lives with the families' GGUF tables
export { permuteRope } from '../core/arch/gguf';

function take(weights: TensorMap, name: string, shape: readonly number[]): Float32Array {
  const t = weights[name];
  if (!t) throw new ExportError(`GGUF export: the weight ${name} is missing`);
  if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i]))
    throw new ExportError(`GGUF export: ${name} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}

/** The weights under llama.cpp's names, row-major shapes as ggml wants them
 * read ([out, in] for every matrix: ggml_mul_mat takes ne[0] = in). */
export function ggufTensors(c: ModelConfig, weights: TensorMap, dtype: 'F32' | 'F16'): GgufTensor[] {
  const out: GgufTensor[] = [];
  // 1-D tensors (norms, biases) stay F32 as the converter keeps them: ggml's
  // element-wise ops want F32 there, and they are a tiny part of the file.
  const add = (name: string, shape: number[], data: Float32Array): void => {
    out.push({ name, shape, data, type: dtype === 'F16' && shape.length > 1 ? GgmlType.F16 : GgmlType.F32 });
  };
  familyOf(c).gguf.tensors(c, (name, shape) => take(weights, name, shape), add);
  return out;
}

/** Refuses, naming the field, a config that llama.cpp would run with other
 * math than ours (what its graph hard-codes instead of reading). */
export function checkGgufComputable(c: ModelConfig): void {
  const fam = familyOf(c).gguf;
  const why = fam.refuse?.(c);
  if (why !== undefined) throw new ExportError(`GGUF export: llama.cpp's ${fam.arch} would compute this model differently: ${why}`);
}

/** Architecture and tokenizer metadata, in the converter's order. */
export function ggufMetadata(m: ExportModel, dtype: 'F32' | 'F16', vocab: GgufVocab): [string, GgufValue][] {
  const c = m.modelConfig;
  const fam = familyOf(c).gguf;
  const arch = fam.arch;
  const { d, headDim, inner } = dimsOf(c);
  if (!Number.isInteger(headDim)) throw new ExportError(`GGUF export: width ${d} does not split into ${c.nHead} heads`);
  checkGgufComputable(c);
  const a = (k: string): string => `${arch}.${k}`;
  const md: [string, GgufValue][] = [
    ['general.architecture', kv.str(arch)],
    ['general.type', kv.str('model')],
    ['general.name', kv.str(m.facts.name)],
    // the model card travels inside the one file (no README beside a .gguf)
    ['general.description', kv.str(modelCard(m, 'gguf'))],
    ['general.file_type', kv.u32(FILE_TYPE[dtype])],
    [a('vocab_size'), kv.u32(c.vocabSize)],
    [a('context_length'), kv.u32(c.blockSize)],
    [a('embedding_length'), kv.u32(d)],
    [a('feed_forward_length'), kv.u32(inner)],
    [a('block_count'), kv.u32(c.nLayer)],
    [a('attention.head_count'), kv.u32(c.nHead)],
  ];
  for (const [k, type, v] of fam.hparams(c)) md.push([a(k), type === 'u32' ? kv.u32(v) : kv.f32(v)]);
  md.push(['tokenizer.ggml.model', kv.str(vocab.model)]);
  if (vocab.pre) md.push(['tokenizer.ggml.pre', kv.str(vocab.pre)]);
  md.push(['tokenizer.ggml.tokens', kv.strs(vocab.tokens)]);
  if (vocab.scores) md.push(['tokenizer.ggml.scores', kv.f32s(vocab.scores)]);
  md.push(['tokenizer.ggml.token_type', kv.i32s(vocab.types)]);
  if (vocab.merges) md.push(['tokenizer.ggml.merges', kv.strs(vocab.merges)]);
  const eos = m.eosTokenIds[0];
  if (eos === undefined) throw new ExportError('GGUF export: the model has no end-of-text token id');
  // GPT-2 and Qwen2 have no BOS of their own; their GGUFs name the end token
  // (llama.cpp's BPE default would be id 11), and add_bos_token stays false
  const bos = m.bosTokenId ?? eos;
  for (const [k, id] of [
    ['bos', bos],
    ['eos', eos],
    ['padding', m.padTokenId],
  ] as const) {
    if (id === undefined) continue;
    if (id < 0 || id >= c.vocabSize)
      throw new ExportError(`GGUF export: the ${k} token id ${id} is outside the vocabulary of ${c.vocabSize}`);
    md.push([`tokenizer.ggml.${k}_token_id`, kv.u32(id)]);
  }
  md.push(['tokenizer.ggml.add_bos_token', kv.bool(vocab.addBos)]);
  if (vocab.model === 'gpt2') md.push(['tokenizer.ggml.add_eos_token', kv.bool(false)]);
  return md;
}
