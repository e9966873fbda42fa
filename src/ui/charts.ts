// Live line charts (uPlot). Points arrive at most once per step, but drawing
// is batched to one redraw per animation frame, so a fast backend can't make
// the page janky.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h, perFrame } from './dom';

interface SeriesSpec {
  label: string;
  /** A colour, or a CSS custom property of the page (`var(--a)`), so the
   * canvas follows the light or dark theme. */
  stroke: string;
  dash?: number[];
  width?: number;
  /** Right-hand axis (e.g. the KL term, much smaller than CE). */
  right?: boolean;
}

interface ChartOptions {
  title: string;
  series: SeriesSpec[];
  height?: number;
  /** Log-scaled y (losses span orders of magnitude early on). */
  log?: boolean;
  testid?: string;
  /** Axis text size in px (bigger for the classroom projector). */
  fontSize?: number;
  /** Axis titles, with units. */
  yLabel?: string;
  rightLabel?: string;
  /** A fixed y range (a percentage: 0 to 100), instead of the data's. */
  yRange?: [number, number];
  /** Draw a dot at every point (sparse series: a few checks in a run). */
  points?: boolean;
}

/** Tick labels in one style per axis: plain decimals with as many digits as
 * the tick spacing needs, or, when every value is tiny (the KL term, a
 * learning rate), exponents throughout. Mixing "0.01" and "8e-3" on one
 * axis reads as two scales. */
function formatTicks(splits: number[]): string[] {
  const finite = splits.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return splits.map(String);
  const maxAbs = Math.max(...finite.map(Math.abs));
  const spacing = finite.length > 1 ? Math.abs(finite[1] - finite[0]) : maxAbs || 1;
  if (maxAbs > 0 && (maxAbs < 0.01 || maxAbs >= 1e6)) {
    const exp = Math.floor(Math.log10(maxAbs));
    const digits = Math.max(0, Math.min(3, Math.ceil(-Math.log10(spacing / 10 ** exp) - 1e-9)));
    return splits.map((v) => (v === 0 ? '0' : v.toExponential(digits)));
  }
  const decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(spacing) - 1e-9)));
  return splits.map((v) => v.toLocaleString('en', { minimumFractionDigits: decimals, maximumFractionDigits: decimals }));
}

/** A legend or readout value: four significant digits, exponent when tiny. */
function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v !== 0 && Math.abs(v) < 0.01) return v.toExponential(2);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en');
  return String(Number(v.toPrecision(4)));
}

/** Step counts are whole numbers: no 1.25 or 1.5 on the step axis. */
const STEP_INCRS = [
  1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
];

function cssColor(c: string): string {
  const m = /^var\((--[\w-]+)\)$/.exec(c);
  if (!m) return c;
  return getComputedStyle(document.documentElement).getPropertyValue(m[1]).trim() || '#888';
}

export class LiveChart {
  readonly el: HTMLElement;
  /** The newest values in words, for screen readers (the canvas has none). */
  private readonly summary = h('p', { class: 'visually-hidden' });
  /** What an empty chart waits for, shown until its first point (setEmptyText). */
  private readonly empty = h('p', { class: 'chart-empty muted', attrs: { hidden: true } });
  private readonly rows = new Map<number, (number | null)[]>();
  private sorted = true;
  private lastX = -Infinity;
  private plot: uPlot | undefined;
  private readonly schedule = perFrame(() => this.draw());
  private resizeFrame = 0;
  private readonly observer: ResizeObserver;
  private xFrom = 0;
  private xTo = 1;

