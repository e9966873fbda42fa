// Live line charts (uPlot). Points arrive at most once per step, but drawing
// is batched to one redraw per animation frame, so a fast backend can't make
// the page janky.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h, perFrame } from './dom';

export interface SeriesSpec {
  label: string;
  stroke: string;
  dash?: number[];
  /** Right-hand axis (e.g. the KL term, much smaller than CE). */
  right?: boolean;
}

export interface ChartOptions {
  title: string;
  series: SeriesSpec[];
  height?: number;
  /** Log-scaled y (losses span orders of magnitude early on). */
  log?: boolean;
  testid?: string;
  /** Axis text size in px (bigger for the classroom projector). */
  fontSize?: number;
}

export class LiveChart {
  readonly el: HTMLElement;
  private readonly rows = new Map<number, (number | null)[]>();
  private sorted = true;
  private lastX = -Infinity;
  private plot: uPlot | undefined;
  private readonly schedule = perFrame(() => this.draw());
  private resizeFrame = 0;
  private readonly observer: ResizeObserver;

  constructor(private readonly opts: ChartOptions) {
    this.el = h('figure', { class: 'chart', testid: opts.testid }, h('figcaption', { text: opts.title }));
    // Resizing the plot inside the observer's callback resizes the figure in
    // the same frame: the browser then reports a "ResizeObserver loop" error.
    // The next animation frame is soon enough.
    this.observer = new ResizeObserver(() => {
      if (this.resizeFrame) return;
      this.resizeFrame = requestAnimationFrame(() => {
        this.resizeFrame = 0;
        this.resize();
      });
    });
    this.observer.observe(this.el);
  }

  private width(): number {
    return Math.max(240, Math.floor(this.el.clientWidth || 480));
  }

  private ensurePlot(): uPlot {
    if (this.plot) return this.plot;
    const { series, log } = this.opts;
    const hasRight = series.some((s) => s.right);
    const px = this.opts.fontSize ?? 12;
    const font = `${px}px system-ui, sans-serif`;
    const axisStyle = {
      stroke: '#111418',
      font,
      labelFont: `bold ${font}`,
      size: px * 3.5,
      grid: { stroke: 'rgba(127,127,127,0.25)' },
      ticks: { stroke: 'rgba(127,127,127,0.4)' },
    };
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.opts.height ?? 220,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, y: log ? { distr: 3 } : {}, ...(hasRight ? { r: {} } : {}) },
        axes: [
          { ...axisStyle, label: 'step' },
          { ...axisStyle },
          // Small values (the KL term is often ~1e-3): two significant digits, not "0.00".
          ...(hasRight ? [{ ...axisStyle, scale: 'r', side: 1 as const, grid: { show: false }, values: (_u: uPlot, splits: number[]) => splits.map((v) => (v === 0 ? '0' : Math.abs(v) < 0.01 ? v.toExponential(0) : String(Number(v.toPrecision(2))))) }] : []),
        ],
        series: [
          { label: 'step' },
          ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, dash: s.dash, spanGaps: true, scale: s.right ? 'r' : 'y' })),
        ],
      },
      [[], ...series.map(() => [])],
      this.el,
    );
    return this.plot;
  }

  /** Sets series `i` at x (other series keep their value at x). */
  set(x: number, i: number, y: number | null | undefined): void {
    if (y === undefined || (y !== null && !Number.isFinite(y))) return;
    if (this.opts.log && y !== null && y <= 0) return; // a log axis has no zero
    let row = this.rows.get(x);
    if (!row) {
      row = this.opts.series.map(() => null);
      this.rows.set(x, row);
      if (x < this.lastX) this.sorted = false;
      this.lastX = Math.max(this.lastX, x);
    }
    row[i] = y;
    this.schedule();
  }

  /** Adds one point per series at x. */
  push(x: number, ys: (number | null | undefined)[]): void {
    ys.forEach((y, i) => this.set(x, i, y));
  }

  reset(): void {
    this.rows.clear();
    this.sorted = true;
    this.lastX = -Infinity;
    this.schedule();
  }

  get size(): number {
    return this.rows.size;
  }


  private draw(): void {
    let xs = [...this.rows.keys()];
    if (!this.sorted) {
      xs.sort((a, b) => a - b);
      const rebuilt = new Map(xs.map((x) => [x, this.rows.get(x) as (number | null)[]]));
      this.rows.clear();
      for (const [x, r] of rebuilt) this.rows.set(x, r);
      this.sorted = true;
      xs = [...this.rows.keys()];
    }
    const columns = this.opts.series.map((_, i) => xs.map((x) => (this.rows.get(x) as (number | null)[])[i]));
    this.ensurePlot().setData([xs, ...columns] as uPlot.AlignedData);
  }

  private resize(): void {
    if (!this.plot) return;
    const w = this.width();
    if (w !== this.plot.width) this.plot.setSize({ width: w, height: this.opts.height ?? 220 });
  }
}
