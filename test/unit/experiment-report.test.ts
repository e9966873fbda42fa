// The experiment report shared by `mcckd experiment` and the page's
// Comparison (src/core/experiment-report.ts), in-process on hand-made runs:
// the arithmetic against numbers worked out here, missing values, the
// report without sampled rationales (the page's default), and the page's
// tables and seeds field (src/ui/compare-report.ts).
import { describe, expect, it } from 'vitest';
import {
  buildReport,
  curvesSvg,
  meanSd,
  metricNames,
  reportMarkdown,
  type ExperimentRun,
  type Report,
} from '../../src/core/experiment-report';
import { pairedTable, parseSeeds, planText, summaryTable } from '../../src/ui/compare-report';

function run(alpha: number, seed: number, accuracy: number | null, loss: number): ExperimentRun {
  return {
    name: `alpha-${alpha}_seed-${seed}`,
    alpha,
    seed,
    steps: 2,
    trainSeconds: 0.5,
    final: { loss, ce: loss - 0.1, kl: alpha === 0 ? 0 : 0.05 },
    curve: [
      { step: 1, loss: loss + 1, ce: loss + 0.9, kl: 0.1 },
      { step: 2, loss, ce: loss - 0.1, kl: 0.05 },
    ],
    evalCurve: [],
    id: {
      file: 'eval.jsonl',
      total: 10,
      accuracy,
      majorityAccuracy: null,
      agreement: null,
      sampleAccuracy: null,
      answered: null,
      answerKL: null,
    },
  };
}

const greedyOnly = (seeds: number[]): Report['config'] => ({
  data: 'teacher.jsonl',
  eval: 'eval.jsonl',
  alphas: [0, 0.1],
  seeds,
  samples: 0,
  sampleTemperature: 1,
  sampleSeed: 1,
  train: { steps: 2 },
});

describe('the report', () => {
  // baseline accuracies 0.2, 0.4; MCC-KD 0.3, 0.7: differences 0.1 and 0.3
  const runs = [run(0.1, 1, 0.3, 2), run(0, 1, 0.2, 2.5), run(0.1, 2, 0.7, 1.5), run(0, 2, 0.4, 2.1)];
  const r = buildReport(greedyOnly([1, 2]), runs);

  it('mean ± sample sd (n − 1) per alpha, and the differences paired by seed', () => {
    const acc = r.summary['0.1']['id.accuracy'];
    expect(acc.mean).toBeCloseTo(0.5, 12);
    expect(acc.sd).toBeCloseTo(Math.sqrt(((0.3 - 0.5) ** 2 + (0.7 - 0.5) ** 2) / 1), 12);
    expect(acc.n).toBe(2);
    const p = r.paired['0.1']['id.accuracy'];
    expect(p.diffs[0]).toBeCloseTo(0.1, 12);
    expect(p.diffs[1]).toBeCloseTo(0.3, 12);
    expect(p.stat.mean).toBeCloseTo(0.2, 12);
    expect(p.stat.sd).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(r.paired['0']).toBeUndefined(); // the first alpha is what the others are paired against
  });

  it('without sampled rationales it has no consistency metrics, and says so', () => {
    expect(Object.keys(r.summary['0'])).toEqual(metricNames(false, false));
    expect(Object.keys(r.summary['0'])).toEqual(['final.loss', 'final.ce', 'final.kl', 'id.accuracy']);
    const md = reportMarkdown(r);
    expect(md).toContain('Evaluation: greedy accuracy; no sampled rationales.');
    expect(md).not.toMatch(/majorityAccuracy|answerKL/);
    expect(md).toContain('| id.accuracy | 0.3000 ± 0.1414 | 0.5000 ± 0.2828 |');
    expect(md).toContain('| id.accuracy | +0.1000 | +0.3000 | +0.2000 ± 0.1414 |');
  });

  it('with samples the consistency metrics are there, as `mcckd experiment` reports them', () => {
    const withSamples = buildReport({ ...greedyOnly([1, 2]), samples: 4 }, runs);
    expect(Object.keys(withSamples.summary['0'])).toEqual(metricNames(false));
    expect(withSamples.summary['0']['id.agreement']).toEqual({ mean: null, sd: null, n: 0 });
    expect(reportMarkdown(withSamples)).toContain('4 sampled rationales per question');
  });

  it('a missing run or value is left out, not counted as zero', () => {
    const partial = buildReport(greedyOnly([1, 2]), [run(0.1, 1, 0.3, 2), run(0, 1, 0.2, 2.5), run(0.1, 2, null, 1.5)]);
    expect(partial.summary['0.1']['id.accuracy']).toEqual({ mean: 0.3, sd: null, n: 1 });
    expect(partial.summary['0']['final.loss'].n).toBe(1);
    expect(partial.paired['0.1']['id.accuracy'].diffs[1]).toBeNull();
    expect(meanSd([null, 2, null, 4])).toEqual({ mean: 3, sd: Math.SQRT2, n: 2 });
  });

  it('the SVG escapes what came from file names', () => {
    const svg = curvesSvg(buildReport({ ...greedyOnly([1]), data: 'a<b>&"c".jsonl' }, runs.slice(0, 2)));
    expect(svg).toContain('a&lt;b&gt;&amp;&quot;c&quot;.jsonl');
    expect(svg).not.toContain('a<b>');
  });
});

