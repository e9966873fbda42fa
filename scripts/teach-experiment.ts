// The teacher step end to end, for the note (not a test): N demo training
// questions -> K samples each from a GGUF teacher (default: the tiny demo
// teacher of support/teacher-gguf.ts) by `mcckd teach --gguf` -> what each
// filter kept -> a student trained on the generated file vs on the shipped
// demo file (the same N questions, and all of it), the same budget -> each
// one's accuracy on public/demo/test.jsonl. Every step is the CLI a user runs.
//
//   nice -n 15 npx tsx scripts/teach-experiment.ts [--questions N] [--samples K]
//       [--steps S] [--batch B] [--lr LR] [--gguf FILE] [--out DIR]
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TeachReport } from '../src/teach/report';
import { teacherGguf, TEACHER_RECIPE } from '../support/teacher-gguf';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(ROOT, 'bin/mcckd.js');
const { values: a } = parseArgs({
  options: {
    questions: { type: 'string', default: '200' },
    samples: { type: 'string', default: '5' },
    steps: { type: 'string', default: '400' },
    batch: { type: 'string', default: '8' },
    lr: { type: 'string', default: '0.01' },
    gguf: { type: 'string' },
    out: { type: 'string', default: 'bench/tmp/teach-experiment' },
  },
});

function mcckd(args: string[]): Promise<{ stdout: string; stderr: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err && (err.code as number) !== 1) reject(new Error(`mcckd ${args.join(' ')}: ${stderr.slice(-2000)}`));
      else resolve({ stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}
const lastJson = (s: string): Record<string, unknown> => JSON.parse(s.trim().split('\n').pop() as string);

async function main(): Promise<void> {
  const out = path.resolve(ROOT, a.out as string);
  mkdirSync(out, { recursive: true });
  const n = Number(a.questions);
  const demo = readFileSync(path.join(ROOT, 'public/demo/train.jsonl'), 'utf8').trim().split('\n').slice(0, n);
  const questions = path.join(out, 'questions.jsonl');
  writeFileSync(questions, `${demo.join('\n')}\n`); // the shipped records of the same questions (rationales ignored by teach)
  const t0 = performance.now();
  const gguf = a.gguf ?? (await teacherGguf());
  const teacherSeconds = (performance.now() - t0) / 1000;

  const generated = path.join(out, `generated-k${a.samples}.jsonl`);
  for (const f of [generated, generated.replace(/\.jsonl$/, '.samples.jsonl')]) rmSync(f, { force: true }); // a fresh run
  const teach = await mcckd([
    'teach',
    '--questions',
    questions,
    '--gguf',
    gguf,
    '--threads',
    '1',
    '--template-preset',
    'student',
    '--samples',
    String(a.samples),
    '--out',
    generated,
  ]);
  const report = lastJson(teach.stdout).report as TeachReport;

  const budget = [
    '--steps',
    a.steps as string,
    '--batch',
    a.batch as string,
    '--lr',
    a.lr as string,
    '--backend',
    'wasm',
    '--preset',
    'tiny',
  ];
  const train = async (name: string, data: string) => {
    const r = await mcckd([
      'train',
      '--data',
      data,
      '--eval',
      'public/demo/test.jsonl',
      ...budget,
      '--log-every',
      '100000',
      '--out',
      path.join(out, `run-${name}`),
    ]);
    const e = lastJson(r.stdout).eval as { accuracy: number; correct: number; total: number };
    const d = /data: native, (\d+) questions, (\d+)\/(\d+) rationales kept/.exec(r.stderr);
    return {
      name,
      data,
      questions: Number(d?.[1]),
      rationales: Number(d?.[2]),
      accuracy: e.accuracy,
      correct: e.correct,
      total: e.total,
      seconds: r.seconds,
    };
  };
  const students = [
    await train('generated', generated),
    await train('shipped-same-questions', questions),
    await train('shipped-all', 'public/demo/train.jsonl'),
  ];
  const result = {
    teacher: { gguf: path.relative(ROOT, gguf), recipe: a.gguf ? 'given' : TEACHER_RECIPE, seconds: teacherSeconds },
    questions: n,
    samplesPerQuestion: Number(a.samples),
    teachSeconds: teach.seconds,
    totals: report.totals,
    questionsWithKept: report.questions.filter((q) => q.kept > 0).length,
    reask: report.reask.length,
    budget: budget.join(' '),
    students,
  };
  writeFileSync(path.join(out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  const t = report.totals;
  const lines = [
    `teacher ${result.teacher.gguf}; ${n} questions x ${a.samples} samples in ${teach.seconds.toFixed(1)} s`,
    '',
    '| generated | answer read | correct | diverse | kept | questions with >= 1 kept |',
    '|---|---|---|---|---|---|',
    `| ${t.generated} | ${t.answerRead} | ${t.correct} | ${t.diverse} | ${t.kept} | ${result.questionsWithKept} of ${n} |`,
    '',
    `dropped: ${Object.entries(t.dropped)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    '',
    `students (${result.budget}), accuracy on public/demo/test.jsonl (greedy):`,
    '',
    '| trained on | questions | rationales | accuracy |',
    '|---|---|---|---|',
    ...students.map(
      (s) => `| ${s.name} | ${s.questions} | ${s.rationales} | ${(100 * s.accuracy).toFixed(1)}% (${s.correct}/${s.total}) |`,
    ),
  ];
  writeFileSync(path.join(out, 'result.md'), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
