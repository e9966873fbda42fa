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
  private readonly chart = new LiveChart({
    title: 'Loss while training',
    testid: 'classroom-chart',
    height: 340,
    fontSize: 18,
    series: [
      { label: 'CE (learn the rationales)', stroke: '#1b4fd8' },
      { label: 'KL (agree on the answer; right axis)', stroke: '#c2410c', right: true },
    ],
  });
  private latest: DistEvent | undefined;
  private frame = 0;
  private barRows: { a: HTMLElement; b: HTMLElement; pa: HTMLElement; pb: HTMLElement; label: HTMLElement }[] = [];

  constructor(handlers: ClassroomHandlers) {
    this.pauseButton = h('button', { text: 'Pause', testid: 'classroom-pause', attrs: { type: 'button' }, on: { click: handlers.pauseOrResume } });
    this.el = h(
      'section',
      { class: 'classroom', testid: 'classroom', attrs: { 'aria-labelledby': 'classroom-title' } },
      h(
        'div',
        { class: 'cls-head' },
        h('h2', { attrs: { id: 'classroom-title' }, text: 'Two explanations, one answer?' }),
        h(
          'div',
          { class: 'buttons' },
          this.pauseButton,
          h('button', { text: 'Stop', testid: 'classroom-stop', attrs: { type: 'button' }, on: { click: handlers.stop } }),
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
          h('p', { class: 'cls-legend' }, h('span', { class: 'swatch a' }), ' after explanation A   ', h('span', { class: 'swatch b' }), ' after explanation B'),
          this.bars,
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
  }

  setPaused(paused: boolean): void {
    this.pauseButton.textContent = paused ? 'Resume' : 'Pause';
  }

  handle(e: TrainEvent): void {
    if (!('label' in e) || e.label !== 'classroom') return;
    if (e.type === 'step') {
      this.step.textContent = `${e.step} / ${e.totalSteps}`;
      if (e.metrics) {
        this.chart.set(e.metrics.step, 0, e.metrics.ce);
        this.chart.set(e.metrics.step, 1, e.metrics.kl);
      }
    } else if (e.type === 'status') {
      this.status.textContent = e.message ? `${e.status}: ${e.message}` : e.status;
      this.setPaused(e.status === 'paused');
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
    this.barRows.forEach((row, k) => {
      const pa = p[k] ?? 0;
      const pb = q[k] ?? 0;
      row.label.textContent = showToken(d.tokens[k] ?? `#${k}`);
      row.a.style.width = `${(100 * pa).toFixed(1)}%`;
      row.b.style.width = `${(100 * pb).toFixed(1)}%`;
      row.pa.textContent = formatPercent(pa);
      row.pb.textContent = formatPercent(pb);
    });
    this.kl.textContent = formatNumber(d.kl, 3);
  }
}
