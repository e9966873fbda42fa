// The classroom demo: one button trains a small model on the demo data and
// shows, for one question, the student's answer distributions after two
// different rationales. As the KL term falls the two sets of bars move toward
// each other. A presenter layout: large type, the question, both
// explanations, both distributions (the correct answer marked), the agreement
// as a gauge in words and the accuracy so far, all on one screen of a
// projector (1024x768); the loss charts below.

import type { AccuracyPoint, DistEvent, TrainEvent } from '../worker/protocol';
import { accuracySoFar, agreement } from './agreement';
import { LiveChart } from './charts';
import { formatNumber, formatPercent, h } from './dom';
import { accuracyChart } from './training';

interface ClassroomHandlers {
  pauseOrResume(): void;
  stop(): void;
  leave(): void;
}

/** Visible form of a token: spaces and newlines shown, not collapsed. The
 * hex bytes of a partial character ("⟨E2 82⟩", see core bytesLabel) keep
 * their space. */
function showToken(t: string): string {
  const s = t
    .split(/(⟨[0-9A-F ]+⟩)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/\n/g, '↵').replace(/ /g, '␣')))
    .join('');
  return s === '' ? '∅' : s;
}

interface BarRow {
  el: HTMLElement;
  label: HTMLElement;
  mark: HTMLElement;
  a: HTMLElement;
  b: HTMLElement;
  pa: HTMLElement;
  pb: HTMLElement;
}

