// Evaluation: accuracy on the evaluation file (or the dev split) and a table
// of the student's generations with the extracted answer marked right/wrong.

import type { EvalOptions, EvalResultView } from '../shared/protocol';
import { formatPercent, h, nextId, progressBar } from './dom';

export interface EvaluationHandlers {
  run(opts: EvalOptions): void;
  cancel(): void;
}

function numberInput(label: string, testid: string, value: number, help: string): { el: HTMLElement; input: HTMLInputElement } {
  const id = nextId(testid);
  const input = h('input', { testid, attrs: { id, type: 'number', min: 1, step: 1, value, 'aria-describedby': `${id}-help` } });
  return { input, el: h('div', { class: 'field' }, h('label', { attrs: { for: id }, text: label }), input, h('small', { attrs: { id: `${id}-help` }, text: help })) };
}

export function accuracyText(r: Pick<EvalResultView, 'accuracy' | 'correct' | 'total' | 'source'>): string {
  return `${formatPercent(r.accuracy)} (${r.correct} of ${r.total}, ${r.source === 'eval-file' ? 'evaluation file' : 'dev split'})`;
}

export function samplesTable(r: EvalResultView, max = 100): HTMLElement {
  const rows = r.samples.slice(0, max).map((s) =>
    h(
      'tr',
      { class: s.correct ? 'right' : 'wrong' },
      h('td', { class: 'q', text: s.question }),
      h('td', { text: s.gold }),
      h('td', {}, h('pre', { class: 'generated', text: s.generated })),
      h('td', {}, s.extracted === null ? h('em', { text: 'none found' }) : h('code', { text: s.extracted })),
      h('td', { class: 'verdict', text: s.correct ? '✓ right' : '✗ wrong' }),
    ),
  );
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'samples', testid: 'eval-samples' },
      h('caption', { text: `Generations (${Math.min(max, r.samples.length)} of ${r.samples.length})` }),
      h('thead', {}, h('tr', {}, ...['Question', 'Gold', 'Student wrote', 'Extracted answer', ''].map((t) => h('th', { attrs: { scope: 'col' }, text: t })))),
      h('tbody', {}, ...rows),
    ),
  );
}

export class EvaluationView {
  readonly el: HTMLElement;
  readonly progress = progressBar('Evaluating', 'eval-progress');
  private readonly runButton: HTMLButtonElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly accuracy = h('output', { testid: 'eval-accuracy', attrs: { 'aria-live': 'polite' } });
  private readonly table = h('div');
  private readonly limit = numberInput('Questions', 'eval-limit', 50, 'How many evaluation questions to answer (generation is the slow part).');
  private readonly maxTokens = numberInput('Max new tokens', 'eval-max-tokens', 96, 'Longest answer the student may write per question.');

  constructor(handlers: EvaluationHandlers) {
    const { limit, maxTokens } = this;
    this.runButton = h('button', {
      text: 'Evaluate',
      testid: 'eval-run',
      class: 'primary',
      attrs: { type: 'button' },
      on: { click: () => handlers.run(this.options()) },
    });
    this.cancelButton = h('button', { text: 'Cancel', testid: 'eval-cancel', attrs: { type: 'button', disabled: true }, on: { click: handlers.cancel } });
    this.el = h(
      'div',
      { class: 'evaluation' },
      h('div', { class: 'settings-grid' }, limit.el, maxTokens.el),
      h('div', { class: 'buttons' }, this.runButton, this.cancelButton),
      this.progress.el,
      h('p', { class: 'accuracy' }, h('span', { text: 'Accuracy: ' }), this.accuracy),
      this.table,
    );
    this.setEnabled(false);
  }

  /** The evaluation settings (a comparison evaluates with them too); an
   * empty or non-positive field means the default. */
  options(): EvalOptions {
    const positive = (input: HTMLInputElement): number | undefined => (Number(input.value) > 0 ? Number(input.value) : undefined);
    return { limit: positive(this.limit.input), maxNewTokens: positive(this.maxTokens.input) };
  }

  setEnabled(v: boolean): void {
    this.runButton.disabled = !v;
  }

  setRunning(v: boolean): void {
    this.cancelButton.disabled = !v;
    if (v) {
      this.runButton.disabled = true;
      this.accuracy.textContent = 'evaluating…';
    }
  }

  /** The evaluation failed or was cancelled (the banner says why). */
  clear(): void {
    this.accuracy.textContent = '–';
  }

  show(r: EvalResultView): void {
    this.accuracy.textContent = accuracyText(r);
    this.table.replaceChildren(samplesTable(r));
  }
}