  constructor(private readonly opts: ChartOptions) {
    this.el = h('figure', { class: 'chart', testid: opts.testid }, h('figcaption', { text: opts.title }), this.empty, this.summary);
    // Resizing the plot inside the observer's callback resizes the figure in
    // the same frame: the browser then reports a "ResizeObserver loop" error.
    // The next animation frame is soon enough. The first size also creates
    // the plot, so axes show before the first point.
    this.observer = new ResizeObserver(() => {
      if (this.resizeFrame) return;
      this.resizeFrame = requestAnimationFrame(() => {
        this.resizeFrame = 0;
        if (!this.plot && this.el.clientWidth > 0) this.draw();
        else this.resize();
      });
    });
    this.observer.observe(this.el);
    // Canvas colours are fixed when the plot is made: a switch between the
    // light and dark theme remakes it.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      if (!this.plot) return;
      this.plot.destroy();
      this.plot = undefined;
      this.draw();
    });
  }

  private width(): number {
    // The figure's width, never more: a plot wider than its column widens
    // the page on a phone.
    return Math.max(160, Math.floor(this.el.clientWidth || 480));
  }

  private ensurePlot(): uPlot {
    if (this.plot) return this.plot;
    const { series, log } = this.opts;
    const hasRight = series.some((s) => s.right);
    const px = this.opts.fontSize ?? 12;
    const font = `${px}px system-ui, sans-serif`;
    const fg = cssColor('var(--fg)');
    const valueSize = (u: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number => {
      const axis = u.axes[axisIdx] as uPlot.Axis & { _size?: number; font: [string, number] | string };
      if (cycleNum > 1 && axis._size) return axis._size;
      let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 6;
      const longest = (values ?? []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), '');
      if (longest) {
        u.ctx.font = Array.isArray(axis.font) ? axis.font[0] : font;
        size += u.ctx.measureText(longest).width / devicePixelRatio;
      }
      return Math.ceil(size);
    };
    const axisStyle = {
      stroke: fg,
      font,
      labelFont: `bold ${font}`,
      labelSize: px * 1.6,
      grid: { stroke: 'rgba(127,127,127,0.25)' },
      ticks: { stroke: 'rgba(127,127,127,0.4)' },
    };
    const yRange = (_u: uPlot, min: number | null, max: number | null): [number, number] => {
      if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
      const r = uPlot.rangeNum(min, max, 0.1, true);
      return [r[0] ?? min, r[1] ?? max];
    };
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.opts.height ?? 220,
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: {
            time: false,
            range: (_u, min, max) => [Math.min(this.xFrom, min ?? this.xFrom), Math.max(this.xTo, max ?? this.xTo, this.xFrom + 1)],
          },
          y: log ? { distr: 3 } : { range: this.opts.yRange ? (): [number, number] => this.opts.yRange! : yRange },
          // The right axis (KL, a divergence: never below 0) starts at 0, so its
          // fall toward agreement shows, and its line doesn't trace the
          // left one's when both are scaled to their own extremes.
          ...(hasRight
            ? {
                r: {
                  range: (u: uPlot, min: number | null, max: number | null): [number, number] => [
                    0,
                    yRange(u, Math.min(0, min ?? 0), max)[1],
                  ],
                },
              }
            : {}),
        },
        axes: [
          {
            ...axisStyle,
            label: 'step',
            size: px * 2.6,
            incrs: STEP_INCRS,
            values: (_u: uPlot, splits: number[]) => splits.map((v) => String(Math.round(v))),
          },
          { ...axisStyle, label: this.opts.yLabel, size: valueSize, values: (_u: uPlot, splits: number[]) => formatTicks(splits) },
          ...(hasRight
            ? [
                {
                  ...axisStyle,
                  label: this.opts.rightLabel,
                  scale: 'r',
                  side: 1 as const,
                  grid: { show: false },
                  size: valueSize,
                  values: (_u: uPlot, splits: number[]) => formatTicks(splits),
                },
              ]
            : []),
        ],
        series: [
          { label: 'step', value: (_u: uPlot, v: number | null) => (v === null ? '–' : String(v)) },
          ...series.map((s) => ({
            label: s.label,
            stroke: cssColor(s.stroke),
            width: s.width ?? 2,
            dash: s.dash,
            spanGaps: true,
            ...(this.opts.points ? { points: { show: true, size: 7 } } : {}),
            scale: s.right ? 'r' : 'y',
            value: (_u: uPlot, v: number | null) => formatValue(v),
          })),
        ],
        hooks: {
          // Away from the cursor the legend shows the newest values, not "--".
          setLegend: [
            (u: uPlot) => {
              const n = u.data[0]?.length ?? 0;
              if ((u.legend.idx === null || u.legend.idx === undefined) && n > 0) u.setLegend({ idx: n - 1 }, false);
            },
          ],
        },
      },
      [[], ...series.map(() => [])],
      this.el,
    );
    return this.plot;
  }

  /** The steps the run will cover: the step axis spans them from the start,
   * so the line grows across a chart whose axes are already drawn. */
  setSteps(from: number, to: number): void {
    this.xFrom = from;
    this.xTo = Math.max(to, from + 1);
    this.schedule();
  }

  /** Says, while the chart has no point, when its first one comes ('' for nothing). */
  setEmptyText(text: string): void {
    this.empty.textContent = text;
    this.schedule();
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
    ys.forEach((y, i) => {
      this.set(x, i, y);
    });
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
    const plot = this.ensurePlot();
    plot.setData([xs, ...columns] as uPlot.AlignedData);
    if (xs.length > 0 && (plot.cursor.idx === null || plot.cursor.idx === undefined)) plot.setLegend({ idx: xs.length - 1 }, false);
    const last = xs.length - 1;
    this.empty.hidden = last >= 0 || this.empty.textContent === '';
    this.summary.textContent =
      last < 0
        ? this.empty.textContent || 'No points yet.'
        : `Step ${xs[last]}: ${this.opts.series.map((s, i) => `${s.label} ${formatValue(columns[i][last])}`).join(', ')}.`;
  }

  private resize(): void {
    if (!this.plot) return;
    const w = this.width();
    if (w !== this.plot.width) this.plot.setSize({ width: w, height: this.opts.height ?? 220 });
  }
}
