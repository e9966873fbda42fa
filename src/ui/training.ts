// Training controls and live progress: start, pause, resume, stop; step,
// epoch, time left; charts of CE, KL and total loss, learning rate and
// tokens per second. Events from the worker only update a model object; the
// DOM is written once per animation frame.

import { baseDtypeNote } from '../core/base-dtype-choice';
import { accuracyEvery } from '../core/run-settings';
import type { AccuracyCheck, AccuracyPoint, RunInfo, RunStatus, TrainEvent } from '../worker/protocol';
import { LiveChart } from './charts';
import { formatDuration, formatNumber, formatPercent, h, nextId, perFrame, progressBar } from './dom';

/** What the page's training controls allow: not a run's status (RunStatus)
 * but the page's own state, which also covers work that is no run (loading a
 * checkpoint, an evaluation: 'busy'). phaseFor relates the two. */
type Phase = 'idle' | 'busy' | 'running' | 'paused';

/** The controls' phase while a run reports `s`; undefined for the statuses
 * that end a run (the page goes idle when the call returns or fails). */
export function phaseFor(s: RunStatus): Phase | undefined {
  switch (s) {
    case 'preparing':
      return 'busy';
    case 'running':
      return 'running';
    case 'paused':
      return 'paused';
    case 'stopped':
    case 'done':
    case 'failed':
      return undefined;
  }
}

interface TrainingHandlers {
  start(): void;
  pause(): void;
  resume(): void;
  stop(): void;
  continueRun(): void;
  /** Trains a finished run `more` steps further, in the same run. */
  trainMore(more: number): void;
  save(): void;
}

/** The most steps one "Train N more steps" adds (the settings' own limit is 1e7;
 * this is a field typed into, where a slip of the finger adds a zero). */
const MAX_MORE_STEPS = 100_000;

/** The steps to add as typed, or undefined when not a whole number in range. */
export function moreStepsOf(text: string): number | undefined {
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isInteger(n) && n >= 1 && n <= MAX_MORE_STEPS ? n : undefined;
}

const LABELS: Record<string, string> = {
  main: 'Training',
  mcckd: 'Comparison: MCC-KD run',
  baseline: 'Comparison: baseline run (α = 0)',
  classroom: 'Classroom demo',
};

/** When a run from `startStep` to `totalSteps` checks its accuracy first, in
 * words, for the chart that is empty until then (run-settings.ts's cadence:
 * every N steps, and at the last step of a run longer than N). */
export function firstCheckText(check: AccuracyCheck | undefined, startStep: number, totalSteps: number): string {
  const every = check ? accuracyEvery(check.every, totalSteps) : 0;
  if (every <= 0) return 'Accuracy checks are off (Settings: “Check accuracy every”).';
  const next = (Math.floor(startStep / every) + 1) * every;
  if (next <= totalSteps) return `First accuracy check after step ${next} (every ${every} steps).`;
  if (totalSteps > every && startStep < totalSteps) return `First accuracy check after the last step, ${totalSteps}.`;
  return `No accuracy check in this run: it checks every ${every} steps and ends at step ${totalSteps}. Evaluate the model in step 6, or check more often in Settings.`;
}

/** Accuracy checks while training, in percent on a fixed 0-100 axis: a
 * climb from 0 to 6% must not look like one from 0 to 100%. */
export function accuracyChart(o: { testid?: string; fontSize?: number; height?: number } = {}): LiveChart {
  return new LiveChart({
    title: 'Accuracy on held-out questions (greedy answers, checked every few steps)',
    testid: o.testid ?? 'chart-accuracy',
    height: o.height ?? 180,
    fontSize: o.fontSize,
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    points: true,
    series: [{ label: 'accuracy (%)', stroke: 'var(--chart-acc)', width: 2 }],
  });
}

export class TrainingView {
  readonly el: HTMLElement;
  // CE is drawn first and wide, the total thin on top of it: with a small α
  // the two nearly coincide, and the total must not vanish under CE.
  readonly lossChart = new LiveChart({
    title: 'Loss',
    testid: 'chart-loss',
    yLabel: 'CE and total (nats/token)',
    rightLabel: 'KL (nats)',
    series: [
      { label: 'CE', stroke: 'var(--chart-ce)', width: 5 },
      { label: 'KL (right axis)', stroke: 'var(--chart-kl)', dash: [6, 4], right: true },
      { label: 'total', stroke: 'var(--chart-total)', width: 2 },
    ],
  });
  readonly accuracyChart = accuracyChart();
  readonly lrChart = new LiveChart({
    title: 'Learning rate',
    testid: 'chart-lr',
    height: 160,
    yLabel: 'learning rate',
    series: [{ label: 'lr', stroke: 'var(--chart-lr)' }],
  });
  readonly speedChart = new LiveChart({
    title: 'Tokens per second',
    testid: 'chart-speed',
    height: 160,
    yLabel: 'tokens/s',
    series: [{ label: 'tokens/s', stroke: 'var(--chart-speed)' }],
  });

