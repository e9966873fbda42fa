// Comparison: MCC-KD and the alpha = 0 baseline trained on the same data
// with the same seed, for one seed or several. The chart and the two columns
// follow the seed under way; at the end, the report of `mcckd experiment`
// (mean ± sd over seeds, differences paired by seed) as tables and files.

import { MAX_COMPARE_SEEDS, curvesSvg, reportMarkdown } from '../core/experiment-report';
import type { CompareResult, EvalResultView, TrainEvent } from '../worker/protocol';
import { LiveChart } from './charts';
import { parseSeeds, pairedTable, planText, summaryTable, type TextTable } from './compare-report';
import { formatNumber, h, nextId } from './dom';
import { accuracyText } from './evaluation';

/** What the settings say a comparison will run; undefined while they are
 * not valid. */
export interface ComparePlan {
  seed: number;
  length: { steps: number } | { epochs: number };
}

interface CompareHandlers {
  run: () => void;
  plan: () => ComparePlan | undefined;
}

type Label = 'mcckd' | 'baseline';
const NAMES: Record<Label, string> = { mcckd: 'MCC-KD', baseline: 'baseline' };

export class CompareView {
  readonly el: HTMLElement;
  private readonly button: HTMLButtonElement;
  private readonly seedsInput: HTMLInputElement;
  private readonly seedsError = h('p', {
    class: 'field-error',
    testid: 'compare-seeds-error',
    attrs: { id: nextId('compare-seeds-error'), role: 'alert', hidden: true },
  });
  private readonly planLine = h('p', { class: 'muted', testid: 'compare-plan' });
  // The progress line changes every step: not a live region (a screen
  // reader would read each step); `announce` says each run's start and the end.
  private readonly progress = h('p', { class: 'compare-progress', testid: 'compare-progress' });
  private readonly announce = h('p', { class: 'visually-hidden', attrs: { 'aria-live': 'polite' } });
  private readonly seedLine = h('p', { class: 'muted', testid: 'compare-current-seed' });
  private readonly results = h('div', { class: 'compare-results', testid: 'compare-results' });
  private readonly chart = new LiveChart({
    title: 'Loss: MCC-KD vs. baseline (the seed under way)',
    testid: 'compare-chart',
    yLabel: 'loss (nats/token)',
    rightLabel: 'KL (nats)',
    // the page's colours: they follow the light or dark theme
    series: [
      { label: 'MCC-KD total', stroke: 'var(--a)' },
      { label: 'MCC-KD CE', stroke: 'var(--a)', dash: [6, 4] },
      { label: 'baseline total (= CE)', stroke: 'var(--b)' },
      { label: 'MCC-KD KL (right axis)', stroke: 'var(--chart-kl)', right: true },
    ],
  });
  /** Accuracy checks while training, both runs of the seed under way;
   * shown from the first check (none without held-out questions). */
  private readonly accChart = new LiveChart({
    title: 'Accuracy on held-out questions while training (the seed under way)',
    testid: 'compare-accuracy-chart',
    height: 200,
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    points: true,
    series: [
      { label: 'MCC-KD', stroke: 'var(--a)', width: 2 },
      { label: 'baseline', stroke: 'var(--b)', width: 2, dash: [6, 4] },
    ],
  });
  private readonly cells = {
    mcckd: {
      acc: h('output', { testid: 'compare-mcckd-accuracy', text: '–' }),
      loss: h('span', { text: '–' }),
      note: h('span', { text: '' }),
    },
    baseline: {
      acc: h('output', { testid: 'compare-baseline-accuracy', text: '–' }),
      loss: h('span', { text: '–' }),
      note: h('span', { text: '' }),
    },
  };
  /** The run under way, from its compare-run event. */
  private current: { label: Label; seed: number; seedIndex: number; seeds: number } | undefined;
  private phase = '';
  /** Seeds asked for by the comparison under way. */
  private asked = 1;
  /** Events reach the page through their own message port, so the last
   * ones can come after the result: once it is shown, they are old news. */
  private finished = false;

