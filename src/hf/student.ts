// A Hugging Face model folder made into a student the trainer can fine-tune:
// its config as our ModelConfig, its weights, its tokenizer and a fingerprint
// that a run keeps so that it resumes only on the same base.

import { paramShapes } from '../core/config';
import type { PretrainedStudent } from '../core/trainer';
import { decodeHalf, isHalfTensor } from '../core/half-tensor';
import type { TensorMap } from '../core/state';
import { LITTLE_ENDIAN, Xxh32 } from '../checkpoint/hash';
import { HfConfigError, studentConfig, type HfModelSpec } from './config';
import { readHfFolder, type FolderSource, type HfFolder } from './folder';
import { HfTokenizer } from './tokenizer';

/** Values a weight held in 16-bit patterns is hashed by at a time, through
 * one buffer made once (64 KB, not a copy of any weight). */
const FINGERPRINT_BLOCK = 16384;
const block = new Float32Array(FINGERPRINT_BLOCK);
const blockBytes = new Uint8Array(block.buffer);

/** xxh32 of the config and of every weight (names, shapes, float32 bytes in
 * the table's order), as 8 hex digits and the parameter count. It hashes the
 * values the student computes with, so a folder re-saved in another layout
 * (sharded, or F32 holding the same BF16 values) keeps its fingerprint, and
 * the base dtype a run holds it in plays no part. A weight kept in its
 * F16 / BF16 patterns (core/half-tensor.ts) is hashed by its float32 values
 * a block at a time (xxh32 streams): the same bytes, without a float32 copy
 * of the matrix. */
function baseFingerprint(spec: HfModelSpec, weights: TensorMap): string {
  if (!LITTLE_ENDIAN) throw new Error('big-endian hosts are not supported');
  const h = new Xxh32(0x6d63636b);
  const enc = new TextEncoder();
  h.update(enc.encode(JSON.stringify(spec)));
  let n = 0;
  for (const [name, shape] of paramShapes(studentConfig(spec))) {
    const t = weights[name];
    h.update(enc.encode(`${name}[${shape.join(',')}]`));
    if (isHalfTensor(t)) {
      const count = t.bits.length;
      for (let at = 0; at < count; at += FINGERPRINT_BLOCK) {
        const len = Math.min(FINGERPRINT_BLOCK, count - at);
        decodeHalf(t, at, block.subarray(0, len));
        h.update(blockBytes.subarray(0, len * 4));
      }
      n += count;
      continue;
    }
    const data = t.data;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    n += data.length;
  }
  return `${h.hex()}-${n}`;
}

/** The end token(s): generation_config.json's eos_token_id wins over
 * config.json's (chat models list several there). */
function eosOf(folder: HfFolder): number[] {
  const g = folder.generationConfig as { eos_token_id?: unknown } | undefined;
  const e = g?.eos_token_id;
  const ids = e === undefined || e === null ? [] : Array.isArray(e) ? e : [e];
  if (ids.length && ids.every((x) => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) < folder.spec.vocabSize))
    return ids as number[];
  return folder.spec.eosTokenIds;
}

/** Reads a folder into a student; refuses a folder without tokenizer.json
 * (the student could neither read questions nor write rationales). */
export async function loadStudent(src: FolderSource, name: string): Promise<{ student: PretrainedStudent; folder: HfFolder }> {
  const folder = await readHfFolder(src);
  if (folder.tokenizerJson === undefined)
    throw new HfConfigError('tokenizer.json is missing: the model folder must hold the tokenizer the model was trained with');
  const eos = eosOf(folder);
  const tokenizer = HfTokenizer.fromJSON(folder.tokenizerJson, {
    tokenizerConfig: folder.tokenizerConfig,
    ...(eos.length ? { eosTokenId: eos } : {}),
  });
  if (tokenizer.vocabSize > folder.spec.vocabSize) {
    throw new HfConfigError(
      `tokenizer.json has ${tokenizer.vocabSize} tokens but config.json's vocab_size is ${folder.spec.vocabSize}: ids would fall outside the embedding`,
    );
  }
  const modelConfig = studentConfig(folder.spec);
  return {
    student: {
      modelConfig,
      weights: folder.weights,
      tokenizer,
      base: { arch: folder.spec.arch, name, fingerprint: baseFingerprint(folder.spec, folder.weights) },
    },
    folder,
  };
}
