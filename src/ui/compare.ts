// Comparison: the MCC-KD run and the alpha = 0 baseline, trained on the same
// data with the same seed, their loss curves overlaid and their accuracies
// side by side.

import type { CompareResult, EvalResultView, TrainEvent } from '../shared/protocol';
import { LiveChart } from './charts';
import { formatNumber, h } from './dom';
import { accuracyText } from './evaluation';

export class CompareView {
  readonly el: HTMLElement;
  private readonly button: HTMLButtonElement;
  private readonly chart = new LiveChart({
    title: 'Loss: MCC-KD vs. baseline',
    testid: 'compare-chart',
    yLabel: 'loss (nats/token)',
    rightLabel: 'KL (nats)',
    series: [
      { label: 'MCC-KD total', stroke: '#1b4fd8' },
      { label: 'MCC-KD CE', stroke: '#1b4fd8', dash: [6, 4] },
      { label: 'baseline total (= CE)', stroke: '#c2410c' },
      { label: 'MCC-KD KL (right axis)', stroke: '#0a8a3a', right: true },
    ],
  });
  private readonly cells = {
    mcckd: { acc: h('output', { testid: 'compare-mcckd-accuracy', text: '–' }), loss: h('span', { text: '–' }), note: h('span', { text: '' }) },
    baseline: { acc: h('output', { testid: 'compare-baseline-accuracy', text: '–' }), loss: h('span', { text: '–' }), note: h('span', { text: '' }) },
  };

  constructor(run: () => void) {
    this.button = h('button', { text: 'Compare MCC-KD with the baseline', testid: 'compare-run', class: 'primary', attrs: { type: 'button' }, on: { click: run } });
    const col = (title: string, c: (typeof this.cells)['mcckd']): HTMLElement =>
      h('div', { class: 'compare-col' }, h('h3', { text: title }), h('p', {}, 'Accuracy: ', c.acc), h('p', {}, 'Final loss: ', c.loss), h('p', { class: 'muted' }, c.note));
    this.el = h(
      'div',
      { class: 'compare' },
      h('p', { text: 'Trains two models one after the other with the settings above: MCC-KD with your α, then the baseline with α = 0 (same data, same seed), and evaluates both.' }),
      h('div', { class: 'buttons' }, this.button),
      h('div', { class: 'compare-cols' }, col('MCC-KD', this.cells.mcckd), col('Baseline (α = 0)', this.cells.baseline)),
      this.chart.el,
    );
  }

  setEnabled(v: boolean): void {
    this.button.disabled = !v;
  }

  reset(): void {
    this.chart.reset();
    for (const c of Object.values(this.cells)) {
      c.acc.textContent = '–';
      c.loss.textContent = '–';
      c.note.textContent = '';
    }
  }

  handle(e: TrainEvent): void {
    if (!('label' in e) || (e.label !== 'mcckd' && e.label !== 'baseline')) return;
    const c = this.cells[e.label];
    if (e.type === 'step' && e.metrics) {
      const m = e.metrics;
      if (e.label === 'mcckd') {
        this.chart.set(m.step, 0, m.loss);
        this.chart.set(m.step, 1, m.ce);
        this.chart.set(m.step, 3, m.kl);
      } else this.chart.set(m.step, 2, m.loss);
      c.loss.textContent = formatNumber(m.loss);
    } else if (e.type === 'eval') {
      if (e.result) this.showAccuracy(e.label, e.result);
      else c.acc.textContent = `evaluating ${e.done}/${e.total}`;
    } else if (e.type === 'status') {
      c.note.textContent = e.message ? `${e.status}: ${e.message}` : e.status;
    } else if (e.type === 'note' && e.level === 'error') {
      c.note.textContent = e.message;
    }
  }

  private showAccuracy(label: 'mcckd' | 'baseline', r: EvalResultView): void {
    this.cells[label].acc.textContent = accuracyText(r);
  }

  finish(r: CompareResult): void {
    if (r.mcckd.eval) this.showAccuracy('mcckd', r.mcckd.eval);
    if (r.baseline.eval) this.showAccuracy('baseline', r.baseline.eval);
  }
}
