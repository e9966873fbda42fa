// `mcckd teach` as a user runs it (a real process) against a small
// OpenAI-compatible HTTP server in this test (deterministic answers; the
// llama.cpp-backed server and its end-to-end tests are the engine's): the
// --help lines, flag errors, a full run writing the native file and the
// report, the refusal to overwrite a samples file without --resume, resume
// of a torn file, and Ctrl-C keeping what arrived (exit 130) then resuming.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTeacherFile } from '../../src/data/index';
import { BIN, ROOT, lastLine, mcckd } from '../../support/cli';

const root = mkdtempSync(path.join(tmpdir(), 'mcckd-teach-'));
const questions = path.join(root, 'q.jsonl');
writeFileSync(
  questions,
  Array.from({ length: 4 }, (_, i) =>
    JSON.stringify({ id: `q${i}`, question: `Ann has ${i} apples and gets 2 more. How many?`, answer: i + 2 }),
  ).join('\n'),
);
let server: Server;
let base = '';
let delayMs = 0;
let requests = 0;
/** Answer question 0 wrongly for seeds below this (so it keeps too few). */
let wrongBelow = 0;

beforeAll(async () => {
  // Answers with the gold number of the question in the prompt, in words
  // that depend on the seed; optionally after a delay.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (req.url?.endsWith('/models')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ data: [{ id: 'tiny' }] }));
        return;
      }
      requests++;
      const j = JSON.parse(body) as { messages: { content: string }[]; seed: number };
      const n = Number(/Ann has (\d+) apples/.exec(j.messages[1].content.split('Q: ').pop() ?? '')?.[1] ?? 0);
      const a = n === 0 && j.seed < wrongBelow ? 7 : n + 2;
      const text = `Step ${j.seed % 97} then ${(j.seed >> 8) % 89} and ${(j.seed >> 16) % 83}: ${n} and 2 make ${a}.\nTherefore, the answer is ${a}.`;
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { content: text }, finish_reason: 'stop' }], usage: { completion_tokens: 12 } }));
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(root, { recursive: true, force: true });
});

