// The memory plan of the picked student on this GPU, for the Student step.
// Filled in with the planner (src/core/plan.ts) and the device's limits.

import type { ModelConfig } from '../core/config';
import type { StudentSummary } from '../shared/protocol';

/** Nothing yet: the plan field stays empty until the planner is wired. */
export function studentPlan(_c: ModelConfig): Partial<Pick<StudentSummary, 'plan'>> {
  return {};
}
