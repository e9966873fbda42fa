// The Comparison view's words and numbers, apart from the DOM so that Node
// tests them: the seeds field, the line saying what will run, and the
// report's tables as text cells.

import { MAX_COMPARE_SEEDS, reportMetrics, type Report, type Stat } from '../core/experiment-report';

type SeedsParse = { ok: true; seeds: number[] } | { ok: false; error: string };

/** The seeds field: comma-separated whole numbers, each once; empty means
 * the settings' seed. Errors name the entry at fault. */
export function parseSeeds(text: string, settingsSeed: number): SeedsParse {
  if (text.trim() === '') return { ok: true, seeds: [settingsSeed] };
  const seeds: number[] = [];
  for (const raw of text.split(',')) {
    const t = raw.trim();
    if (t === '') return { ok: false, error: 'seeds: an entry is empty (two commas in a row, or one at an end)' };
    if (!/^[+-]?\d+$/.test(t)) return { ok: false, error: `seeds: '${t}' is not a whole number` };
    const n = Number(t);
    if (n < 0) return { ok: false, error: `seeds: '${t}' is negative; seeds are 0 or more` };
    if (!Number.isSafeInteger(n)) return { ok: false, error: `seeds: '${t}' is too large` };
    if (seeds.includes(n)) return { ok: false, error: `seeds: ${n} is listed twice` };
    seeds.push(n);
  }
  if (seeds.length > MAX_COMPARE_SEEDS) return { ok: false, error: `seeds: at most ${MAX_COMPARE_SEEDS} (got ${seeds.length})` };
  return { ok: true, seeds };
}

/** "3 seeds × 2 runs = 6 trainings of 200 steps". */
export function planText(seeds: number, length: { steps: number } | { epochs: number }): string {
  const of =
    'epochs' in length
      ? `${length.epochs} ${length.epochs === 1 ? 'epoch' : 'epochs'}`
      : `${length.steps.toLocaleString('en')} ${length.steps === 1 ? 'step' : 'steps'}`;
  return `${seeds} ${seeds === 1 ? 'seed' : 'seeds'} × 2 runs = ${2 * seeds} trainings of ${of}, each followed by an evaluation`;
}

const SHARES = new Set(['accuracy', 'majorityAccuracy', 'agreement', 'sampleAccuracy', 'answered']);
const LABELS: Record<string, string> = {
  accuracy: 'accuracy (%)',
  majorityAccuracy: 'majority-vote accuracy (%)',
  agreement: 'agreement with the majority (%)',
  sampleAccuracy: 'accuracy of the samples (%)',
  answered: 'samples stating an answer (%)',
  answerKL: 'answer KL between rationales (nats)',
  loss: 'final loss',
  ce: 'final CE',
  kl: 'final KL',
};

const leaf = (metric: string): string => metric.slice(metric.indexOf('.') + 1);

/** The report's metrics in the page's order: accuracy and consistency
 * first, the final losses after. */
function pageMetrics(r: Report): { metric: string; label: string }[] {
  const names = reportMetrics(r.config);
  const ordered = [...names.filter((m) => !m.startsWith('final.')), ...names.filter((m) => m.startsWith('final.'))];
  return ordered.map((m) => ({ metric: m, label: `${m.startsWith('ood.') ? 'out-of-distribution ' : ''}${LABELS[leaf(m)] ?? m}` }));
}

/** A value in the unit of its row: shares in percent, the rest with four
 * significant digits (an exponent when tiny: a KL difference of 0.000005667
 * is unreadable); signed for differences. */
function value(metric: string, x: number, signed: boolean): string {
  const a = Math.abs(x);
  const v = SHARES.has(leaf(metric))
    ? (100 * a).toFixed(1)
    : a >= 1000
      ? a.toFixed(0)
      : a !== 0 && a < 0.001
        ? a.toExponential(2)
        : String(Number(a.toPrecision(4)));
  const sign = x < 0 && Number(v) !== 0 ? '−' : signed && x > 0 ? '+' : '';
  return `${sign}${v}`;
}

/** mean ± sd; the mean alone when there is no sd (one seed), with n when
 * fewer seeds than asked had the value. */
function statText(metric: string, s: Stat, seeds: number, signed = false): string {
  if (s.mean === null) return 'n/a';
  const sd = s.sd === null ? '' : ` ± ${value(metric, s.sd, false)}`;
  return `${value(metric, s.mean, signed)}${sd}${s.n < seeds ? ` (n = ${s.n})` : ''}`;
}

export interface TextTable {
  caption: string;
  head: string[];
  /** The first cell of each row is the row's header. */
  rows: string[][];
}

/** Per metric, mean ± sd over seeds for the baseline and for MCC-KD. */
export function summaryTable(r: Report): TextTable {
  const n = r.config.seeds.length;
  return {
    caption: n > 1 ? `Mean ± sample standard deviation over ${n} seeds (${r.config.seeds.join(', ')})` : `Seed ${r.config.seeds[0] ?? '–'}`,
    head: ['metric', ...r.config.alphas.map(alphaName)],
    rows: pageMetrics(r).map(({ metric, label }) => [
      label,
      ...r.config.alphas.map((a) => statText(metric, r.summary[String(a)][metric], n)),
    ]),
  };
}

/** MCC-KD minus the baseline, seed by seed, and (several seeds) their mean ± sd. */
export function pairedTable(r: Report): TextTable | undefined {
  const [base, alpha] = r.config.alphas;
  const p = r.paired[String(alpha)];
  if (alpha === undefined || !p) return undefined;
  const metrics = pageMetrics(r);
  const n = r.config.seeds.length;
  const diff = (metric: string, x: number | null): string => (x === null ? 'n/a' : value(metric, x, true));
  const rows = r.config.seeds.map((s, i) => [`seed ${s}`, ...metrics.map(({ metric }) => diff(metric, p[metric].diffs[i]))]);
  if (n > 1) rows.push(['mean ± sd', ...metrics.map(({ metric }) => statText(metric, p[metric].stat, n, true))]);
  return {
    caption: `α = ${alpha} minus α = ${base}, paired by seed (same seed, same data)`,
    head: ['seed', ...metrics.map((m) => m.label)],
    rows,
  };
}

const alphaName = (a: number): string => (a === 0 ? 'baseline (α = 0)' : `MCC-KD (α = ${a})`);