  private readonly buttons: Record<'start' | 'pause' | 'resume' | 'stop' | 'continue' | 'save', HTMLButtonElement>;
  /** "Train N more steps" on a finished run: the N, and its button. */
  private readonly moreInput: HTMLInputElement;
  private readonly moreButton: HTMLButtonElement;
  private readonly progress = progressBar('Progress', 'train-progress');
  private readonly out = {
    run: h('span', { testid: 'train-run', text: '–' }),
    status: h('span', { testid: 'train-status', text: 'not started' }),
    step: h('span', { testid: 'train-step', text: '0' }),
    epoch: h('span', { testid: 'train-epoch', text: '–' }),
    eta: h('span', { testid: 'train-eta', text: '–' }),
    loss: h('span', { testid: 'train-loss', text: '–' }),
    ce: h('span', { testid: 'train-ce', text: '–' }),
    kl: h('span', { testid: 'train-kl', text: '–' }),
    speed: h('span', { testid: 'train-speed', text: '–' }),
    accuracy: h('span', { testid: 'train-accuracy', text: '–' }),
    model: h('span', { testid: 'train-model', text: '–' }),
  };
  /** Why Start is off, when it is: a greyed-out button alone says nothing. */
  private readonly why = h('p', { class: 'why muted', testid: 'train-why', attrs: { id: 'train-why' } });
  private readonly notes = h('ul', { class: 'notes', testid: 'train-notes', attrs: { 'aria-live': 'polite' } });

  // Latest state, drawn on the next frame.
  private state = {
    label: 'main',
    status: '',
    step: 0,
    total: 0,
    epoch: undefined as number | undefined,
    etaMs: undefined as number | undefined,
    loss: undefined as number | undefined,
    ce: undefined as number | undefined,
    kl: undefined as number | undefined,
    speed: undefined as number | undefined,
  };
  private readonly schedule = perFrame(() => this.render());
  /** The accuracy checks the next run was asked for (the settings'). */
  private accuracyCheck: AccuracyCheck | undefined;
  private phase: Phase = 'idle';
  private hasData = false;
  private canContinue = false;
  /** The main run in memory has trained all its steps. */
  private canExtend = false;
  private evaluating = false;
  private modelLoaded = false;

  constructor(handlers: TrainingHandlers) {
    const button = (text: string, testid: string, fn: () => void, cls = ''): HTMLButtonElement =>
      h('button', { text, testid, class: cls, attrs: { type: 'button' }, on: { click: fn } });
    this.buttons = {
      start: button('Start training', 'train-start', handlers.start, 'primary'),
      // The worker pauses or stops between steps, which on a slow GPU can
      // be many seconds away: say so at once, and take the button away so a
      // second press doesn't look ignored.
      pause: button('Pause', 'train-pause', () => this.request('pause', handlers.pause)),
      resume: button('Resume', 'train-resume', handlers.resume),
      stop: button('Stop', 'train-stop', () => this.request('stop', handlers.stop)),
      continue: button('Continue', 'train-continue', handlers.continueRun),
      save: button('Save checkpoint', 'checkpoint-save', handlers.save, 'secondary'),
    };
    const moreId = nextId('train-more-steps');
    this.moreInput = h('input', {
      testid: 'train-more-steps',
      attrs: { id: moreId, type: 'number', min: 1, max: MAX_MORE_STEPS, step: 1, value: 20, inputmode: 'numeric' },
      on: { input: () => this.refreshButtons() },
    });
    this.moreButton = button('Train 20 more steps', 'train-more', () => {
      const n = moreStepsOf(this.moreInput.value);
      if (n !== undefined) handlers.trainMore(n);
    });
    const o = this.out;
    const stat = (label: string, value: HTMLElement): HTMLElement =>
      h('div', { class: 'stat' }, h('span', { class: 'stat-label', text: label }), value);
    this.el = h(
      'div',
      { class: 'training' },
      h('div', { class: 'buttons', attrs: { role: 'group', 'aria-label': 'Training controls' } }, ...Object.values(this.buttons)),
      h(
        'div',
        { class: 'buttons train-more', attrs: { role: 'group', 'aria-label': 'Train a finished run further' } },
        h('label', { attrs: { for: moreId }, text: 'Steps to add' }),
        this.moreInput,
        this.moreButton,
      ),
      this.why,
      this.progress.el,
      h(
        'div',
        { class: 'stats' },
        stat('Run', o.run),
        stat('Status', o.status),
        stat('Step', o.step),
        stat('Epoch', o.epoch),
        stat('Time left', o.eta),
        stat('Loss', o.loss),
        stat('CE', o.ce),
        stat('KL', o.kl),
        stat('Tokens/s', o.speed),
        stat('Accuracy', o.accuracy),
        stat('Model', o.model),
      ),
      h(
        'p',
        { class: 'muted explain' },
        'Loss = CE + α × KL. ',
        h('strong', { text: 'CE' }),
        ' (cross-entropy): how badly the student predicts the teacher’s rationales; it falls as the student learns them. ',
        h('strong', { text: 'KL' }),
        ': how much the student’s answers disagree after two different rationales of the same question; MCC-KD pulls it down.',
      ),
      h(
        'div',
        { class: 'charts' },
        h('div', { class: 'charts-main' }, this.lossChart.el, this.accuracyChart.el),
        h('div', { class: 'charts-small' }, this.lrChart.el, this.speedChart.el),
      ),
      this.notes,
    );
    this.refreshButtons();
  }

