// The teacher step on a real engine, no canned answers: a tiny GGUF teacher
// made from our own student (support/teacher-gguf.ts) run by llama.cpp
// (node-llama-cpp), behind an OpenAI-compatible server on 127.0.0.1
// (support/llama-server.ts) and directly (`--gguf`). `mcckd teach` runs as a
// user runs it (a real process): questions -> samples -> the native JSONL ->
// the curation report -> `mcckd train` on it. Faults come from a proxy in
// front of the real server (support/fault-proxy.ts): each gives a clear
// message, and the samples file ends with every key exactly once.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGgufTeacher } from '../../src/node/gguf-teacher';
import type { TeachReport } from '../../src/teach/report';
import { TeachError } from '../../src/teach/types';
import { BIN, ROOT, lastJson, mcckd } from '../../support/cli';
import { type Fault, startFaultProxy } from '../../support/fault-proxy';
import { type LlamaServer, startLlamaServer } from '../../support/llama-server';
import { teacherGguf } from '../../support/teacher-gguf';

const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-teach-engine-'));
const TEST = readFileSync(path.join(ROOT, 'public/demo/test.jsonl'), 'utf8').trim().split('\n');
const Q12 = path.join(dir, 'q12.jsonl');
const Q3 = path.join(dir, 'q3.jsonl');
writeFileSync(Q12, `${TEST.slice(0, 12).join('\n')}\n`);
writeFileSync(Q3, `${TEST.slice(20, 23).join('\n')}\n`);
const ids = (file: string): string[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { id: string }).id);

let gguf = '';
let model = '';
let server: LlamaServer;
let n = 0;

