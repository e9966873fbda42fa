// The classroom demo: one button trains a small model on the demo data and
// shows, for one question, the student's answer distributions after two
// different rationales. As the KL term falls the two sets of bars move toward
// each other. Large type, high contrast, nothing to type.

import type { DistEvent, TrainEvent } from '../shared/protocol';
import { LiveChart } from './charts';
import { formatNumber, formatPercent, h } from './dom';

export interface ClassroomHandlers {
  pauseOrResume(): void;
  stop(): void;
  leave(): void;
}

/** Visible form of a token: spaces and newlines shown, not collapsed. */
function showToken(t: string): string {
  const s = t.replace(/\n/g, '↵').replace(/ /g, '␣');
  return s === '' ? '∅' : s;
}

export class ClassroomView {
  readonly el: HTMLElement;
  private readonly question = h('p', { class: 'cls-question', testid: 'classroom-question' });
  private readonly ratA = h('p', { class: 'cls-rationale a' });
  private readonly ratB = h('p', { class: 'cls-rationale b' });
  private readonly bars = h('div', { class: 'cls-bars', testid: 'classroom-bars' });
  private readonly kl = h('output', { class: 'cls-kl', testid: 'classroom-kl', text: '–' });
  private readonly step = h('span', { testid: 'classroom-step', text: '–' });
  private readonly status = h('span', { text: 'starting…' });
  readonly pauseButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly scaleNote = h('p', { class: 'muted cls-scale' });
  private readonly chart = new LiveChart({
    title: 'Loss while training',
    testid: 'classroom-chart',
    height: 340,
    fontSize: 18,
    yLabel: 'CE (nats/token)',
    rightLabel: 'KL (nats)',
    series: [
      // Not blue or orange: those mean explanation A and B on this screen.
      { label: 'CE (learn the rationales)', stroke: 'var(--chart-total)', width: 3 },
      { label: 'KL (agree on the answer; right axis)', stroke: 'var(--chart-kl)', dash: [8, 5], width: 3, right: true },
    ],
  });
  private latest: DistEvent | undefined;
  private pausing = false;
  private firstStep = false;
  private frame = 0;
  private barRows: { a: HTMLElement; b: HTMLElement; pa: HTMLElement; pb: HTMLElement; label: HTMLElement }[] = [];

  constructor(handlers: ClassroomHandlers) {
    // Pausing waits for the step under way: say so at once.
    const pauseOrResume = (): void => {
      if (this.pauseButton.textContent === 'Pause') {
        this.pausing = true;
        this.status.textContent = 'pausing… (after the current step)';
        this.pauseButton.disabled = true;
      }
      handlers.pauseOrResume();
    };
    this.pauseButton = h('button', { text: 'Pause', testid: 'classroom-pause', attrs: { type: 'button' }, on: { click: pauseOrResume } });
    this.stopButton = h('button', { text: 'Stop', testid: 'classroom-stop', attrs: { type: 'button' }, on: { click: handlers.stop } });
    this.el = h(
      'section',
      // The page's main content while it is shown (the usual <main> is hidden then).
      { class: 'classroom', testid: 'classroom', attrs: { 'aria-labelledby': 'classroom-title', role: 'main' } },
      h(
        'div',
        { class: 'cls-head' },
        h('h2', { attrs: { id: 'classroom-title' }, text: 'Two explanations, one answer?' }),
        h(
          'div',
          { class: 'buttons' },
          this.pauseButton,
          this.stopButton,
          h('button', { text: 'Leave the demo', class: 'secondary', attrs: { type: 'button' }, on: { click: handlers.leave } }),
        ),
      ),
      h('p', { class: 'cls-status' }, 'Step ', this.step, ' · ', this.status),
      this.question,
      h('div', { class: 'cls-rationales' }, h('div', {}, h('h3', { class: 'a', text: 'Explanation A' }), this.ratA), h('div', {}, h('h3', { class: 'b', text: 'Explanation B' }), this.ratB)),
      h(
        'div',
        { class: 'cls-main' },
        h(
          'div',
          { class: 'cls-dist' },
          h('h3', { text: 'What the student would answer next, after A and after B' }),
          h('p', { class: 'cls-legend' }, h('span', {}, h('span', { class: 'swatch a' }), ' after explanation A'), h('span', {}, h('span', { class: 'swatch b' }), ' after explanation B')),
          this.bars,
          this.scaleNote,
          h('p', { class: 'cls-kl-line' }, 'Disagreement (KL): ', this.kl),
        ),
        this.chart.el,
      ),
    );
  }