const teachArgs = (out: string, extra: string[] = []): string[] => [
  'teach',
  '--questions',
  questions,
  '--endpoint',
  base,
  '--model',
  'tiny',
  '--samples',
  '3',
  '--out',
  out,
  ...extra,
];
const sampleLines = (out: string): { questionId: string; sample: number }[] =>
  readFileSync(out.replace(/\.jsonl$/, '.samples.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const keysOf = (ls: { questionId: string; sample: number }[]): string[] => ls.map((l) => `${l.questionId}/${l.sample}`).sort();

describe('mcckd teach', () => {
  it('--help lists the flags; flag errors name the flag', async () => {
    const h = await mcckd(['teach', '--help']);
    expect(h.code).toBe(0);
    for (const f of [
      '--questions FILE',
      '--endpoint URL',
      '--gguf FILE',
      '--samples K',
      '--resume',
      '--reask',
      '--template-preset NAME',
      '--api-key-env VAR',
    ])
      expect(h.stdout).toContain(f);
    const cases: [string[], RegExp][] = [
      [['teach', '--out', 'x.jsonl'], /teach needs --questions FILE/],
      [
        ['teach', '--questions', questions, '--out', path.join(root, 'a.jsonl')],
        /give one teacher: --endpoint URL --model NAME, or --gguf FILE/,
      ],
      [['teach', '--questions', questions, '--endpoint', base, '--out', path.join(root, 'a.jsonl')], /--endpoint needs --model NAME/],
      [[...teachArgs(path.join(root, 'a.jsonl')), '--top-p', '0'], /--top-p must be in \(0, 1\], got 0/],
      [[...teachArgs(path.join(root, 'a.jsonl')), '--api', 'responses'], /--api must be chat or completions/],
      [
        [...teachArgs(path.join(root, 'a.jsonl')), '--api-key-env', 'MCCKD_NO_SUCH_VAR'],
        /the environment variable MCCKD_NO_SUCH_VAR is not set/,
      ],
      [[...teachArgs(path.join(root, 'a.jsonl')), '--template-preset', 'zero'], /--template-preset: unknown template preset "zero"/],
      [[...teachArgs(path.join(root, 'a.jsonl')), '--model', 'big'], /--model big: the server does not serve it; it has: tiny/],
      [[...teachArgs(path.join(root, 'a.jsonl')), '--threads', '2'], /--threads goes with --gguf, not --endpoint/],
      [[...teachArgs(path.join(root, 'a.jsonl')), '--resume'], /--resume: .*a\.samples\.jsonl does not exist/],
    ];
    const rs = await Promise.all(cases.map(([a]) => mcckd(a)));
    rs.forEach((r, i) => {
      expect(r.code, cases[i][0].join(' ')).toBe(2);
      expect(lastLine(r.stderr)).toMatch(cases[i][1]);
    });
  });

  it('writes the native file and the report; refuses to start over an earlier samples file; resumes a torn one', async () => {
    const out = path.join(root, 'gen.jsonl');
    const r = await mcckd(teachArgs(out));
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(res).toMatchObject({ questions: 4, samples: 12, missing: 0, failed: 0, kept: 12, reask: [] });
    expect(r.stderr).toMatch(/total\s+12\s+12\s+12\s+12\s+12/);
    const read = await readTeacherFile(readFileSync(out, 'utf8'), { devFraction: 0 });
    expect(read.groups.length).toBe(4);
    expect(read.report.rationalesKept).toBe(12);

    const again = await mcckd(teachArgs(out));
    expect(again.code).toBe(2);
    expect(lastLine(again.stderr)).toMatch(/gen\.samples\.jsonl exists \(an earlier teach run\): add --resume to continue it/);

    // A torn last line (a kill mid-write) and two samples gone.
    const samples = out.replace('.jsonl', '.samples.jsonl');
    const lines = readFileSync(samples, 'utf8').split('\n').filter(Boolean);
    writeFileSync(samples, `${lines.slice(0, 9).join('\n')}\n`);
    appendFileSync(samples, lines[9].slice(0, 30));
    rmSync(out);
    const before = requests;
    const resumed = await mcckd([...teachArgs(out), '--resume', '--temperature', '0.5']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/warning: .*line 10 is incomplete .*ignored, its sample will be asked again/);
    expect(resumed.stderr).toMatch(/warning: .*gen\.samples\.jsonl holds samples made with other settings \(tiny @ .*, temperature 0\.7,/);
    expect(requests - before).toBe(3);
    const after = sampleLines(out);
    expect(after.length).toBe(12);
    expect(new Set(keysOf(after)).size).toBe(12);
    expect(existsSync(out)).toBe(true);
  });

  it('Ctrl-C keeps the samples that arrived, exits 130 and says how to resume', async () => {
    const out = path.join(root, 'int.jsonl');
    delayMs = 150;
    const child: ChildProcess = spawn(process.execPath, [BIN, ...teachArgs(out, ['--concurrency', '1'])], { cwd: ROOT });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const samples = out.replace('.jsonl', '.samples.jsonl');
    // Interrupt once two samples are on disk.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(samples) && readFileSync(samples, 'utf8').split('\n').length > 2) {
          clearInterval(poll);
          child.kill('SIGINT');
          resolve();
        }
      }, 20);
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    delayMs = 0;
    expect(code).toBe(130);
    expect(stderr).toMatch(/resume with:\n\s+mcckd teach .* --resume/);
    const kept = sampleLines(out);
    expect(kept.length).toBeGreaterThanOrEqual(2);
    expect(kept.length).toBeLessThan(12);
    expect(existsSync(out)).toBe(false);
    const resumed = await mcckd([...teachArgs(out), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const all = sampleLines(out);
    expect(all.length).toBe(12);
    expect(new Set(keysOf(all)).size).toBe(12);
  });

  it('--reask asks K more samples for the questions that kept fewer than 2', async () => {
    const out = path.join(root, 're.jsonl');
    wrongBelow = 2 ** 31; // every first-round answer to q0 is wrong
    const r = await mcckd(teachArgs(out));
    wrongBelow = 0;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop() as string).reask).toEqual(['q0']);
    expect(r.stderr).toMatch(/1 questions kept fewer than 2 rationales; ask them K more with:\n\s+mcckd teach .* --reask/);
    expect(r.stderr).toMatch(/dropped: wrong-answer 3/);
    const before = requests;
    const again = await mcckd([...teachArgs(out), '--reask']);
    expect(again.code, again.stderr).toBe(0);
    expect(requests - before).toBe(3);
    const res = JSON.parse(again.stdout.trim().split('\n').pop() as string);
    expect(res).toMatchObject({ samples: 15, reask: [] });
    expect(keysOf(sampleLines(out)).filter((k) => k.startsWith('q0/'))).toEqual(['q0/0', 'q0/1', 'q0/2', 'q0/3', 'q0/4', 'q0/5']);
  });
});