beforeAll(async () => {
  gguf = await teacherGguf();
  model = path.basename(gguf);
  server = await startLlamaServer({ gguf });
}, 600_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Sample {
  questionId: string;
  sample: number;
  text: string;
  seed: number;
  finish: string;
}
const reportOf = (stdout: string): TeachReport => lastJson(stdout).report as TeachReport;
const samplesOf = (out: string): Sample[] =>
  readFileSync(out.replace(/\.jsonl$/, '.samples.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Sample);

/** Every (question, k) key of `qs` x K exactly once. */
function expectComplete(out: string, questionIds: string[], k: number): Sample[] {
  const got = samplesOf(out);
  const keys = got.map((s) => `${s.questionId}/${s.sample}`);
  expect(new Set(keys).size).toBe(keys.length); // no duplicate
  expect(keys.sort()).toEqual(questionIds.flatMap((q) => Array.from({ length: k }, (_, j) => `${q}/${j}`)).sort()); // none lost
  return got;
}

const outFile = (): string => path.join(dir, `out-${n++}.jsonl`);
/** `mcckd teach` against an endpoint with the student's template. */
const teachAt = (url: string, out: string, extra: string[] = [], q = Q3): Promise<{ code: number; stdout: string; stderr: string }> =>
  mcckd([
    'teach',
    '--questions',
    q,
    '--endpoint',
    url,
    '--model',
    model,
    '--api',
    'completions',
    '--template-preset',
    'student',
    '--out',
    out,
    ...extra,
  ]);

describe('the engine', () => {
  it('serves real completions: a seed reproduces its text, max_tokens, stop and n are honoured; chat and models answer', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the OpenAI JSON, read field by field below
    type Json = any;
    const post = async (route: string, body: unknown): Promise<{ status: number; j: Json }> => {
      const r = await fetch(`${server.url}/${route}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      return { status: r.status, j: (await r.json()) as Json };
    };
    const prompt = `Q: ${JSON.parse(TEST[0]).question}\nA: `;
    const a = await post('completions', { prompt, max_tokens: 48, temperature: 0.7, top_p: 0.95, seed: 7 });
    const b = await post('completions', { prompt, max_tokens: 48, temperature: 0.7, top_p: 0.95, seed: 7 });
    expect(a.status).toBe(200);
    expect(a.j.choices[0].text).toBe(b.j.choices[0].text);
    expect(a.j.choices[0].text).toMatch(/answer is/); // demo-style rationale
    expect(a.j.usage.completion_tokens).toBeGreaterThan(3);
    const one = await post('completions', { prompt, max_tokens: 1, temperature: 0.7, seed: 7 });
    expect(one.j.choices[0].finish_reason).toBe('length');
    expect(one.j.usage.completion_tokens).toBe(1);
    const stopped = await post('completions', { prompt, max_tokens: 48, temperature: 0.7, top_p: 0.95, seed: 7, stop: ['answer'] });
    expect(a.j.choices[0].text.startsWith(stopped.j.choices[0].text)).toBe(true);
    expect(stopped.j.choices[0].text).not.toMatch(/answer/);
    const chat = await post('chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, seed: 1 });
    expect(chat.status).toBe(200);
    expect(typeof chat.j.choices[0].message.content).toBe('string');
    expect((await post('completions', { prompt, n: 2 })).status).toBe(400);
    const models = (await (await fetch(`${server.url}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([model]);
  });

  it('CORS: the server answers preflights and allows any origin; cors: false and the no-cors fault send no CORS header', async () => {
    const pre = { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:5173', 'Access-Control-Request-Method': 'POST' } };
    const ok = await fetch(`${server.url}/completions`, pre);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect((await fetch(`${server.url}/models`)).headers.get('access-control-allow-origin')).toBe('*');
    const closed = await startLlamaServer({ gguf, cors: false });
    const proxy = await startFaultProxy({ upstream: server.url, faults: [{ kind: 'no-cors' }] });
    try {
      for (const base of [closed.url, proxy.url]) {
        const p = await fetch(`${base}/completions`, pre);
        expect(p.headers.get('access-control-allow-origin'), base).toBe(null);
        const m = await fetch(`${base}/models`);
        expect(m.status).toBe(200);
        expect(m.headers.get('access-control-allow-origin'), base).toBe(null);
      }
    } finally {
      await proxy.close();
      await closed.close();
    }
  });

  it('a file llama.cpp cannot load is an engine error naming it', async () => {
    const bad = path.join(dir, 'not-a-model.gguf');
    writeFileSync(bad, 'this is not a GGUF file');
    const e = await openGgufTeacher(bad).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TeachError);
    expect((e as TeachError).kind).toBe('engine');
    expect((e as TeachError).message).toContain(bad);
    const r = await mcckd(['teach', '--questions', Q3, '--gguf', bad, '--out', outFile()]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`--gguf ${bad}: llama.cpp cannot load it`);
  });
});

describe('end to end', () => {
  let viaServer: Sample[] = [];
  it('questions -> mcckd teach --endpoint (llama-server, completions, 3 samples) -> native JSONL -> report -> mcckd train', async () => {
    const out = outFile();
    const r = await teachAt(server.url, out, ['--samples', '3'], Q12);
    expect(r.code, r.stderr).toBe(0);
    viaServer = expectComplete(out, ids(Q12), 3);
    const res = lastJson(r.stdout) as { samples: number; kept: number; report: TeachReport };
    expect(res.samples).toBe(36);
    // the report's counts add up, question by question
    let kept = 0;
    for (const q of res.report.questions) {
      const dropped = Object.values(q.dropped).reduce((s, x) => s + (x ?? 0), 0);
      expect(q.generated).toBe(3);
      expect(q.kept + dropped).toBe(q.generated);
      expect(q.answerRead).toBeLessThanOrEqual(q.generated);
      expect(q.correct).toBeLessThanOrEqual(q.answerRead);
      expect(q.kept).toBeLessThanOrEqual(q.correct);
      kept += q.kept;
    }
    expect(res.report.totals.generated).toBe(36);
    expect(res.report.totals.kept).toBe(kept);
    expect(kept).toBeGreaterThan(0); // the teacher gets some right
    expect(r.stderr).toMatch(/question\s+generated\s+answer read\s+correct\s+diverse\s+kept/);
    // the native file: one record per question, its kept rationales with their seeds
    const native = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string });
    expect(native.map((x) => x.id)).toEqual(ids(Q12));
    // a student loads it and trains a step on it
    const run = path.join(dir, 'run');
    const t = await mcckd(['train', '--data', out, '--eval', Q12, '--steps', '2', '--batch', '2', '--eval-limit', '1', '--out', run]);
    expect(t.code, t.stderr).toBe(0);
    const withKept = res.report.questions.filter((q) => q.kept > 0).length;
    expect(t.stderr).toContain(`data: native, ${withKept} questions, ${kept}/36 rationales kept`);
    expect(t.stdout).toMatch(/"step":2,"loss"/);
  });

  it('--gguf FILE (llama.cpp in the CLI, no server) gives the same samples as the server', async () => {
    const out = outFile();
    const r = await mcckd([
      'teach',
      '--questions',
      Q12,
      '--gguf',
      gguf,
      '--threads',
      '1',
      '--template-preset',
      'student',
      '--samples',
      '3',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const direct = expectComplete(out, ids(Q12), 3);
    const key = (s: Sample): string => `${s.questionId}/${s.sample}`;
    const byKey = new Map(viaServer.map((s) => [key(s), s]));
    expect(viaServer.length).toBe(36);
    for (const s of direct) expect(s.text, key(s)).toBe(byKey.get(key(s))?.text);
    expect(lastJson(r.stdout).teacher).toBe(`gguf:${model}`);
  });
});

describe('faults through a proxy in front of the real server', () => {
  // Request 1 is GET /models (the CLI checks the model first); with
  // --concurrency 1 request 2 is the first sample and request 3 its retry.
  const withProxy = async (faults: Fault[], extra: string[] = []) => {
    const proxy = await startFaultProxy({ upstream: server.url, faults });
    const out = outFile();
    try {
      const r = await teachAt(proxy.url, out, ['--samples', '2', '--concurrency', '1', ...extra]);
      return { r, out, log: proxy.log };
    } finally {
      await proxy.close();
    }
  };

  it('server down: connection refused is a clear error and no samples', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const out = outFile();
    const r = await teachAt(`http://127.0.0.1:${port}/v1`, out, ['--samples', '2']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*(refused|not reachable|unreachable)`, 'i'));
    expect(existsSync(out)).toBe(false);
  });

  it('slow: the request times out, is retried, and the file is complete', async () => {
    const { r, out, log } = await withProxy([{ at: [2], kind: 'delay', ms: 5000 }], ['--timeout', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no answer within 1 s/);
    expectComplete(out, ids(Q3), 2);
    expect(log.filter((l) => l.path.endsWith('/completions')).length).toBe(7); // 6 samples + 1 retry
  });

  it('500 then 200: retried, complete, the error shown', async () => {
    const { r, out } = await withProxy([{ at: [2], kind: 'status', status: 500 }]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/500/);
    expectComplete(out, ids(Q3), 2);
  });

  it("429 with Retry-After: the retry waits the server's time, complete", async () => {
    const { r, out, log } = await withProxy([{ at: [2], kind: 'status', status: 429, retryAfterS: 2 }]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/429|rate/i);
    expectComplete(out, ids(Q3), 2);
    expect(log[2].ms - log[1].ms).toBeGreaterThanOrEqual(1900); // Retry-After: 2 honoured
  });

  it('the connection cut: retried, complete', async () => {
    const { r, out } = await withProxy([{ at: [2], kind: 'cut' }]);
    expect(r.code, r.stderr).toBe(0);
    expectComplete(out, ids(Q3), 2);
  });

  it('malformed JSON: retried, complete, the error shown', async () => {
    const { r, out } = await withProxy([{ at: [2], kind: 'malformed' }]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/last error: .*the answer is not JSON/);
    expectComplete(out, ids(Q3), 2);
  });

  it('a sample that fails its every try is not stored; --resume asks it again and completes the file', async () => {
    const { r, out } = await withProxy([{ at: [2, 3], kind: 'malformed' }], ['--retries', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sample 0 failed after 2 tries: .*the answer is not JSON/);
    expect(r.stderr).toMatch(/1 samples missing/);
    expect(samplesOf(out).length).toBe(5);
    const again = await teachAt(server.url, out, ['--samples', '2', '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expectComplete(out, ids(Q3), 2);
  });

  it('kill mid-run (SIGKILL): --resume completes the file, the stored samples unchanged, none twice', async () => {
    const proxy = await startFaultProxy({ upstream: server.url, faults: [{ path: '/completions', kind: 'delay', ms: 150 }] });
    const out = outFile();
    const samples = out.replace(/\.jsonl$/, '.samples.jsonl');
    const args = ['teach', '--questions', Q12, '--endpoint', proxy.url, '--model', model, '--api', 'completions'];
    const child = spawn(
      process.execPath,
      [BIN, ...args, '--template-preset', 'student', '--samples', '3', '--concurrency', '1', '--out', out],
      {
        cwd: ROOT,
        stdio: 'ignore',
      },
    );
    const lines = (): string[] =>
      existsSync(samples)
        ? readFileSync(samples, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
        : [];
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    while (lines().length < 6) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    expect(await exited).toBe(null);
    await proxy.close();
    const before = lines();
    expect(before.length).toBeLessThan(36);
    const again = await teachAt(server.url, out, ['--samples', '3', '--resume'], Q12);
    expect(again.code, again.stderr).toBe(0);
    expectComplete(out, ids(Q12), 3);
    expect(lines().slice(0, before.length)).toEqual(before);
  });
});

describe('hostile teacher output, made by the real engine', () => {
  const direct = (out: string, extra: string[]) =>
    mcckd(['teach', '--questions', Q12, '--gguf', gguf, '--threads', '1', '--samples', '2', '--out', out, ...extra]);
  const dropped = (stdout: string): Record<string, number> => reportOf(stdout).totals.dropped as Record<string, number>;

  it('max_tokens 1: truncated rationales without the answer sentence are drop reasons', async () => {
    const out = outFile();
    const r = await direct(out, ['--template-preset', 'student', '--max-tokens', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(samplesOf(out).every((s) => s.finish === 'length')).toBe(true);
    const d = dropped(r.stdout);
    expect(d['no-answer-sentence']).toBeGreaterThan(0);
    expect(lastJson(r.stdout).kept).toBe(0);
  });

  it('a prompt after which the teacher stops at once: empty completions are drop reasons', async () => {
    // the prompt ends with a whole rationale: the teacher's next token is its end token
    const tpl = path.join(dir, 'done.txt');
    writeFileSync(tpl, 'Q: {question}\nA: Sum: 1 + 2 = 3.\nTherefore, the answer is 3.');
    const out = outFile();
    const r = await direct(out, ['--template', tpl]);
    expect(r.code, r.stderr).toBe(0);
    const empty = samplesOf(out).filter((s) => s.text.trim() === '').length;
    expect(empty).toBeGreaterThan(0);
    expect(dropped(r.stdout).empty).toBe(empty);
  });
});
