// The worker's state machine (src/worker/state.ts): the allowed moves, the
// refused ones with an error naming both states, and the machine the worker
// owns (pause, resume, stop, an evaluation of a paused run).
import { describe, expect, it } from 'vitest';
import { RunControl } from '../../src/worker/control';
import { transition, TransitionError, TRANSITIONS, WorkerMachine, type Phase, type WorkerState } from '../../src/worker/state';

const c = new RunControl();
const states: Record<Phase, WorkerState> = {
  idle: { phase: 'idle' },
  training: { phase: 'training', control: c },
  comparing: { phase: 'comparing', control: c },
  classroom: { phase: 'classroom', control: c },
  paused: { phase: 'paused', run: 'training', control: c },
  evaluating: { phase: 'evaluating', from: { phase: 'idle' } },
};

describe('transitions', () => {
  it('allows the table and refuses the rest, naming both states', () => {
    const phases = Object.keys(states) as Phase[];
    let refused = 0;
    for (const from of phases) {
      for (const to of phases) {
        const ok = TRANSITIONS[from].includes(to);
        if (ok) {
          // a paused comparison resumes as a comparison only (checked below)
          if (from === 'paused' && (to === 'comparing' || to === 'classroom')) continue;
          expect(transition(states[from], states[to]), `${from} -> ${to}`).toBe(states[to]);
        } else {
          refused++;
          expect(() => transition(states[from], states[to]), `${from} -> ${to}`).toThrow(TransitionError);
        }
      }
    }
    expect(refused).toBeGreaterThan(15);
    expect(() => transition(states.training, states.comparing)).toThrow('cannot go from training to comparing');
    expect(() => transition(states.classroom, states.training)).toThrow('cannot go from running the classroom demo to training');
  });

  it('a paused run resumes as itself; only a paused training run is evaluated', () => {
    const pausedCompare: WorkerState = { phase: 'paused', run: 'comparing', control: c };
    expect(() => transition(pausedCompare, states.training)).toThrow('cannot go from comparing (paused) to training');
    expect(transition(pausedCompare, states.comparing)).toBe(states.comparing);
    // a new run of the same kind does not take the paused one's place
    expect(() => transition(states.paused, { phase: 'training', control: new RunControl() })).toThrow(
      'cannot go from training (paused) to training',
    );
    expect(() => transition(pausedCompare, states.evaluating)).toThrow('cannot go from comparing (paused) to evaluating');
    expect(transition(states.paused, states.evaluating)).toBe(states.evaluating);
  });
});

describe('the machine', () => {
  it('runs one thing at a time: pause, resume, stop, back to idle', () => {
    const m = new WorkerMachine();
    const control = new RunControl();
    m.to({ phase: 'training', control });
    expect(() => m.assertIdle('load a model')).toThrow('cannot load a model while training; stop it first');
    expect(() => m.to({ phase: 'comparing', control: new RunControl() })).toThrow(TransitionError);
    m.pause();
    expect(m.state).toEqual({ phase: 'paused', run: 'training', control });
    expect(control.paused).toBe(true);
    m.resume();
    expect(m.state.phase).toBe('training');
    expect(control.paused).toBe(false);
    m.stop();
    expect(control.signal.aborted).toBe(true);
    m.pause(); // a run being stopped does not pause
    expect(m.state.phase).toBe('training');
    m.endRun(new RunControl()); // another run's end changes nothing
    expect(m.state.phase).toBe('training');
    m.endRun(control);
    expect(m.state).toEqual({ phase: 'idle' });
  });

  it('an evaluation of a paused run returns to it; a stop meanwhile ends both', () => {
    const m = new WorkerMachine();
    const control = new RunControl();
    m.to({ phase: 'training', control });
    m.pause();
    const ev = m.startEvaluation();
    expect(m.state.phase).toBe('evaluating');
    expect(m.control).toBe(control);
    expect(() => m.resume()).toThrow('cannot go from evaluating to training');
    expect(() => m.startEvaluation()).toThrow('cannot go from evaluating to evaluating');
    ev.end();
    expect(m.state).toEqual({ phase: 'paused', run: 'training', control });

    const abort = new AbortController();
    const untrack = m.trackEvaluation(abort);
    const again = m.startEvaluation();
    m.stop();
    expect(abort.signal.aborted).toBe(true);
    m.endRun(control); // the stopped run ends while its evaluation finishes
    expect(m.state).toEqual({ phase: 'idle' });
    again.end(); // nothing to go back to
    untrack();
    expect(m.state).toEqual({ phase: 'idle' });
  });
});