  constructor(private readonly handlers: CompareHandlers) {
    this.button = h('button', {
      text: 'Compare MCC-KD with the baseline',
      testid: 'compare-run',
      class: 'primary',
      attrs: { type: 'button' },
      on: { click: handlers.run },
    });
    const helpId = nextId('compare-seeds-help');
    this.seedsInput = h('input', {
      testid: 'compare-seeds',
      attrs: {
        id: nextId('compare-seeds'),
        type: 'text',
        inputmode: 'numeric',
        autocomplete: 'off',
        spellcheck: 'false',
        'aria-describedby': `${helpId} ${this.seedsError.id}`,
      },
      on: {
        input: () => this.refreshPlan(false),
        change: () => this.refreshPlan(true),
      },
    });
    const col = (title: string, c: (typeof this.cells)['mcckd']): HTMLElement =>
      h(
        'div',
        { class: 'compare-col' },
        h('h3', { text: title }),
        h('p', {}, 'Accuracy: ', c.acc),
        h('p', {}, 'Final loss: ', c.loss),
        h('p', { class: 'muted' }, c.note),
      );
    this.el = h(
      'div',
      { class: 'compare' },
      h(
        'p',
        {},
        'Trains two models one after the other with the settings above: MCC-KD with your α, then the baseline with α = 0 (same data, same seed), and evaluates both with the Evaluation settings. With several seeds it does so for each seed, and reports the mean ± standard deviation over seeds and the differences seed by seed, as ',
        h('code', { text: 'mcckd experiment' }),
        ' does.',
      ),
      h(
        'div',
        { class: 'field compare-seeds' },
        h('label', { attrs: { for: this.seedsInput.id }, text: 'Seeds' }),
        this.seedsInput,
        h('small', {
          attrs: { id: helpId },
          text: `Comma-separated whole numbers, e.g. 1, 2, 3 (at most ${MAX_COMPARE_SEEDS}). Empty: the seed in the settings.`,
        }),
        this.seedsError,
      ),
      this.planLine,
      h('div', { class: 'buttons' }, this.button),
      this.progress,
      this.seedLine,
      this.announce,
      h('div', { class: 'compare-cols' }, col('MCC-KD', this.cells.mcckd), col('Baseline (α = 0)', this.cells.baseline)),
      this.chart.el,
      this.accChart.el,
      this.results,
    );
    this.refreshPlan(false);
  }

  setEnabled(v: boolean): void {
    this.button.disabled = !v;
  }

  /** The seeds to run, or undefined (the field then says what is wrong). */
  seeds(settingsSeed: number): number[] | undefined {
    const p = parseSeeds(this.seedsInput.value, settingsSeed);
    this.showError(p.ok ? '' : p.error);
    if (p.ok) return p.seeds;
    this.seedsInput.focus();
    return undefined;
  }

  /** The "what will run" line, after a change to the seeds or the settings;
   * `strict` also shows a problem with the seeds (not while typing). */
  refreshPlan(strict = false): void {
    const plan = this.handlers.plan();
    const p = parseSeeds(this.seedsInput.value, plan?.seed ?? 0);
    if (p.ok || strict) this.showError(p.ok ? '' : p.error);
    this.seedsInput.placeholder = plan ? `${plan.seed} (the settings’ seed)` : 'the settings’ seed';
    if (!plan) this.planLine.textContent = 'Fix the settings above to see what will run.';
    else if (p.ok) this.planLine.textContent = `${planText(p.seeds.length, plan.length)}.`;
  }

  private showError(msg: string): void {
    this.seedsError.textContent = msg;
    this.seedsError.hidden = msg === '';
    if (msg) this.seedsInput.setAttribute('aria-invalid', 'true');
    else this.seedsInput.removeAttribute('aria-invalid');
  }

  /** A comparison of `seeds` seeds begins. */
  reset(seeds = 1): void {
    this.asked = seeds;
    this.finished = false;
    this.current = undefined;
    this.phase = '';
    this.progress.textContent = '';
    this.announce.textContent = '';
    this.seedLine.textContent = '';
    this.results.replaceChildren();
    this.resetSeed();
  }

  /** A new seed: the chart and the columns start over. */
  private resetSeed(): void {
    this.chart.reset();
    this.accChart.reset();
    this.accChart.el.hidden = true;
    for (const c of Object.values(this.cells)) {
      c.acc.textContent = '–';
      c.loss.textContent = '–';
      c.note.textContent = '';
    }
  }