  reset(): void {
    this.chart.reset();
    this.latest = undefined;
    this.barRows = [];
    this.bars.replaceChildren();
    this.question.textContent = '';
    this.ratA.textContent = '';
    this.ratB.textContent = '';
    this.kl.textContent = '–';
    this.step.textContent = '–';
    this.status.textContent = 'starting…';
    this.scaleNote.textContent = '';
    this.pausing = false;
    this.pauseButton.disabled = false;
    this.stopButton.disabled = false;
  }

  setPaused(paused: boolean): void {
    this.pauseButton.textContent = paused ? 'Resume' : 'Pause';
  }

  handle(e: TrainEvent): void {
    if (e.type === 'start' && e.info.label === 'classroom') {
      // the step axis spans the whole run from the start
      this.chart.setSteps(e.info.startStep, e.info.totalSteps);
      this.firstStep = e.info.startStep < e.info.totalSteps;
      this.step.textContent = `${e.info.startStep} / ${e.info.totalSteps}`;
      return;
    }
    if (!('label' in e) || e.label !== 'classroom') return;
    if (e.type === 'step') {
      if (this.firstStep && !this.pausing) this.status.textContent = 'running';
      this.firstStep = false;
      this.step.textContent = `${e.step} / ${e.totalSteps}`;
      if (e.metrics) {
        this.chart.set(e.metrics.step, 0, e.metrics.ce);
        this.chart.set(e.metrics.step, 1, e.metrics.kl);
      }
    } else if (e.type === 'status') {
      if (e.status !== 'running') this.pausing = false;
      if (!this.pausing) this.status.textContent = e.status === 'running' && this.firstStep ? 'running: first step (compiling GPU programs)…' : e.message ? `${e.status}: ${e.message}` : e.status;
      this.setPaused(e.status === 'paused');
      // A finished run has nothing left to pause or stop.
      const over = e.status === 'done' || e.status === 'stopped';
      this.pauseButton.disabled = over || this.pausing;
      this.stopButton.disabled = over;
    } else if (e.type === 'dist') {
      this.latest = e;
      if (!this.frame) this.frame = requestAnimationFrame(() => this.drawDist());
    }
  }

  /** Rows of bars for the first answer token: the top tokens, with P (after
   * A) and Q (after B). Widths change through a CSS transition, so the bars
   * visibly glide toward each other. */
  private drawDist(): void {
    this.frame = 0;
    const d = this.latest;
    if (!d) return;
    if (this.question.textContent !== d.question) {
      this.question.textContent = d.question;
      this.ratA.textContent = d.rationales[0];
      this.ratB.textContent = d.rationales[1];
    }
    const p = d.p[0] ?? [];
    const q = d.q[0] ?? [];
    const n = Math.max(p.length, q.length);
    if (this.barRows.length !== n) {
      this.barRows = [];
      this.bars.replaceChildren();
      for (let k = 0; k < n; k++) {
        const row = { label: h('span', { class: 'tok' }), a: h('span', { class: 'bar a' }), b: h('span', { class: 'bar b' }), pa: h('span', { class: 'pct' }), pb: h('span', { class: 'pct' }) };
        this.barRows.push(row);
        this.bars.append(
          h('div', { class: 'bar-row' }, row.label, h('div', { class: 'bar-pair' }, h('div', { class: 'bar-line' }, row.a, row.pa), h('div', { class: 'bar-line' }, row.b, row.pb))),
        );
      }
    }
    // Early on every probability is tiny (0.3%): on a 0-100% scale the bars
    // are slivers. They are drawn against the largest one shown instead,
    // and the note says so.
    const top = Math.max(1e-9, ...p.slice(0, n), ...q.slice(0, n));
    this.scaleNote.textContent = `Bars are scaled so the longest is ${formatPercent(top)}; the numbers are the probabilities.`;
    this.barRows.forEach((row, k) => {
      const pa = p[k] ?? 0;
      const pb = q[k] ?? 0;
      row.label.textContent = showToken(d.tokens[k] ?? `#${k}`);
      // the percentage beside each bar keeps 5rem of the line
      row.a.style.width = `calc((100% - 5rem) * ${(pa / top).toFixed(4)})`;
      row.b.style.width = `calc((100% - 5rem) * ${(pb / top).toFixed(4)})`;
      row.pa.textContent = formatPercent(pa);
      row.pb.textContent = formatPercent(pb);
    });
    this.kl.textContent = formatNumber(d.kl, 3);
  }
}
