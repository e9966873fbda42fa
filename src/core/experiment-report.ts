// An experiment's report: per-run results of (alpha, seed) runs summarised
// as mean ± sample sd over seeds per alpha and as differences to the first
// alpha paired by seed, written as JSON, Markdown and an SVG of the learning
// curves. Pure and browser-safe (no node:, no tfjs): `mcckd experiment` and
// the page's Comparison share it, so both report the same way.

/** Seeds one comparison may run on the page (more would keep it busy for
 * hours on the usual budgets). */
export const MAX_COMPARE_SEEDS = 10;

/** The evaluation of one run on one file. Null: not measured (the page's
 * evaluation failed, or sampled no explanations); the summaries skip it. */
export interface SplitMetrics {
  file: string;
  total: number;
  accuracy: number | null;
  majorityAccuracy: number | null;
  agreement: number | null;
  sampleAccuracy: number | null;
  answered: number | null;
  answerKL: number | null;
}

/** One trained and evaluated (alpha, seed) run. */
export interface ExperimentRun {
  name: string;
  alpha: number;
  seed: number;
  steps: number;
  trainSeconds: number;
  final: { loss: number; ce: number; kl: number };
  curve: { step: number; loss: number; ce: number; kl: number }[];
  evalCurve: { step: number; accuracy: number }[];
  id: SplitMetrics;
  ood?: SplitMetrics;
}

export interface Stat {
  mean: number | null;
  sd: number | null;
  n: number;
}

/** Metrics reported per run, as paths into ExperimentRun; the consistency
 * ones only when explanations were sampled. */
export function metricNames(hasOod: boolean, hasConsistency = true): string[] {
  const split = ['accuracy', ...(hasConsistency ? ['majorityAccuracy', 'agreement', 'sampleAccuracy', 'answered', 'answerKL'] : [])];
  return ['final.loss', 'final.ce', 'final.kl', ...split.map((m) => `id.${m}`), ...(hasOod ? split.map((m) => `ood.${m}`) : [])];
}

