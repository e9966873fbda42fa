// The memory plan of a pretrained student on this GPU: shown in the Student
// step, and checked before a run allocates it (on WebGPU a step over the
// device's limits would compute wrong numbers without an error).

import { DEFAULT_TRAIN, type ModelConfig, type TrainConfig } from '../core/config';
import { gpuLimits } from '../core/limits';
import { encodeGroups } from '../core/trainer';
import type { StudentTokenizer } from '../core/tokenizer';
import type { QuestionGroup } from '../data/types';
import type { StudentSummary } from '../shared/protocol';
import { describePlan } from '../core/plan';

/** Tokens of the longest example of `groups` that fits (256 without data). */
function longest(tok: StudentTokenizer, c: ModelConfig, groups: QuestionGroup[] | undefined, t: Partial<TrainConfig>): number {
  if (!groups?.length) return Math.min(256, c.blockSize);
  let n = 1;
  for (const g of encodeGroups(tok, groups, c.blockSize, t.k ?? DEFAULT_TRAIN.k, t.promptTemplate).groups) for (const r of g.rationales) n = Math.max(n, r.ids.length - 1);
  return n;
}

/** The plan of one step of `c` at the settings' batch over the data's
 * longest example, against this device's limits. */
export function studentPlan(c: ModelConfig, tok: StudentTokenizer, groups: QuestionGroup[] | undefined, t: Partial<TrainConfig> = {}): Required<Pick<StudentSummary, 'plan'>> {
  const batch = t.batchSize ?? DEFAULT_TRAIN.batchSize;
  const seqLen = longest(tok, c, groups, t);
  const p = describePlan(c, { rows: 2 * batch, seqLen, limits: gpuLimits(), recompute: t.recompute === true });
  const basis = `${batch} questions a step, ${seqLen} tokens (${groups?.length ? 'the longest example of the loaded data' : 'no data loaded yet: 256 assumed'})`;
  return { plan: { text: `${basis}\n${p.text}`, fits: p.fits, reasons: p.reasons } };
}
