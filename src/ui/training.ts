// Training controls and live progress: start, pause, resume, stop; step,
// epoch, time left; charts of CE, KL and total loss, learning rate and
// tokens per second. Events from the worker only update a model object; the
// DOM is written once per animation frame.

import type { RunInfo, TrainStatus, TrainEvent } from '../shared/protocol';
import { LiveChart } from './charts';
import { formatDuration, formatNumber, h, perFrame, progressBar } from './dom';

export type Phase = 'idle' | 'busy' | 'running' | 'paused';

export interface TrainingHandlers {
  start(): void;
  pause(): void;
  resume(): void;
  stop(): void;
  continueRun(): void;
  save(): void;
}

const LABELS: Record<string, string> = { main: 'Training', mcckd: 'Comparison: MCC-KD run', baseline: 'Comparison: baseline run (α = 0)', classroom: 'Classroom demo' };

export class TrainingView {
  readonly el: HTMLElement;
  readonly lossChart = new LiveChart({
    title: 'Loss',
    testid: 'chart-loss',
    series: [
      { label: 'total', stroke: '#1b4fd8' },
      { label: 'CE', stroke: '#0a8a3a', dash: [6, 4] },
      { label: 'KL (right axis)', stroke: '#c2410c', right: true },
    ],
  });
  readonly lrChart = new LiveChart({ title: 'Learning rate', testid: 'chart-lr', height: 160, series: [{ label: 'lr', stroke: '#7c3aed' }] });
  readonly speedChart = new LiveChart({ title: 'Tokens per second', testid: 'chart-speed', height: 160, series: [{ label: 'tokens/s', stroke: '#0e7490' }] });

