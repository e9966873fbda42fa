// Evaluation: accuracy on the evaluation file (or the dev split) and a table
// of the student's generations with the extracted answer marked right/wrong.

import type { ConsistencyView, EvalOptions, EvalResultView } from '../worker/protocol';
import { formatDuration, formatPercent, h, nextId, progressBar, type ProgressBar } from './dom';

interface EvaluationHandlers {
  run(opts: EvalOptions): void;
  cancel(): void;
}

function numberInput(label: string, testid: string, value: number, help: string): { el: HTMLElement; input: HTMLInputElement } {
  const id = nextId(testid);
  const input = h('input', { testid, attrs: { id, type: 'number', min: 1, step: 1, value, 'aria-describedby': `${id}-help` } });
  return {
    input,
    el: h(
      'div',
      { class: 'field' },
      h('label', { attrs: { for: id }, text: label }),
      input,
      h('small', { attrs: { id: `${id}-help` }, text: help }),
    ),
  };
}

export function accuracyText(r: Pick<EvalResultView, 'accuracy' | 'correct' | 'total' | 'source'>): string {
  return `${formatPercent(r.accuracy)} (${r.correct} of ${r.total}, ${r.source === 'eval-file' ? 'evaluation file' : 'held-out questions of the teacher file'})`;
}

/** What the student wrote, visibly: text that is only spaces or newlines
 * would look like an empty cell, as if nothing had been generated. */
function generatedCell(text: string): HTMLElement {
  if (text === '') return h('em', { class: 'muted', text: '(nothing: the student ended at once)' });
  if (text.trim() === '')
    return h('em', { class: 'muted', text: `(only whitespace: ${text.length} ${text.length === 1 ? 'character' : 'characters'})` });
  return h('pre', { class: 'generated', text });
}

/** A progress bar whose caption adds the time left, from the pace so far
 * (generation speed varies a lot between machines, so no guess up front). */
function withTimeLeft(bar: ProgressBar): ProgressBar {
  let t0 = 0;
  return {
    el: bar.el,
    begin(text) {
      t0 = performance.now();
      bar.begin(text ?? 'first question (the first one also compiles the GPU programs)…');
      bar.wait(text ?? 'first question (the first one also compiles the GPU programs)…');
    },
    set(value, max, text) {
      const left = value > 0 && max > value ? ((performance.now() - t0) / value) * (max - value) : undefined;
      bar.set(value, max, left === undefined ? text : `${text ?? `${value} of ${max}`} · about ${formatDuration(left)} left`);
    },
    wait: (text) => bar.wait(text),
    hide: () => bar.hide(),
  };
}

function samplesTable(r: EvalResultView, max = 100): HTMLElement {
  const rows = r.samples
    .slice(0, max)
    .map((s) =>
      h(
        'tr',
        { class: s.correct ? 'right' : 'wrong' },
        h('td', { class: 'q', text: s.question }),
        h('td', { text: s.gold }),
        h('td', {}, generatedCell(s.generated)),
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
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Question', 'Gold', 'Student wrote', 'Extracted answer', 'Verdict'].map((t) => h('th', { attrs: { scope: 'col' }, text: t })),
        ),
      ),
      h('tbody', {}, ...rows),
    ),
  );
}

/** One consistency metric as shown: its name, value and what it means. */
interface ConsistencyLine {
  key: 'agreement' | 'majorityAccuracy' | 'sampleAccuracy' | 'greedyAccuracy' | 'answerKL';
  name: string;
  value: string;
  help: string;
}

/** The consistency block's lines, in plain language (core/consistency.ts
 * has the exact definitions). */