export class ClassroomView {
  readonly el: HTMLElement;
  private readonly question = h('p', { class: 'cls-question', testid: 'classroom-question' });
  private readonly ratA = h('p', { class: 'cls-rationale a' });
  private readonly ratB = h('p', { class: 'cls-rationale b' });
  private readonly bars = h('div', { class: 'cls-bars', testid: 'classroom-bars' });
  private readonly answer = h('strong', { class: 'tok-inline' });
  private readonly kl = h('output', { class: 'cls-kl', testid: 'classroom-kl', text: '–' });
  private readonly gaugeFill = h('span', { class: 'gauge-fill' });
  private readonly gauge = h(
    'div',
    {
      class: 'gauge',
      testid: 'classroom-gauge',
      attrs: {
        role: 'meter',
        'aria-labelledby': 'cls-agree-title',
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': 0,
        'aria-valuetext': 'not measured yet',
      },
    },
    this.gaugeFill,
  );
  private readonly agreeWords = h('p', { class: 'cls-agree-words', testid: 'classroom-agreement', text: '–' });
  private readonly agreeCaveat = h('p', { class: 'cls-agree-caveat', testid: 'classroom-agreement-caveat' });
  private readonly agreeDetail = h('span', {});
  private readonly accuracyNow = h('p', {
    class: 'cls-acc-now pending',
    testid: 'classroom-accuracy-now',
    text: accuracySoFar(undefined, false),
  });
  private readonly step = h('span', { testid: 'classroom-step', text: '–' });
  // running / paused / done: a live region; the step counter beside it is not
  // (a screen reader would read every step)
  private readonly status = h('span', { testid: 'classroom-status', text: 'starting…', attrs: { 'aria-live': 'polite' } });
  readonly pauseButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly fullButton: HTMLButtonElement;
  private readonly scaleNote = h('p', { class: 'muted cls-scale' });
  private readonly charts = h('div', { class: 'cls-charts' });
  // The classroom sees accuracy climb too; shown from the first check on (a
  // run too short for one would put an empty chart on the projector).
  private readonly accuracyChart = accuracyChart({ testid: 'classroom-accuracy', fontSize: 18, height: 300 });
  private readonly chart = new LiveChart({
    title: 'Loss while training',
    testid: 'classroom-chart',
    height: 300,
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
  private latestAccuracy: AccuracyPoint | undefined;
  private over = false;
  private pausing = false;
  private firstStep = false;
  private frame = 0;
  private barRows: BarRow[] = [];

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
    const leave = (): void => {
      if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
      handlers.leave();
    };
    this.pauseButton = h('button', { text: 'Pause', testid: 'classroom-pause', attrs: { type: 'button' }, on: { click: pauseOrResume } });
    this.stopButton = h('button', { text: 'Stop', testid: 'classroom-stop', attrs: { type: 'button' }, on: { click: handlers.stop } });
    this.fullButton = h('button', {
      text: 'Full screen',
      testid: 'classroom-fullscreen',
      class: 'secondary',
      attrs: { type: 'button' },
      on: { click: () => this.toggleFullscreen() },
    });
    // Browsers (and iframes) without the Fullscreen API get no button that does nothing.
    this.fullButton.hidden = typeof document.fullscreenEnabled !== 'boolean' || !document.fullscreenEnabled;
    document.addEventListener('fullscreenchange', () => {
      this.fullButton.textContent = document.fullscreenElement === this.el ? 'Exit full screen' : 'Full screen';
    });
    this.chart.el.classList.add('cls-loss');
    this.accuracyChart.el.hidden = true;
    this.charts.append(this.chart.el, this.accuracyChart.el);
    this.el = h(
      'section',
      // The page's main content while it is shown (the usual <main> is hidden then).
      { class: 'classroom', testid: 'classroom', attrs: { 'aria-labelledby': 'classroom-title', role: 'main' } },
      h(
        'div',
        { class: 'cls-head' },
        h(
          'div',
          {},
          h('h2', { attrs: { id: 'classroom-title' }, text: 'Two explanations, one answer?' }),
          h('p', { class: 'cls-status' }, 'Step ', this.step, ' · ', this.status),
        ),
        h(
          'div',
          { class: 'buttons' },
          this.pauseButton,
          this.stopButton,
          this.fullButton,
          h('button', { text: 'Leave the demo', class: 'secondary', attrs: { type: 'button' }, on: { click: leave } }),
        ),
      ),
      this.question,
      h(
        'div',
        { class: 'cls-rationales' },
        h('div', {}, h('h3', { class: 'a', text: 'Explanation A' }), this.ratA),
        h('div', {}, h('h3', { class: 'b', text: 'Explanation B' }), this.ratB),
      ),
      h(
        'div',
        { class: 'cls-main' },
        h(
          'div',
          { class: 'cls-dist' },
          h('h3', { text: 'What the student would answer' }),
          h(
            'p',
            { class: 'cls-legend' },
            h('span', {}, h('span', { class: 'swatch a' }), ' after explanation A'),
            h('span', {}, h('span', { class: 'swatch b' }), ' after explanation B'),
            h('span', {}, h('span', { class: 'check', text: '✓' }), ' correct answer: ', this.answer),
          ),
          this.bars,
          this.scaleNote,
        ),
        h(
          'div',
          { class: 'cls-side' },
          h(
            'div',
            { class: 'cls-agree' },
            h('h3', { attrs: { id: 'cls-agree-title' }, text: 'Same answer after A and B?' }),
            this.gauge,
            h(
              'div',
              { class: 'gauge-scale', attrs: { 'aria-hidden': 'true' } },
              h('span', { text: 'disagree' }),
              h('span', { text: 'agree' }),
            ),
            this.agreeWords,
            this.agreeCaveat,
            h(
              'p',
              { class: 'cls-agree-detail muted' },
              this.agreeDetail,
              h('span', { class: 'cls-kl-line' }, 'Disagreement (KL): ', this.kl),
            ),
          ),
          h('div', { class: 'cls-acc' }, h('h3', { text: 'Accuracy so far' }), this.accuracyNow),
        ),
      ),
      this.charts,
    );
  }

  private toggleFullscreen(): void {
    const done = (): void => undefined; // a refused request leaves the page as it was
    if (document.fullscreenElement) void document.exitFullscreen().catch(done);
    else void this.el.requestFullscreen().catch(done);
  }

  reset(): void {
    this.chart.reset();
    this.latest = undefined;
    this.latestAccuracy = undefined;
    this.over = false;
    this.barRows = [];
    this.bars.replaceChildren();
    this.question.textContent = '';
    this.ratA.textContent = '';
    this.ratB.textContent = '';
    this.answer.textContent = '';
    this.kl.textContent = '–';
    this.setGauge(undefined);
    this.showAccuracy();
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
      // the step axes span the whole run from the start
      this.chart.setSteps(e.info.startStep, e.info.totalSteps);
      this.accuracyChart.reset();
      this.accuracyChart.el.hidden = true;
      this.accuracyChart.setSteps(e.info.startStep, e.info.totalSteps);
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
      if (!this.pausing)
        this.status.textContent =
          e.status === 'running' && this.firstStep
            ? 'running: first step (compiling GPU programs)…'
            : e.message
              ? `${e.status}: ${e.message}`
              : e.status;
      this.setPaused(e.status === 'paused');
      // A finished run has nothing left to pause or stop.
      this.over = e.status === 'done' || e.status === 'stopped' || e.status === 'failed';
      this.pauseButton.disabled = this.over || this.pausing;
      this.stopButton.disabled = this.over;
      this.showAccuracy();
    } else if (e.type === 'accuracy') {
      this.accuracyChart.el.hidden = false;
      this.accuracyChart.push(e.step, [100 * e.accuracy]);
      this.latestAccuracy = e;
      this.showAccuracy();
    } else if (e.type === 'dist') {
      this.latest = e;
      if (!this.frame) this.frame = requestAnimationFrame(() => this.drawDist());
    }
  }