  private readonly buttons: Record<'start' | 'pause' | 'resume' | 'stop' | 'continue' | 'save', HTMLButtonElement>;
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
    model: h('span', { testid: 'train-model', text: '–' }),
  };
  private readonly notes = h('ul', { class: 'notes', testid: 'train-notes', attrs: { 'aria-live': 'polite' } });

  // Latest state, drawn on the next frame.
  private state = { label: 'main', status: '', step: 0, total: 0, epoch: 0, etaMs: undefined as number | undefined, loss: undefined as number | undefined, ce: undefined as number | undefined, kl: undefined as number | undefined, speed: undefined as number | undefined };
  private readonly schedule = perFrame(() => this.render());
  private phase: Phase = 'idle';
  private hasData = false;
  private canContinue = false;
  private modelLoaded = false;

  constructor(handlers: TrainingHandlers) {
    const button = (text: string, testid: string, fn: () => void, cls = ''): HTMLButtonElement =>
      h('button', { text, testid, class: cls, attrs: { type: 'button' }, on: { click: fn } });
    this.buttons = {
      start: button('Start training', 'train-start', handlers.start, 'primary'),
      pause: button('Pause', 'train-pause', handlers.pause),
      resume: button('Resume', 'train-resume', handlers.resume),
      stop: button('Stop', 'train-stop', handlers.stop),
      continue: button('Continue', 'train-continue', handlers.continueRun),
      save: button('Save checkpoint', 'checkpoint-save', handlers.save, 'secondary'),
    };
    const o = this.out;
    const stat = (label: string, value: HTMLElement): HTMLElement => h('div', { class: 'stat' }, h('span', { class: 'stat-label', text: label }), value);
    this.el = h(
      'div',
      { class: 'training' },
      h('div', { class: 'buttons', attrs: { role: 'group', 'aria-label': 'Training controls' } }, ...Object.values(this.buttons)),
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
        stat('Model', o.model),
      ),
      h('div', { class: 'charts' }, this.lossChart.el, h('div', { class: 'charts-small' }, this.lrChart.el, this.speedChart.el)),
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
    this.canContinue = canContinue;
    this.refreshButtons();
  }

  get currentPhase(): Phase {
    return this.phase;
  }

  private refreshButtons(): void {
    const b = this.buttons;
    const p = this.phase;
    b.start.disabled = p !== 'idle' || !this.hasData;
    b.pause.disabled = p !== 'running';
    b.resume.disabled = p !== 'paused';
    b.stop.disabled = p !== 'running' && p !== 'paused';
    b.continue.disabled = p !== 'idle' || !this.canContinue;
    b.save.disabled = !this.modelLoaded || (p !== 'idle' && p !== 'paused');
  }

  setModelLoaded(v: boolean): void {
    this.modelLoaded = v;
    this.refreshButtons();
  }

  private noteSeq = 0;
  private hasFailed = false;

  note(message: string, level: 'info' | 'error' = 'info'): void {
    this.noteSeq += 1;
    this.notes.prepend(h('li', { class: level, text: `${new Date().toLocaleTimeString()}: ${message}`, attrs: { 'data-seq': this.noteSeq } }));
    while (this.notes.children.length > 8) this.notes.lastElementChild?.remove();
  }

  /** The current run's logged losses, as [step, loss] pairs, on the loss
   * readout's data-history attribute (for tests and tools; the chart has
   * the same numbers). */
  private history: [number, number][] = [];

  private startRun(info: RunInfo): void {
    const c = info.modelConfig;
    this.history = info.history.map((m) => [m.step, m.loss]);
    this.lossChart.reset();
    this.lrChart.reset();
    this.speedChart.reset();
    for (const m of info.history) this.plot(m);
    this.state = { ...this.state, label: info.label, step: info.startStep, total: info.totalSteps, etaMs: undefined };
    this.progress.begin();
    this.out.model.textContent = `${info.trainConfig.preset}, ${(info.params / 1e6).toFixed(2)}M params, ${c.nLayer}×${c.nEmbd}, vocab ${c.vocabSize}, α=${info.trainConfig.alpha}`;
    const last = info.history[info.history.length - 1];
    if (last) Object.assign(this.state, { loss: last.loss, ce: last.ce, kl: last.kl, speed: last.tokensPerSecond });
    if (info.createMs > 0) this.note(`${LABELS[info.label] ?? info.label}: model ready in ${formatDuration(info.createMs)} on ${info.backend.backend}`);
    this.schedule();
  }

  private plot(m: { step: number; loss: number; ce: number; kl: number; lr: number; tokensPerSecond: number }): void {
    this.lossChart.push(m.step, [m.loss, m.ce, m.kl]);
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
        this.onStatus(e.status);
        this.schedule();
        return;
      case 'step':
        Object.assign(this.state, { step: e.step, total: e.totalSteps, epoch: e.epoch, etaMs: e.etaMs });
        if (e.metrics) {
          Object.assign(this.state, { loss: e.metrics.loss, ce: e.metrics.ce, kl: e.metrics.kl, speed: e.metrics.tokensPerSecond });
          this.plot(e.metrics);
          this.history.push([e.metrics.step, e.metrics.loss]);
          if (this.history.length > 500) this.history.shift();
        }
        this.schedule();
        return;
      case 'checkpoint':
        this.note(`checkpoint saved at step ${e.checkpoint.step} (${e.checkpoint.kind})`);
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
    this.setPhase('busy');
  }

  /** The run ended with an error (the banner has it too): the status must
   * not go on saying "running", nor be overwritten by a late status event
   * of the failed run (events come through their own message port). */
  failed(message: string): void {
    this.hasFailed = true;
    this.state.status = `failed: ${message}`;
    this.schedule();
  }

  private onStatus(s: TrainStatus): void {
    if (s === 'running') this.setPhase('running');
    else if (s === 'paused') this.setPhase('paused');
    else if (s === 'preparing') this.setPhase('busy');
  }


  private render(): void {
    const s = this.state;
    const o = this.out;
    o.run.textContent = LABELS[s.label] ?? s.label;
    o.status.textContent = s.status || '–';
    o.step.textContent = s.total ? `${s.step} / ${s.total}` : String(s.step);
    o.epoch.textContent = s.total ? formatNumber(s.epoch, 3) : '–';
    o.eta.textContent = s.step >= s.total && s.total > 0 ? 'done' : formatDuration(s.etaMs);
    o.loss.textContent = formatNumber(s.loss);
    o.loss.dataset.history = JSON.stringify(this.history);
    o.ce.textContent = formatNumber(s.ce);
    o.kl.textContent = formatNumber(s.kl);
    o.speed.textContent = formatNumber(s.speed, 3);
    if (s.total > 0) this.progress.set(s.step, s.total, `step ${s.step} of ${s.total}`);
  }
}