describe("the page's tables", () => {
  const runs = [run(0.1, 1, 0.3, 2), run(0, 1, 0.2, 2.5), run(0.1, 2, 0.7, 1.5), run(0, 2, 0.4, 2.1)];

  it('several seeds: mean ± sd per alpha (accuracy in percent), a row per seed of differences and their mean ± sd', () => {
    const r = buildReport(greedyOnly([1, 2]), runs);
    const s = summaryTable(r);
    expect(s.head).toEqual(['metric', 'baseline (α = 0)', 'MCC-KD (α = 0.1)']);
    expect(s.rows[0]).toEqual(['accuracy (%)', '30.0 ± 14.1', '50.0 ± 28.3']);
    expect(s.rows.map((x) => x[0])).toEqual(['accuracy (%)', 'final loss', 'final CE', 'final KL']);
    const p = pairedTable(r)!;
    expect(p.rows.map((x) => x[0])).toEqual(['seed 1', 'seed 2', 'mean ± sd']);
    expect(p.rows[0][1]).toBe('+10.0');
    expect(p.rows[2][1]).toBe('+20.0 ± 14.1');
    expect(p.rows[0][2]).toBe('−0.5'); // final loss: 2 − 2.5
    expect(p.rows[1][4]).toBe('+0.05'); // final KL: 0.05 − 0
  });

  it('tiny values with an exponent, negative ones with a minus sign', () => {
    const tiny = [run(0.1, 1, 0.3, 2), run(0, 1, 0.2, 2 + 5.667e-6)];
    const r = buildReport(greedyOnly([1]), tiny);
    expect(pairedTable(r)!.rows[0][2]).toBe('−5.67e-6');
    expect(summaryTable(r).rows[1]).toEqual(['final loss', '2', '2']);
  });

  it('one seed: no ± anywhere, and no mean row', () => {
    const r = buildReport(greedyOnly([1]), runs.slice(0, 2));
    expect(summaryTable(r).rows[0]).toEqual(['accuracy (%)', '20.0', '30.0']);
    const p = pairedTable(r)!;
    expect(p.rows).toHaveLength(1);
    expect(p.rows.flat().join(' ')).not.toContain('±');
  });

  it('a value fewer seeds had says how many', () => {
    const r = buildReport(greedyOnly([1, 2]), runs.slice(0, 3));
    expect(summaryTable(r).rows[0][1]).toBe('20.0 (n = 1)');
  });
});

describe('the seeds field', () => {
  it('empty: the settings’ seed', () => {
    expect(parseSeeds('', 7)).toEqual({ ok: true, seeds: [7] });
    expect(parseSeeds('   ', 7)).toEqual({ ok: true, seeds: [7] });
  });

  it('comma-separated whole numbers, spaces allowed', () => {
    expect(parseSeeds('1, 2,3 ', 7)).toEqual({ ok: true, seeds: [1, 2, 3] });
    expect(parseSeeds('0', 7)).toEqual({ ok: true, seeds: [0] });
  });

  it('names what is wrong', () => {
    expect(parseSeeds('1, x', 7)).toEqual({ ok: false, error: "seeds: 'x' is not a whole number" });
    expect(parseSeeds('1.5', 7)).toEqual({ ok: false, error: "seeds: '1.5' is not a whole number" });
    expect(parseSeeds('1 2', 7)).toEqual({ ok: false, error: "seeds: '1 2' is not a whole number" });
    expect(parseSeeds('-3', 7)).toEqual({ ok: false, error: "seeds: '-3' is negative; seeds are 0 or more" });
    expect(parseSeeds('1,,2', 7).ok).toBe(false);
    expect(parseSeeds('1,2,', 7)).toEqual({ ok: false, error: 'seeds: an entry is empty (two commas in a row, or one at an end)' });
    expect(parseSeeds('3, 1, 3', 7)).toEqual({ ok: false, error: 'seeds: 3 is listed twice' });
    expect(parseSeeds('99999999999999999999', 7)).toEqual({ ok: false, error: "seeds: '99999999999999999999' is too large" });
  });

  it('at most 10', () => {
    expect(parseSeeds('1,2,3,4,5,6,7,8,9,10', 0)).toMatchObject({ ok: true });
    expect(parseSeeds('1,2,3,4,5,6,7,8,9,10,11', 0)).toEqual({ ok: false, error: 'seeds: at most 10 (got 11)' });
  });

  it('the plan line counts the trainings', () => {
    expect(planText(3, { steps: 200 })).toBe('3 seeds × 2 runs = 6 trainings of 200 steps, each followed by an evaluation');
    expect(planText(1, { epochs: 2 })).toBe('1 seed × 2 runs = 2 trainings of 2 epochs, each followed by an evaluation');
  });
});
