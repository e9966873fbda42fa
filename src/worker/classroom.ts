// The classroom demo: one button trains a small model on the demo data and
// shows, for one question, the answer distributions after two rationales.

import { answerDistributions } from '../core/answer-distributions';
import { curationOf, prepareTrainConfig, type TrainConfig } from '../core/config';
import type { QuestionGroup } from '../data/types';
import type { AccuracyCheck, RunResult, TrainListener } from './protocol';
import { dataFor, disposeLive, readTeacher, type Session } from './session';
import { announce, createTrainer, emitter, exclusive, loop } from './runs';

/** The question the classroom demo shows: two rationales that read
 * differently, kept short enough to show on a slide. */
function classroomGroup(groups: QuestionGroup[]): QuestionGroup {
  const candidates = groups.filter((g) => g.rationales.length >= 2 && g.rationales[0].text !== g.rationales[1].text);
  if (candidates.length === 0) throw new Error('the demo data has no question with two different rationales');
  const length = (g: QuestionGroup): number => g.question.length + g.rationales[0].text.length + g.rationales[1].text.length;
  return candidates.reduce((a, b) => (length(b) < length(a) ? b : a));
}

/** One button: train a small model on the demo data and show, for one
 * question, the answer distributions after two rationales as they converge. */
export function classroom(
  session: Session,
  input: Partial<TrainConfig>,
  listener: TrainListener,
  accuracy?: AccuracyCheck,
): Promise<RunResult> {
  const emit = emitter(listener);
  return exclusive(session, 'classroom', async (control) => {
    const curation = curationOf(input);
    emit({ type: 'status', label: 'classroom', status: 'preparing', step: 0, message: 'loading the demo data' });
    if (session.data?.source.kind !== 'demo') session.data = await readTeacher({ kind: 'demo' }, curation);
    const data = await dataFor(session, curation);
    const config = prepareTrainConfig(input, data.groups.length);
    const group = classroomGroup(data.groups);
    disposeLive(session);
    const { live, createMs } = await createTrainer(session, 'classroom', data, config, emit);
    session.live = live;
    announce(session, emit, live, createMs, 0);
    const show = async (step: number): Promise<void> => {
      const d = await session.gpu.run(() => answerDistributions(live.trainer.model, live.trainer.trainConfig.temperature, group, 0, 1, 5));
      emit({
        type: 'dist',
        label: 'classroom',
        step,
        question: group.question,
        rationales: [group.rationales[0].text, group.rationales[1].text],
        tokens: d.tokens,
        p: d.p,
        q: d.q,
        kl: d.kl,
        answer: group.answer,
        correct: d.correct,
        overlap: d.overlap,
        span: d.span,
      });
    };
    await show(0);
    const every = Math.max(1, Math.round(config.steps / 40));
    return loop(session, live, control, emit, { autosaveEvery: 0, accuracy }, { every, fn: show });
  });
}