function metricOf(r: ExperimentRun, name: string): number | null {
  let v: unknown = r;
  for (const k of name.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Mean and sample standard deviation (n - 1) of the values that exist; sd
 * is null below two values, the mean below one. */
export function meanSd(xs: readonly (number | null)[]): Stat {
  const v = xs.filter((x): x is number => x !== null);
  const n = v.length;
  if (n === 0) return { mean: null, sd: null, n };
  const mean = v.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : null;
  return { mean, sd, n };
}

export interface Report {
  format: 'mcckd-experiment/1';
  config: {
    data: string;
    eval: string;
    evalOod?: string;
    alphas: number[];
    seeds: number[];
    samples: number;
    sampleTemperature: number;
    sampleSeed: number;
    evalLimit?: number;
    train: Record<string, string | number>;
  };
  runs: ExperimentRun[];
  /** summary[alpha][metric] over seeds. */
  summary: Record<string, Record<string, Stat>>;
  /** paired[alpha][metric]: alpha minus the first alpha, seed by seed, and their mean ± sd. */
  paired: Record<string, Record<string, { diffs: (number | null)[]; stat: Stat }>>;
}

/** The metrics a report with this configuration has. */
export function reportMetrics(c: Report['config']): string[] {
  return metricNames(c.evalOod !== undefined, c.samples >= 2);
}

export function buildReport(config: Report['config'], runs: ExperimentRun[]): Report {
  const names = reportMetrics(config);
  const find = (a: number, s: number): ExperimentRun | undefined => runs.find((r) => r.alpha === a && r.seed === s);
  const summary: Report['summary'] = {};
  const paired: Report['paired'] = {};
  const base = config.alphas[0];
  for (const a of config.alphas) {
    summary[String(a)] = Object.fromEntries(
      names.map((m) => [
        m,
        meanSd(
          config.seeds.map((s) => {
            const r = find(a, s);
            return r ? metricOf(r, m) : null;
          }),
        ),
      ]),
    );
    if (a === base) continue;
    paired[String(a)] = Object.fromEntries(
      names.map((m) => {
        const diffs = config.seeds.map((s) => {
          const r = find(a, s);
          const r0 = find(base, s);
          const x = r ? metricOf(r, m) : null;
          const y = r0 ? metricOf(r0, m) : null;
          return x !== null && y !== null ? x - y : null;
        });
        return [m, { diffs, stat: meanSd(diffs) }];
      }),
    );
  }
  return { format: 'mcckd-experiment/1', config, runs, summary, paired };
}

const fmt = (x: number | null): string => (x === null ? 'n/a' : Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(4));
const pm = (s: Stat): string => (s.mean === null ? 'n/a' : `${fmt(s.mean)} ± ${fmt(s.sd)}`);
const signed = (x: number | null): string => (x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${fmt(x)}`);

/** Markdown cells hold any text safely: no pipes or line breaks. */
const cell = (t: string): string => t.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function reportMarkdown(r: Report): string {
  const c = r.config;
  const names = reportMetrics(c);
  const lines: string[] = [];
  lines.push('# MCC-KD experiment', '');
  lines.push(
    `Teacher data \`${cell(c.data)}\`, in-distribution evaluation \`${cell(c.eval)}\`${c.evalOod ? `, out-of-distribution \`${cell(c.evalOod)}\`` : ''}.`,
  );
  lines.push(
    `Alphas ${c.alphas.join(', ')}; seeds ${c.seeds.join(', ')}; training: ${
      Object.entries(c.train)
        .map(([k, v]) => `--${k} ${cell(String(v))}`)
        .join(' ') || 'defaults'
    }.`,
  );
  const limit = c.evalLimit ? `, first ${c.evalLimit} questions of each file` : '';
  if (c.samples >= 2) {
    lines.push(
      `Evaluation: greedy accuracy and ${c.samples} sampled rationales per question at temperature ${c.sampleTemperature} (seed ${c.sampleSeed})${limit}.`,
    );
    lines.push(
      'Mean ± sample standard deviation (n − 1) over seeds; n/a where a value is missing (answerKL: no question had two samples stating an answer).',
      '',
    );
  } else {
    lines.push(`Evaluation: greedy accuracy${limit}; no sampled rationales.`);
    lines.push('Mean ± sample standard deviation (n − 1) over seeds; n/a where a value is missing.', '');
  }
  lines.push(`| metric | ${c.alphas.map((a) => `alpha ${a}`).join(' | ')} |`);
  lines.push(`| --- | ${c.alphas.map(() => '---').join(' | ')} |`);
  for (const m of names) lines.push(`| ${m} | ${c.alphas.map((a) => pm(r.summary[String(a)][m])).join(' | ')} |`);
  for (const a of c.alphas.slice(1)) {
    lines.push('', `## alpha ${a} − alpha ${c.alphas[0]}, paired by seed`, '');
    lines.push(`| metric | ${c.seeds.map((s) => `seed ${s}`).join(' | ')} | mean ± sd |`);
    lines.push(`| --- | ${c.seeds.map(() => '---').join(' | ')} | --- |`);
    for (const m of names) {
      const p = r.paired[String(a)][m];
      lines.push(
        `| ${m} | ${p.diffs.map(signed).join(' | ')} | ${p.stat.mean === null ? 'n/a' : `${signed(p.stat.mean)} ± ${fmt(p.stat.sd)}`} |`,
      );
    }
  }
  lines.push(
    '',
    '## Runs',
    '',
    '| run | alpha | seed | steps | train s | final loss | id accuracy | ood accuracy |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const x of r.runs)
    lines.push(
      `| ${cell(x.name)} | ${x.alpha} | ${x.seed} | ${x.steps} | ${x.trainSeconds.toFixed(1)} | ${fmt(x.final.loss)} | ${fmt(x.id.accuracy)} | ${x.ood ? fmt(x.ood.accuracy) : 'n/a'} |`,
    );
  return `${lines.join('\n')}\n`;
}

/** Text for XML: the five characters with a meaning there escaped. */
function escapeXml(t: string): string {
  return t.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
/** Runs of two alphas with the same seed can lie on top of each other: the
 * dash tells them apart where the colours mix. */
const DASHES = ['', '7 3', '2 2', '9 3 2 3'];

/** Round steps for an axis from lo to hi (about n ticks). */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** One panel: lines of (x, y) points in a box, with axes, ticks and labels. */
function panel(o: {
  x: number;
  y: number;
  w: number;
  h: number;
  title: string;
  yLabel: string;
  yRange?: [number, number];
  series: { color: string; dash: string; points: [number, number][] }[];
}): string {
  const pts = o.series.flatMap((s) => s.points);
  const out: string[] = [];
  out.push(`<text x="${o.x + o.w / 2}" y="${o.y - 8}" text-anchor="middle" font-size="13">${escapeXml(o.title)}</text>`);
  out.push(`<rect x="${o.x}" y="${o.y}" width="${o.w}" height="${o.h}" fill="none" stroke="#888"/>`);
  if (pts.length === 0) {
    out.push(`<text x="${o.x + o.w / 2}" y="${o.y + o.h / 2}" text-anchor="middle" font-size="12" fill="#888">no points</text>`);
    return out.join('\n');
  }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), ...(o.yRange ?? [Math.min(...ys), Math.max(...ys)])];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (v: number): number => o.x + ((v - x0) / (x1 - x0)) * o.w;
  const sy = (v: number): number => o.y + o.h - ((v - y0) / (y1 - y0)) * o.h;
  for (const t of ticks(x0, x1))
    out.push(
      `<line x1="${sx(t).toFixed(1)}" y1="${o.y + o.h}" x2="${sx(t).toFixed(1)}" y2="${o.y + o.h + 4}" stroke="#888"/><text x="${sx(t).toFixed(1)}" y="${o.y + o.h + 16}" text-anchor="middle" font-size="10">${t}</text>`,
    );
  for (const t of ticks(y0, y1))
    out.push(
      `<line x1="${o.x - 4}" y1="${sy(t).toFixed(1)}" x2="${o.x}" y2="${sy(t).toFixed(1)}" stroke="#888"/><text x="${o.x - 6}" y="${(sy(t) + 3).toFixed(1)}" text-anchor="end" font-size="10">${t}</text>`,
    );
  out.push(`<text x="${o.x + o.w / 2}" y="${o.y + o.h + 32}" text-anchor="middle" font-size="11">step</text>`);
  out.push(
    `<text x="${o.x - 40}" y="${o.y + o.h / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${o.x - 40} ${o.y + o.h / 2})">${escapeXml(o.yLabel)}</text>`,
  );
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.2" stroke-opacity="0.85"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
  }
  return out.join('\n');
}

