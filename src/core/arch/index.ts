// The registry: every model family we can train, one entry each. A new
// family is one module beside these (an ArchFamily, see family.ts) and one
// entry in FAMILIES; nothing else compares architecture names.

import type { ModelConfig } from '../records';
import type { ArchFamily } from './family';
import { GEMMA3 } from './gemma3';
import { GPT2 } from './gpt2';
import { LLAMA } from './llama';
import { QWEN2 } from './qwen2';
import { QWEN3 } from './qwen3';

export const FAMILIES = [GPT2, LLAMA, QWEN2, QWEN3, GEMMA3] as const;

/** A family's id as stored in ModelConfig.arch. */
export type Arch = (typeof FAMILIES)[number]['name'];

/** The family of a config written without `arch` (every checkpoint before
 * pretrained students): our from-scratch student. */
export const DEFAULT_ARCH: Arch = GPT2.name;

export const ARCH_NAMES: readonly Arch[] = FAMILIES.map((f) => f.name);

export const isArch = (x: unknown): x is Arch => typeof x === 'string' && (ARCH_NAMES as readonly string[]).includes(x);

export const archOf = (c: Pick<ModelConfig, 'arch'>): Arch => c.arch ?? DEFAULT_ARCH;

/** The family by id (an unknown id is a bug: configs are checked on entry). */
export function family(arch: Arch): ArchFamily<Arch> {
  const f = FAMILIES.find((x) => x.name === arch);
  if (!f) throw new Error(`unknown architecture ${JSON.stringify(arch)}`);
  return f;
}

export const familyOf = (c: Pick<ModelConfig, 'arch'>): ArchFamily<Arch> => family(archOf(c));

/** The family for config.json's "architectures" entry, if we have it. */
export const familyByHf = (hfArchitecture: string): ArchFamily<Arch> | undefined =>
  FAMILIES.find((f) => f.hfArchitecture === hfArchitecture);

export type { ArchFamily } from './family';
