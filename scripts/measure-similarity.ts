// Measures word n-gram Jaccard similarity between rationales of the same
// question in the real teacher files (../shared/data), to choose the
// diversity filter's defaults (docs/data.md records the output).
// Usage: npx tsx scripts/measure-similarity.ts [DATA_DIR]

import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { answersMatch, detectTaskType, extractAnswer, normalizeAnswer, parseChoices } from '../src/data/answer';
import { stripAnswerStatement } from '../src/data/canonical';
import { jaccard, ngramSet } from '../src/data/similarity';

interface Group {
  question: string;
  gold: string;
  rationales: string[];
}

const dir = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '../../shared/data'));
if (!existsSync(dir)) {
  console.error(`no data folder at ${dir}`);
  process.exit(1);
}

function load(file: string): Group[] {
  const rows = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>[];
  const byQ = new Map<string, Group>();
  for (const r of rows) {
    const q = String(r.instruction ?? r.input).trim();
    const gold = String(r.label ?? r.answer);
    const outs = Array.isArray(r.output) ? r.output.map(String) : [String(r.chain)];
    const g = byQ.get(q) ?? { question: q, gold, rationales: [] };
    g.rationales.push(...outs);
    byQ.set(q, g);
  }
  return [...byQ.values()];
}

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const f2 = (x: number): string => x.toFixed(2);
const THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.9];

for (const file of [
  'mentor-kd/svamp_3_train.json',
  'mentor-kd/tracking_shuffled_objects_3_train.json',
  'mentor-kd/last_letter_concatenation_3_train.json',
  'mcc-kd/svamp_train.json',
]) {
  const groups = load(file);
  const type = detectTaskType(groups.map((g) => g.gold));
  for (const correctOnly of [false, true]) {
    const bodies = groups.map((g) => {
      const gold = normalizeAnswer(g.gold, type);
      const choices = parseChoices(g.question);
      const kept = correctOnly ? g.rationales.filter((r) => answersMatch(extractAnswer(r, type, choices), gold, type)) : g.rationales;
      return kept.map(stripAnswerStatement);
    });
    console.log(
      `\n${file} (${type}, ${correctOnly ? 'correct rationales only' : 'all rationales'}): ` +
        `${groups.length} questions, ${bodies.reduce((a, b) => a + b.length, 0)} rationales`,
    );
    console.log('n  pairs   p10  p25  p50  p75  p90  p99  max | share >= ' + THRESHOLDS.join(' / '));
    for (let n = 1; n <= 4; n++) {
      const sims: number[] = [];
      for (const b of bodies) {
        const sets = b.map((t) => ngramSet(t, n));
        for (let i = 0; i < sets.length; i++) for (let j = i + 1; j < sets.length; j++) sims.push(jaccard(sets[i], sets[j]));
      }
      sims.sort((a, b) => a - b);
      const share = THRESHOLDS.map((t) => f2(sims.filter((s) => s >= t).length / sims.length));
      console.log(
        `${n}  ${String(sims.length).padEnd(6)} ${[0.1, 0.25, 0.5, 0.75, 0.9, 0.99].map((p) => f2(pct(sims, p))).join(' ')} ` +
          `${f2(sims[sims.length - 1])} | ${share.join(' / ')}`,
      );
    }
    // What the greedy filter would keep: the mean count per question and the
    // share of questions still holding K = 3 rationales.
    for (const n of [2, 3]) {
      const cells = THRESHOLDS.map((t) => {
        let total = 0;
        let full = 0;
        for (const b of bodies) {
          const kept: Set<string>[] = [];
          for (const r of b) {
            const s = ngramSet(r, n);
            if (kept.every((k) => jaccard(k, s) < t)) kept.push(s);
          }
          total += kept.length;
          if (kept.length >= 3) full++;
        }
        return `t=${t}: ${f2(total / bodies.length)} kept, ${f2(full / bodies.length)} with >=3`;
      });
      console.log(`greedy n=${n}  ${cells.join(' | ')}`);
    }
  }
}