/** Learning curves: the loss per step of every run (one line each, coloured
 * by alpha) and, when runs were evaluated while training, their accuracy. */
export function curvesSvg(r: Report): string {
  const colorOf = (a: number): string => PALETTE[r.config.alphas.indexOf(a) % PALETTE.length];
  const dashOf = (a: number): string => DASHES[r.config.alphas.indexOf(a) % DASHES.length];
  const withAcc = r.runs.some((x) => x.evalCurve.length > 0);
  const pw = 520;
  const ph = 300;
  const right = withAcc ? 2 * pw + 130 : pw + 60; // where the panels end; the legend goes after
  const width = right + 120;
  const height = ph + 120;
  const parts: string[] = [];
  parts.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
  );
  parts.push(`<title>${escapeXml(`MCC-KD learning curves: ${r.config.data}`)}</title>`);
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(
    panel({
      x: 60,
      y: 40,
      w: pw,
      h: ph,
      title: 'training loss',
      yLabel: 'loss',
      series: r.runs.map((x) => ({
        color: colorOf(x.alpha),
        dash: dashOf(x.alpha),
        points: x.curve.map((p) => [p.step, p.loss] as [number, number]),
      })),
    }),
  );
  if (withAcc)
    parts.push(
      panel({
        x: pw + 130,
        y: 40,
        w: pw,
        h: ph,
        title: 'held-out accuracy while training (greedy)',
        yLabel: 'accuracy',
        yRange: [0, 1],
        series: r.runs.map((x) => ({
          color: colorOf(x.alpha),
          dash: dashOf(x.alpha),
          points: x.evalCurve.map((p) => [p.step, p.accuracy] as [number, number]),
        })),
      }),
    );
  const lx = right + 15;
  r.config.alphas.forEach((a, i) => {
    const dash = dashOf(a) ? ` stroke-dasharray="${dashOf(a)}"` : '';
    parts.push(
      `<line x1="${lx}" y1="${50 + i * 18}" x2="${lx + 24}" y2="${50 + i * 18}" stroke="${colorOf(a)}" stroke-width="2"${dash}/><text x="${lx + 30}" y="${54 + i * 18}" font-size="11">${escapeXml(`alpha ${a}`)}</text>`,
    );
  });
  parts.push(
    `<text x="${width / 2}" y="${height - 10}" text-anchor="middle" font-size="10" fill="#555">${escapeXml(`${r.runs.length} runs; seeds ${r.config.seeds.join(', ')}`)}</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
