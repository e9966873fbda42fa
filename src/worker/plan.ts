// The memory plan of a pretrained student on this GPU: shown in the Student
// step, and checked before a run allocates it (on WebGPU a step over the
// device's limits would compute wrong numbers without an error).

import { DEFAULT_TRAIN, type ModelConfig, type TrainConfig } from '../core/config';
import { gpuLimits } from '../core/limits';
import { longestExample } from '../core/trainer';
import type { StudentTokenizer } from '../core/tokenizer';
import type { QuestionGroup } from '../data/types';
import type { StudentSummary } from './protocol';
import { describePlan } from '../core/plan';

/** The plan of one step of `c` at the settings' batch over the data's
 * longest example, against this device's limits. */
export function studentPlan(c: ModelConfig, tok: StudentTokenizer, groups: QuestionGroup[] | undefined, t: Partial<TrainConfig> = {}): Required<Pick<StudentSummary, 'plan'>> {
  const batch = t.batchSize ?? DEFAULT_TRAIN.batchSize;
  // without data yet: a typical rationale's length
  const seqLen = groups?.length ? longestExample(tok, groups, c.blockSize, t.k ?? DEFAULT_TRAIN.k, t.promptTemplate) : Math.min(256, c.blockSize);
  const p = describePlan(c, { rows: 2 * batch, seqLen, limits: gpuLimits(), recompute: t.recompute === true });
  const basis = `${batch} questions a step, ${seqLen} tokens (${groups?.length ? 'the longest example of the loaded data' : 'no data loaded yet: 256 assumed'})`;
  return { plan: { text: `${basis}\n${p.text}`, fits: p.fits, reasons: p.reasons } };
}