  setHasData(v: boolean): void {
    this.hasData = v;
    this.refreshButtons();
  }

  setPhase(p: Phase, canContinue = this.canContinue): void {
    this.phase = p;
    if (p === 'idle' || p === 'paused') this.pending = undefined;
    if (p === 'idle') this.awaitingFirstStep = false;
    this.schedule();
    this.canContinue = canContinue;
    this.refreshButtons();
  }

  /** The accuracy checks asked for with the run about to start. */
  expectAccuracy(check: AccuracyCheck | undefined): void {
    this.accuracyCheck = check;
  }

  /** Whether the model in memory is a finished run of the Training step
   * (not a comparison's or the classroom's), which "Train N more steps" extends. */
  setCanExtend(v: boolean): void {
    this.canExtend = v;
    this.refreshButtons();
  }

  get currentPhase(): Phase {
    return this.phase;
  }

  /** An evaluation of the paused run's model is in progress: the worker
   * resumes the run only after it (src/worker/state.ts). */
  setEvaluating(on: boolean): void {
    this.evaluating = on;
    this.refreshButtons();
  }

  private refreshButtons(): void {
    const b = this.buttons;
    const p = this.phase;
    b.start.disabled = p !== 'idle' || !this.hasData;
    b.pause.disabled = p !== 'running' || this.pending !== undefined;
    b.resume.disabled = p !== 'paused' || this.evaluating;
    b.stop.disabled = (p !== 'running' && p !== 'paused') || this.pending === 'stop';
    b.continue.disabled = p !== 'idle' || !this.canContinue;
    b.save.disabled = !this.modelLoaded || (p !== 'idle' && p !== 'paused');
    const more = moreStepsOf(this.moreInput.value);
    this.moreButton.textContent = `Train ${more ?? 'N'} more steps`;
    this.moreButton.disabled = p !== 'idle' || !this.canExtend || !this.modelLoaded || more === undefined;
    this.moreInput.disabled = p !== 'idle' || !this.canExtend || !this.modelLoaded;
    this.moreInput.setAttribute('aria-invalid', String(more === undefined));
    let why = p === 'idle' && !this.hasData ? 'Start needs training data: load a teacher file or press “Use demo data” in step 1.' : '';
    if (p === 'idle' && this.canExtend && more === undefined)
      why = `Steps to add: a whole number from 1 to ${MAX_MORE_STEPS.toLocaleString('en')}.`;
    this.why.textContent = why;
    this.why.hidden = why === '';
    if (why) b.start.setAttribute('aria-describedby', 'train-why');
    else b.start.removeAttribute('aria-describedby');
  }

  setModelLoaded(v: boolean): void {
    this.modelLoaded = v;
    this.refreshButtons();
  }

  /** A pause or stop asked for and not yet done by the worker. */
  private pending: 'pause' | 'stop' | undefined;
  /** The run has not finished a step yet: its first one compiles the GPU
   * programs, which takes seconds to minutes with nothing else to show. */
  private awaitingFirstStep = false;
  private gpu = false;