export function consistencyLines(c: ConsistencyView): ConsistencyLine[] {
  const m = c.samplesPerQuestion;
  return [
    {
      key: 'agreement',
      name: 'Agreement',
      value: formatPercent(c.agreement),
      help: `Of the ${m} explanations sampled per question, the share that reach the most common answer (100%: the student always lands on the same answer, whichever way it reasons).`,
    },
    {
      key: 'majorityAccuracy',
      name: 'Majority-vote accuracy',
      value: `${formatPercent(c.majorityAccuracy)} (${c.majorityCorrect} of ${c.questions})`,
      help: 'Questions whose most common sampled answer is right (self-consistency decoding: let several explanations vote).',
    },
    {
      key: 'sampleAccuracy',
      name: 'Sample accuracy',
      value: formatPercent(c.sampleAccuracy),
      help: `The share of single sampled explanations whose answer is right (${formatPercent(c.answered)} of them state an answer at all).`,
    },
    {
      key: 'greedyAccuracy',
      name: 'Greedy accuracy',
      value: `${formatPercent(c.greedyAccuracy)} (${c.greedyCorrect} of ${c.questions})`,
      help: 'The usual accuracy above: one answer per question, always taking the most likely next token.',
    },
    {
      key: 'answerKL',
      name: 'Answer KL',
      value:
        c.answerKL === null
          ? '– (no question had two explanations ending in “the answer is”)'
          : `${c.answerKL.toFixed(4)} nats (${c.klQuestions} of ${c.questions} questions)`,
      help: 'How much the student’s answer probabilities differ after two of its own explanations of the same question (symmetric KL, 0: identical). MCC-KD trains this down.',
    },
  ];
}

/** The consistency block: each metric with a one-line explanation; every
 * value is text (answers come from the student and the files). */
function consistencyBlock(c: ConsistencyView): HTMLElement {
  const lines = consistencyLines(c);
  const values = {
    agreement: c.agreement,
    majorityAccuracy: c.majorityAccuracy,
    sampleAccuracy: c.sampleAccuracy,
    greedyAccuracy: c.greedyAccuracy,
    answerKL: c.answerKL,
    questions: c.questions,
    samples: c.samplesPerQuestion,
  };
  return h(
    'div',
    { class: 'consistency', testid: 'eval-consistency-result', attrs: { 'data-values': JSON.stringify(values) } },
    h('h3', { text: `Consistency of ${c.samplesPerQuestion} sampled explanations per question` }),
    h('p', { class: 'muted', text: `Sampled at temperature ${c.temperature} with seed ${c.seed} (the same seed gives the same samples).` }),
    h(
      'dl',
      { class: 'metrics' },
      ...lines.flatMap((l) => [
        h('dt', { text: l.name }),
        h('dd', {}, h('strong', { text: l.value, attrs: { 'data-key': l.key } }), h('small', { text: l.help })),
      ]),
    ),
  );
}

export class EvaluationView {
  readonly el: HTMLElement;
  readonly progress = withTimeLeft(progressBar('Evaluating', 'eval-progress'));
  private readonly runButton: HTMLButtonElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly accuracy = h('output', { testid: 'eval-accuracy', attrs: { 'aria-live': 'polite' } });
  private readonly table = h('div');
  private readonly why = h('p', { class: 'why muted', testid: 'eval-why', attrs: { id: 'eval-why' } });
  private readonly advice = h('p', { class: 'advice', testid: 'eval-advice', attrs: { 'aria-live': 'polite' } });
  private readonly limit = numberInput(
    'Questions',
    'eval-limit',
    50,
    'How many evaluation questions to answer (generation is the slow part).',
  );
  private readonly maxTokens = numberInput('Max new tokens', 'eval-max-tokens', 96, 'Longest answer the student may write per question.');
  private readonly sampleOn = h('input', { testid: 'eval-consistency', attrs: { id: nextId('eval-consistency'), type: 'checkbox' } });
  private readonly sampleCount = numberInput(
    'Explanations per question (M)',
    'eval-samples-count',
    4,
    'How many explanations to sample per question (at least 2).',
  );
  private readonly sampleTemperature = numberInput(
    'Sampling temperature',
    'eval-temperature',
    1,
    'Randomness of the samples: 1 samples the student’s own distribution, lower is more deterministic.',
  );
  private readonly sampleSeed = numberInput('Sampling seed', 'eval-seed', 1, 'Same seed, same samples.');
  private readonly consistency = h('div');