  private showAccuracy(): void {
    this.accuracyNow.textContent = accuracySoFar(this.latestAccuracy, this.over);
    // the promise of a check is not a result: smaller, so it is not misread as one
    this.accuracyNow.classList.toggle('pending', !this.latestAccuracy);
  }

  private setGauge(overlap: number | undefined, top?: number): void {
    this.agreeCaveat.textContent = '';
    if (overlap === undefined) {
      this.gauge.setAttribute('aria-valuenow', '0');
      this.gauge.setAttribute('aria-valuetext', 'not measured yet');
      this.gaugeFill.style.width = '0';
      this.agreeWords.textContent = '–';
      this.agreeDetail.textContent = '';
      return;
    }
    const a = agreement(overlap, top);
    this.agreeCaveat.textContent = a.caveat;
    // rounded down like agreement's words: a full gauge means identical
    const pct = Number.isFinite(overlap) ? Math.max(0, Math.min(100, Math.floor(overlap * 1000) / 10)) : 0;
    this.gauge.setAttribute('aria-valuenow', String(pct));
    this.gauge.setAttribute('aria-valuetext', a.level < 0 ? a.detail : `${pct}%: ${a.words}`);
    this.gaugeFill.style.width = `${pct}%`;
    this.agreeWords.textContent = a.level < 0 ? 'Could not compare' : `They ${a.words}`;
    this.agreeDetail.textContent = `${a.detail}.`;
  }

  /** Rows of bars for the first answer token: the top tokens and the
   * correct one, with P (after A) and Q (after B). Widths change through a
   * CSS transition, so the bars visibly glide toward each other. */
  private drawDist(): void {
    this.frame = 0;
    const d = this.latest;
    if (!d) return;
    if (this.question.textContent !== d.question) {
      this.question.textContent = d.question;
      this.ratA.textContent = d.rationales[0];
      this.ratB.textContent = d.rationales[1];
      this.answer.textContent = d.answer;
    }
    const p = d.p[0] ?? [];
    const q = d.q[0] ?? [];
    const n = Math.max(p.length, q.length);
    if (this.barRows.length !== n) {
      this.barRows = [];
      this.bars.replaceChildren();
      for (let k = 0; k < n; k++) {
        const row: BarRow = {
          el: h('div', { class: 'bar-row', attrs: { role: 'group' } }),
          label: h('span', { class: 'tok' }),
          mark: h('span', { class: 'cls-correct', text: '✓ correct' }),
          a: h('span', { class: 'bar a' }),
          b: h('span', { class: 'bar b' }),
          pa: h('span', { class: 'pct' }),
          pb: h('span', { class: 'pct' }),
        };
        row.el.append(
          h('div', { class: 'tok-cell' }, row.label, row.mark),
          h('div', { class: 'bar-pair' }, h('div', { class: 'bar-line' }, row.a, row.pa), h('div', { class: 'bar-line' }, row.b, row.pb)),
        );
        this.barRows.push(row);
        this.bars.append(row.el);
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
      const token = showToken(d.tokens[k] ?? `#${k}`);
      const correct = k === d.correct;
      row.label.textContent = token;
      row.label.title = token;
      row.el.classList.toggle('correct', correct);
      if (correct) row.el.dataset.testid = 'classroom-correct-row';
      else delete row.el.dataset.testid;
      row.mark.hidden = !correct;
      row.el.setAttribute(
        'aria-label',
        `${token}${correct ? ' (the correct answer)' : ''}: ${formatPercent(pa)} after A, ${formatPercent(pb)} after B`,
      );
      // the percentage beside each bar keeps 5rem of the line
      row.a.style.width = `calc((100% - 5rem) * ${(pa / top).toFixed(4)})`;
      row.b.style.width = `calc((100% - 5rem) * ${(pb / top).toFixed(4)})`;
      row.pa.textContent = formatPercent(pa);
      row.pb.textContent = formatPercent(pb);
    });
    this.kl.textContent = formatNumber(d.kl, 3);
    this.setGauge(d.overlap, top);
  }
}