  private request(what: 'pause' | 'stop', fn: () => void): void {
    this.pending = what;
    this.refreshButtons();
    this.render();
    fn();
  }

  private noteSeq = 0;
  private hasFailed = false;

  note(message: string, level: 'info' | 'error' = 'info'): void {
    this.noteSeq += 1;
    this.notes.prepend(
      h('li', { class: level, text: `${new Date().toLocaleTimeString()}: ${message}`, attrs: { 'data-seq': this.noteSeq } }),
    );
    while (this.notes.children.length > 8) this.notes.lastElementChild?.remove();
  }

  /** The current run's logged losses, as [step, loss] pairs, on the loss
   * readout's data-history attribute (for tests and tools; the chart has
   * the same numbers). */
  private history: [number, number][] = [];
  /** The current run's accuracy checks (the readout's data-points). */
  private accuracy: AccuracyPoint[] = [];
  private accuracySource = '';

  private addAccuracy(p: AccuracyPoint): void {
    // a step checked again (training again after a lost GPU) replaces the old point
    this.accuracy = this.accuracy
      .filter((q) => q.step < p.step)
      .concat({ step: p.step, accuracy: p.accuracy, correct: p.correct, total: p.total });
    this.accuracyChart.push(p.step, [100 * p.accuracy]);
  }

  private startRun(info: RunInfo): void {
    const c = info.modelConfig;
    this.history = info.history.map((m) => [m.step, m.loss]);
    this.lossChart.reset();
    this.lrChart.reset();
    this.speedChart.reset();
    this.accuracyChart.reset();
    this.accuracy = [];
    for (const m of info.history) this.plot(m);
    for (const p of info.accuracyHistory ?? []) this.addAccuracy(p);
    this.accuracyChart.setEmptyText(info.label === 'main' ? firstCheckText(this.accuracyCheck, info.startStep, info.totalSteps) : '');
    // The epoch is not known until the first step reports it: '–', not a
    // stale or zero value.
    this.state = { ...this.state, label: info.label, step: info.startStep, total: info.totalSteps, epoch: undefined, etaMs: undefined };
    for (const chart of [this.lossChart, this.accuracyChart, this.lrChart, this.speedChart])
      chart.setSteps(info.startStep, info.totalSteps);
    this.awaitingFirstStep = info.startStep < info.totalSteps;
    this.gpu = info.backend.backend === 'webgpu' || info.backend.backend === 'webgl';
    this.progress.begin();
    this.out.model.textContent = `${info.trainConfig.preset}, ${(info.params / 1e6).toFixed(2)}M params, ${c.nLayer}×${c.nEmbd}, vocab ${c.vocabSize}, α=${info.trainConfig.alpha}`;
    const last = info.history[info.history.length - 1];
    if (last) Object.assign(this.state, { loss: last.loss, ce: last.ce, kl: last.kl, speed: last.tokensPerSecond });
    if (info.startStep >= info.totalSteps)
      this.note(
        `${LABELS[info.label] ?? info.label}: this run has trained all its ${info.totalSteps} steps; train it further with “Train N more steps”, evaluate or export it`,
      );
    if (info.createMs > 0) {
      // a pretrained student's base as built (the CLI's ", base f16")
      const base = info.baseDtype ? `, ${baseDtypeNote(info.baseDtype, !!c.lora)}` : '';
      this.note(`${LABELS[info.label] ?? info.label}: model ready in ${formatDuration(info.createMs)} on ${info.backend.backend}${base}`);
    }
    this.schedule();
  }

  private plot(m: { step: number; loss: number; ce: number; kl: number; lr: number; tokensPerSecond: number }): void {
    this.lossChart.push(m.step, [m.ce, m.kl, m.loss]);
    this.lrChart.push(m.step, [m.lr]);
    this.speedChart.push(m.step, [m.tokensPerSecond]);
  }

