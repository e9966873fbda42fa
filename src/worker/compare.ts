// Comparison: MCC-KD (the settings' alpha) and the alpha = 0 baseline,
// trained on the same data with the same seed, one after the other.

import { curationOf, prepareTrainConfig, type TrainConfig } from '../core/config';
import type { CompareResult, EvalOptions, EvalResultView, RunLabel, TrainListener } from '../shared/protocol';
import { errMsg } from './control';
import { dataFor, disposeLive, session } from './session';
import { announce, createTrainer, emitter, evaluateLive, exclusive, loop } from './runs';

/** Trains MCC-KD (the settings' alpha) and the baseline (alpha = 0) on the
 * same data and seed, one after the other, and evaluates both. The MCC-KD
 * model stays loaded afterwards. */
export function compare(input: Partial<TrainConfig>, evalOpts: EvalOptions, listener: TrainListener): Promise<CompareResult> {
  const emit = emitter(listener);
  return exclusive('comparing', async (control) => {
    const data = await dataFor(curationOf(input));
    const base = prepareTrainConfig(input, data.groups.length);
    if (base.alpha === 0) throw new Error('set alpha above 0 to compare MCC-KD with the alpha = 0 baseline');
    const runs: [RunLabel, TrainConfig][] = [
      ['mcckd', base],
      ['baseline', { ...base, alpha: 0 }],
    ];
    const out: Partial<CompareResult> = {};
    disposeLive();
    for (const [label, config] of runs) {
      if (control.signal.aborted) break;
      const { live, createMs } = await createTrainer(label, data, config, emit);
      announce(emit, live, createMs, 0);
      const result = await loop(live, control, emit, { autosaveEvery: 0 });
      let ev: EvalResultView | undefined;
      if (!control.signal.aborted) {
        try {
          ev = await evaluateLive(live, evalOpts, (done, total) => emit({ type: 'eval', label, done, total }));
          emit({ type: 'eval', label, done: ev.total, total: ev.total, result: ev });
        } catch (e) {
          emit({ type: 'note', label, level: 'error', message: `evaluation skipped: ${errMsg(e)}` });
        }
      }
      out[label as 'mcckd' | 'baseline'] = { result, eval: ev };
      if (label === 'mcckd') session.live = live;
      else live.trainer.dispose();
    }
    const empty = (label: RunLabel): CompareResult['mcckd'] => ({ result: { label, status: 'stopped', step: 0, totalSteps: base.steps, metrics: [] } });
    return { mcckd: out.mcckd ?? empty('mcckd'), baseline: out.baseline ?? empty('baseline') };
  });
}