  handle(e: TrainEvent): void {
    if (this.finished) return;
    if (e.type === 'compare-run') {
      if (e.label === 'mcckd' && this.current && this.current.seed !== e.seed) this.resetSeed();
      this.current = { label: e.label, seed: e.seed, seedIndex: e.seedIndex, seeds: e.seeds };
      this.seedLine.textContent = e.seeds > 1 ? `Seed ${e.seed} (${e.seedIndex + 1} of ${e.seeds}):` : `Seed ${e.seed}:`;
      this.announce.textContent = `Seed ${e.seedIndex + 1} of ${e.seeds}: training ${NAMES[e.label]}`;
      this.setPhase('preparing');
      return;
    }
    if (e.type === 'start' && (e.info.label === 'mcckd' || e.info.label === 'baseline')) {
      // both runs of a seed train the same steps: the axes span them from the start
      for (const chart of [this.chart, this.accChart]) chart.setSteps(e.info.startStep, e.info.totalSteps);
      return;
    }
    if (!('label' in e) || (e.label !== 'mcckd' && e.label !== 'baseline')) return;
    const c = this.cells[e.label];
    if (e.type === 'step') {
      this.setPhase(`training step ${e.step} / ${e.totalSteps}`);
      if (!e.metrics) return;
      const m = e.metrics;
      if (e.label === 'mcckd') {
        this.chart.set(m.step, 0, m.loss);
        this.chart.set(m.step, 1, m.ce);
        this.chart.set(m.step, 3, m.kl);
      } else this.chart.set(m.step, 2, m.loss);
      c.loss.textContent = formatNumber(m.loss);
    } else if (e.type === 'accuracy') {
      this.accChart.el.hidden = false;
      this.accChart.set(e.step, e.label === 'mcckd' ? 0 : 1, 100 * e.accuracy);
    } else if (e.type === 'eval') {
      this.setPhase(e.result ? 'evaluated' : `evaluating ${e.done} / ${e.total}`);
      if (e.result) this.showAccuracy(e.label, e.result);
      else c.acc.textContent = `evaluating ${e.done}/${e.total}`;
    } else if (e.type === 'status') {
      c.note.textContent = e.message ? `${e.status}: ${e.message}` : e.status;
      if (e.status === 'preparing' || e.status === 'paused' || e.status === 'stopped' || e.status === 'failed') this.setPhase(e.status);
    } else if (e.type === 'note' && e.level === 'error') {
      c.note.textContent = e.message;
    }
  }

  /** "seed 2 of 3 · baseline: training step 40 / 200". */
  private setPhase(phase: string): void {
    const cur = this.current;
    if (!cur || phase === this.phase) return;
    this.phase = phase;
    this.progress.textContent = `seed ${cur.seedIndex + 1} of ${cur.seeds} · ${NAMES[cur.label]}: ${phase}`;
  }

  private showAccuracy(label: Label, r: EvalResultView): void {
    this.cells[label].acc.textContent = accuracyText(r);
  }

  finish(r: CompareResult): void {
    this.finished = true;
    // the columns show the seed the chart shows: the last one begun
    const seed = r.runs[r.runs.length - 1]?.seed;
    for (const run of r.runs) if (run.seed === seed && run.eval) this.showAccuracy(run.label, run.eval);
    const trained = r.report.runs.length;
    this.progress.textContent = `${trained} of ${2 * this.asked} runs finished`;
    this.announce.textContent = `Comparison over: ${this.progress.textContent}`;
    this.phase = '';
    if (trained === 0) {
      this.results.replaceChildren(h('p', { class: 'muted', text: 'No run finished: nothing to report.' }));
      return;
    }
    const paired = pairedTable(r.report);
    this.results.replaceChildren(
      h('h3', { text: 'Report' }),
      table(summaryTable(r.report), 'compare-summary'),
      paired ? table(paired, 'compare-paired') : '',
      h(
        'div',
        { class: 'buttons' },
        downloadButton('report.md', 'compare-download-md', () => reportMarkdown(r.report), 'text/markdown'),
        downloadButton('report.json', 'compare-download-json', () => JSON.stringify(r.report, null, 1), 'application/json'),
        downloadButton('curves.svg', 'compare-download-svg', () => curvesSvg(r.report), 'image/svg+xml'),
      ),
      h(
        'p',
        { class: 'muted' },
        'The same files as ',
        h('code', { text: 'mcckd experiment' }),
        ' writes, made in this page: nothing is sent anywhere.',
      ),
    );
  }
}

/** A table whose first column and first row are headers. */
function table(t: TextTable, testid: string): HTMLElement {
  const head = h('tr', {}, ...t.head.map((x) => h('th', { text: x, attrs: { scope: 'col' } })));
  const rows = t.rows.map(([first, ...rest]) =>
    h('tr', {}, h('th', { text: first, attrs: { scope: 'row' } }), ...rest.map((x) => h('td', { text: x }))),
  );
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', { class: 'compare-table', testid }, h('caption', { text: t.caption }), h('thead', {}, head), h('tbody', {}, ...rows)),
  );
}

function downloadButton(fileName: string, testid: string, text: () => string, type: string): HTMLElement {
  return h('button', {
    text: `Download ${fileName}`,
    class: 'small secondary',
    testid,
    attrs: { type: 'button' },
    on: { click: () => download(fileName, text(), type) },
  });
}

/** Text made in the page as a file download (a blob: URL, nothing leaves). */
function download(fileName: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { attrs: { href: url, download: fileName } });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