  handle(e: TrainEvent): void {
    switch (e.type) {
      case 'start':
        this.startRun(e.info);
        return;
      case 'status':
        if (this.hasFailed) return;
        this.state.status = e.message ? `${e.status}: ${e.message}` : e.status;
        this.state.label = e.label;
        if (e.status !== 'running' && e.status !== 'preparing') this.pending = undefined;
        this.onStatus(e.status);
        this.schedule();
        return;
      case 'step':
        this.awaitingFirstStep = false;
        Object.assign(this.state, { step: e.step, total: e.totalSteps, epoch: e.epoch, etaMs: e.etaMs });
        if (e.metrics) {
          Object.assign(this.state, { loss: e.metrics.loss, ce: e.metrics.ce, kl: e.metrics.kl, speed: e.metrics.tokensPerSecond });
          this.plot(e.metrics);
          this.history.push([e.metrics.step, e.metrics.loss]);
          if (this.history.length > 500) this.history.shift();
        }
        this.schedule();
        return;
      case 'accuracy':
        this.accuracySource = e.source === 'eval-file' ? 'evaluation file' : 'dev split';
        this.addAccuracy(e);
        this.schedule();
        return;
      case 'checkpoint':
        // a run's last step is saved as a 'stop' checkpoint (core/run-status.ts): it is no stop to the user
        this.note(
          e.checkpoint.kind === 'stop' && this.state.total > 0 && e.checkpoint.step >= this.state.total
            ? `final checkpoint saved at step ${e.checkpoint.step}`
            : `checkpoint saved at step ${e.checkpoint.step} (${e.checkpoint.kind})`,
        );
        return;
      case 'note':
        this.note(e.message, e.level);
        return;
      default:
        return;
    }
  }

  /** A run is being asked for (training, comparison, classroom). */
  begin(): void {
    this.hasFailed = false;
    this.pending = undefined;
    this.awaitingFirstStep = true;
    // Shown in the same frame as the click: the worker's first word can be
    // a while away when it is busy setting up a backend.
    this.state.status = 'starting…';
    this.progress.begin();
    this.progress.wait('starting…');
    this.setPhase('busy');
    this.render();
  }

  /** The run ended with an error (the banner has it too): the status must
   * not go on saying "running", nor be overwritten by a late status event
   * of the failed run (events come through their own message port). */
  failed(message: string): void {
    this.hasFailed = true;
    this.pending = undefined;
    this.awaitingFirstStep = false;
    this.state.status = `failed: ${message}`;
    this.schedule();
  }

  private onStatus(s: RunStatus): void {
    const p = phaseFor(s);
    if (p) this.setPhase(p);
  }

  /** What the status line says: the worker's status, or what the page is
   * waiting for when that is more telling. */
  private statusText(): string {
    const s = this.state;
    if (this.hasFailed) return s.status;
    if (this.pending === 'pause') return 'pausing… (after the current step)';
    if (this.pending === 'stop') return 'stopping… (after the current step)';
    if (s.status === 'running' && this.awaitingFirstStep) return `running: first step${this.gpu ? ' (compiling GPU programs)' : ''}…`;
    return s.status || '–';
  }

  private etaText(): string {
    const s = this.state;
    if (s.total > 0 && s.step >= s.total) return 'done';
    // The estimate is of training time: it stands still while paused.
    if (this.phase === 'paused') return s.etaMs === undefined ? 'paused' : `${formatDuration(s.etaMs)} (paused)`;
    if (s.etaMs === undefined && (this.phase === 'running' || this.phase === 'busy') && !this.hasFailed) return 'estimating…';
    return formatDuration(s.etaMs);
  }

  private render(): void {
    const s = this.state;
    const o = this.out;
    o.run.textContent = LABELS[s.label] ?? s.label;
    o.status.textContent = this.statusText();
    o.step.textContent = s.total ? `${s.step} / ${s.total}` : String(s.step);
    o.epoch.textContent = s.total ? formatNumber(s.epoch, 3) : '–';
    o.eta.textContent = this.etaText();
    o.loss.textContent = formatNumber(s.loss);
    o.loss.dataset.history = JSON.stringify(this.history);
    o.ce.textContent = formatNumber(s.ce);
    o.kl.textContent = formatNumber(s.kl);
    o.speed.textContent = formatNumber(s.speed, 3);
    const a = this.accuracy[this.accuracy.length - 1];
    o.accuracy.textContent = a ? `${formatPercent(a.accuracy)} (${a.correct} of ${a.total}) at step ${a.step}` : '–';
    o.accuracy.title = a && this.accuracySource ? `greedy answers to the first ${a.total} questions of the ${this.accuracySource}` : '';
    o.accuracy.dataset.points = JSON.stringify(this.accuracy);
    const waiting = this.awaitingFirstStep && !this.hasFailed && this.phase !== 'idle';
    if (waiting)
      this.progress.wait(s.status === 'running' ? `first step${this.gpu ? ': compiling GPU programs' : ''}…` : 'preparing the model…');
    else if (s.total > 0) this.progress.set(s.step, s.total, `step ${s.step} of ${s.total}`);
    else if (this.phase === 'idle') this.progress.hide(); // failed before the model was built: nothing to measure
  }
}