  constructor(handlers: EvaluationHandlers) {
    const { limit, maxTokens } = this;
    this.runButton = h('button', {
      text: 'Evaluate',
      testid: 'eval-run',
      class: 'primary',
      attrs: { type: 'button' },
      on: { click: () => handlers.run(this.options()) },
    });
    this.cancelButton = h('button', {
      text: 'Cancel',
      testid: 'eval-cancel',
      attrs: { type: 'button', disabled: true },
      on: { click: handlers.cancel },
    });
    this.sampleTemperature.input.min = '0.05';
    this.sampleTemperature.input.step = 'any';
    this.sampleSeed.input.min = '0';
    this.sampleCount.input.min = '2';
    const sampling = [this.sampleCount, this.sampleTemperature, this.sampleSeed];
    const syncSampling = (): void => {
      for (const f of sampling) f.el.hidden = !this.sampleOn.checked;
    };
    this.sampleOn.addEventListener('change', syncSampling);
    syncSampling();
    this.el = h(
      'div',
      { class: 'evaluation' },
      h('div', { class: 'settings-grid' }, limit.el, maxTokens.el),
      h(
        'div',
        { class: 'field check' },
        h(
          'label',
          { attrs: { for: this.sampleOn.id } },
          this.sampleOn,
          ' Sample M explanations per question and measure their consistency',
        ),
        h('small', {
          text: 'After the usual (greedy) evaluation: does the student reach the same answer by different explanations? Slower: M more answers per question.',
        }),
      ),
      h('div', { class: 'settings-grid' }, ...sampling.map((f) => f.el)),
      h('div', { class: 'buttons' }, this.runButton, this.cancelButton),
      this.why,
      this.progress.el,
      h('p', { class: 'accuracy' }, h('span', { text: 'Accuracy: ' }), this.accuracy),
      this.advice,
      this.consistency,
      this.table,
    );
    this.setEnabled(false);
  }

  /** The evaluation settings (a comparison evaluates with them too); an
   * empty or non-positive field means the default. */
  options(): EvalOptions {
    const positive = (input: HTMLInputElement): number | undefined => (Number(input.value) > 0 ? Number(input.value) : undefined);
    const base: EvalOptions = { limit: positive(this.limit.input), maxNewTokens: positive(this.maxTokens.input) };
    if (!this.sampleOn.checked) return base;
    const seed = Number(this.sampleSeed.input.value);
    return {
      ...base,
      samples: Math.max(2, Math.round(positive(this.sampleCount.input) ?? 4)),
      temperature: positive(this.sampleTemperature.input) ?? 1,
      seed: Number.isInteger(seed) && seed >= 0 ? seed : 1,
    };
  }

  private running = false;

  setEnabled(v: boolean): void {
    this.runButton.disabled = !v;
    const why =
      v || this.running
        ? ''
        : 'Evaluate needs a model: train one (step 5) or resume a saved run (step 8). While a run trains, pause it to evaluate.';
    this.why.textContent = why;
    this.why.hidden = why === '';
    if (why) this.runButton.setAttribute('aria-describedby', 'eval-why');
    else this.runButton.removeAttribute('aria-describedby');
  }

  setRunning(v: boolean): void {
    this.running = v;
    this.cancelButton.disabled = !v;
    if (v) {
      this.runButton.disabled = true;
      this.accuracy.textContent = 'evaluating…';
      this.advice.textContent = '';
      this.consistency.replaceChildren();
    }
  }

  /** The evaluation failed or was cancelled (the banner says why). */
  clear(): void {
    this.accuracy.textContent = '–';
    this.advice.textContent = '';
  }

  show(r: EvalResultView): void {
    this.accuracy.textContent = accuracyText(r);
    // 0% after a short run is the usual first result, not a bug: say so and
    // what to do, rather than leave a bare zero.
    this.advice.textContent =
      r.accuracy === 0 && r.total > 0
        ? 'No answer right yet. That is normal after a short run: a student first learns what a rationale looks like, and only later gets the numbers right. Train for more steps (Continue, or a longer run with more steps), then evaluate again; the rows below show what it writes so far.'
        : '';
    this.consistency.replaceChildren(r.consistency ? consistencyBlock(r.consistency) : '');
    this.table.replaceChildren(samplesTable(r));
  }
}
