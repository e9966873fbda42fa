// The teach step's pure core (src/teach): prompt rendering and validation,
// the runner's bookkeeping (resume, no duplicate under concurrency, retries,
// pause, cancel, timeouts, progress), the native records' round trip through
// src/data's reader, and the report's drop reasons on hostile output. The
// teacher here is a small in-process one whose answer is a deterministic
// function of the request (it is the runner's collaborator, not an engine).
import { describe, expect, it } from 'vitest';
import { readTeacherFile } from '../../src/data/index';
import { DEFAULT_PROMPT_TEMPLATE } from '../../src/data/template';
import { FEW_SHOT_TEMPLATES, PromptTemplateError, defaultStops, presetTemplate, renderPrompt } from '../../src/teach/prompt';
import { nativeJsonl, nativeRecords } from '../../src/teach/records';
import { reportTable, teachReport } from '../../src/teach/report';
import { backoffMs, planKeys, reaskKeys, sampleSeed, teach } from '../../src/teach/run';
import {
  type SampleRecord,
  type SampleRequest,
  type SampleResult,
  type SampleStore,
  TEACH_DEFAULTS,
  type TeachQuestion,
  type TeachSettings,
  type Teacher,
  TeachError,
} from '../../src/teach/types';

const QS: TeachQuestion[] = Array.from({ length: 6 }, (_, i) => ({
  id: `q${i}`,
  question: `Ann has ${i} apples and gets 2 more. How many?`,
  answer: String(i + 2),
}));
const WORDS = ['first', 'count', 'the', 'apples', 'then', 'add', 'two', 'more', 'so', 'she', 'ends', 'with', 'all', 'of', 'them', 'now'];

/** A rationale made from the seed (different seeds give different words)
 * that states the gold answer of the question in the prompt. */
function rationaleFor(req: SampleRequest): string {
  const m = /Ann has (\d+) apples/.exec(req.prompt.text.split('Q: ').pop() ?? '');
  const answer = m ? Number(m[1]) + 2 : 0;
  let s = req.seed;
  const w: string[] = [];
  for (let i = 0; i < 8; i++) {
    w.push(WORDS[s % WORDS.length]);
    s = Math.floor(s / WORDS.length) + i * 7919;
  }
  return `${w.join(' ')}.\nTherefore, the answer is ${answer}.`;
}

class FnTeacher implements Teacher {
  readonly name = 'fn-teacher';
  calls: SampleRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly behave: (req: SampleRequest, n: number) => Promise<SampleResult> | SampleResult = (r) => ({
      text: rationaleFor(r),
      tokens: 10,
      finish: 'stop',
    }),
  ) {}
  async sample(req: SampleRequest): Promise<SampleResult> {
    this.calls.push(req);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await this.behave(req, this.calls.length);
    } finally {
      this.inFlight--;
    }
  }
}

class MemStore implements SampleStore {
  appended: SampleRecord[] = [];
  constructor(public initial: SampleRecord[] = []) {}
  async load(): Promise<SampleRecord[]> {
    return this.initial.slice();
  }
  async append(r: SampleRecord): Promise<void> {
    await Promise.resolve();
    this.appended.push(r);
  }
}

const settings = (o: Partial<TeachSettings> = {}): TeachSettings => ({ ...TEACH_DEFAULTS, samples: 3, taskType: 'number', ...o });
const noSleep = async (): Promise<void> => {};
const keys = (rs: SampleRecord[]): string[] => rs.map((r) => `${r.questionId}/${r.sample}`);
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('prompt', () => {
  it('few-shot templates end every worked answer in the canonical sentence, one per task type', () => {
    for (const [type, t] of Object.entries(FEW_SHOT_TEMPLATES)) {
      const shots = t.split('\n\n').slice(0, -1);
      expect(shots.length, type).toBeGreaterThanOrEqual(2);
      for (const s of shots) expect(s, type).toMatch(/\nTherefore, the answer is [^\n]+\.$/);
      expect(t.endsWith('Q: {question}\nA:')).toBe(true);
    }
    expect(presetTemplate('student', 'number')).toBe(DEFAULT_PROMPT_TEMPLATE);
    expect(() => presetTemplate('zero-shot', 'number')).toThrow(/unknown template preset "zero-shot" \(expected few-shot or student\)/);
  });

  it('renders the question literally in both shapes, with choices for multiple choice', () => {
    const p = renderPrompt(FEW_SHOT_TEMPLATES.number, { id: 'a', question: '  Cost is $& 5?  ', answer: '5' });
    expect(p.text.endsWith('Q: Cost is $& 5?\nA:')).toBe(true);
    expect(p.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(p.messages[1].content).toBe(p.text);
    const c = renderPrompt(FEW_SHOT_TEMPLATES.choice, { id: 'b', question: 'Pick one.', answer: 'B', choices: ['cat', 'dog'] });
    expect(c.text.endsWith('Q: Pick one.\nAnswer Choices: (A) cat (B) dog\nA:')).toBe(true);
    const own = renderPrompt('{question}\nOptions: {choices}\n', { id: 'c', question: 'Pick.', answer: 'A', choices: ['x', 'y'] });
    expect(own.text).toBe('Pick.\nOptions: (A) x (B) y\n');
    expect(renderPrompt(DEFAULT_PROMPT_TEMPLATE, { id: 'd', question: 'Hi?', answer: '1' }).text).toBe('Q: Hi?\nA: ');
  });

  it('refuses bad templates and questions with clear errors; stops follow the template', () => {
    const q = { id: 'a', question: 'x', answer: '1' };
    expect(() => renderPrompt('no placeholder', q)).toThrow(PromptTemplateError);
    expect(() => renderPrompt('{question} {question}', q)).toThrow(/contains \{question\} 2 times/);
    expect(() => renderPrompt('Q: {question}', { ...q, question: '  ' })).toThrow(/question a: empty question/);
    expect(defaultStops(FEW_SHOT_TEMPLATES.yesno)).toContain('\nQ:');
    expect(defaultStops('Question: {question}\nAnswer:')).toEqual([]);
  });
});

describe('plan and seeds', () => {
  it('gives each (question, k) a deterministic seed, distinct over a plan, and skips stored keys', () => {
    const seeds = QS.flatMap((q) => Array.from({ length: 50 }, (_, k) => sampleSeed(7, q.id, k)));
    expect(new Set(seeds).size).toBe(seeds.length);
    expect(sampleSeed(7, 'q1', 3)).toBe(sampleSeed(7, 'q1', 3));
    expect(sampleSeed(8, 'q1', 3)).not.toBe(sampleSeed(7, 'q1', 3));
    for (const s of seeds) expect(s >= 0 && s < 2 ** 31).toBe(true);
    const stored = new Set(['q0\u00000', 'q1\u00002']);
    expect(planKeys(QS.slice(0, 2), 3, stored).map((k) => `${k.questionId}/${k.sample}`)).toEqual(['q0/1', 'q0/2', 'q1/0', 'q1/1']);
  });

  it('re-asks the first block past K that is not complete', () => {
    const stored = new Set(['q0\u00000', 'q0\u00001', 'q0\u00002', 'q0\u00003']);
    expect(reaskKeys('q0', 3, stored).map((k) => k.sample)).toEqual([4, 5]);
    for (const j of [4, 5]) stored.add(`q0\u0000${j}`);
    expect(reaskKeys('q0', 3, stored).map((k) => k.sample)).toEqual([6, 7, 8]);
  });

  it('backs off exponentially with jitter, never under Retry-After', () => {
    expect(backoffMs(1, 0)).toBe(250);
    expect(backoffMs(3, 1)).toBe(2000);
    expect(backoffMs(20, 1)).toBe(30_000);
    expect(backoffMs(1, 0.5, 5000)).toBe(5000);
  });
});

describe('teach()', () => {
  it('asks every key once, stores each before counting it, and reports progress', async () => {
    const store = new MemStore();
    const t = new FnTeacher();
    const progress: number[] = [];
    const r = await teach({
      questions: QS,
      teacher: t,
      settings: settings({ concurrency: 3 }),
      store,
      sleep: noSleep,
      onProgress: (p) => progress.push(p.done),
    });
    expect(r.records.length).toBe(18);
    expect(new Set(keys(store.appended)).size).toBe(18);
    expect(new Set(t.calls.map((c) => c.seed)).size).toBe(18);
    expect(r.progress).toMatchObject({ done: 18, total: 18, failed: 0, inFlight: 0, tokens: 180, etaSeconds: 0 });
    expect(progress.at(-1)).toBe(18);
    expect(t.maxInFlight).toBeLessThanOrEqual(3);
    expect(t.calls[0].stop).toContain('\nQ:');
    const rec = store.appended[0];
    expect(rec).toMatchObject({ teacher: 'fn-teacher', temperature: 0.7, topP: 0.95, maxTokens: 256 });
    expect(rec.prompt).toContain('Q: Ann has');
  });

  it('progress: done/total over the whole job, tokens/s and ETA from this session on the given clock', async () => {
    let clock = 0;
    const t = new FnTeacher((req) => {
      clock += 1000; // each sample takes one second
      return { text: rationaleFor(req), tokens: 10, finish: 'stop' };
    });
    const first = new MemStore();
    await teach({ questions: QS.slice(0, 1), teacher: new FnTeacher(), settings: settings(), store: first, sleep: noSleep });
    const seen: { done: number; tps: number; eta: number | null }[] = [];
    await teach({
      questions: QS.slice(0, 3),
      teacher: t,
      settings: settings({ concurrency: 1 }),
      store: new MemStore(first.appended),
      sleep: noSleep,
      now: () => clock,
      onProgress: (p) => {
        if (p.inFlight === 0) seen.push({ done: p.done, tps: p.tokensPerSecond, eta: p.etaSeconds });
        expect(p.total).toBe(9);
      },
    });
    // 3 resumed samples count as done; after 2 new ones in 2 s: 10 tok/s, 4 left at 1 s each.
    expect(seen[0]).toEqual({ done: 3, tps: 0, eta: null });
    expect(seen[2]).toEqual({ done: 5, tps: 10, eta: 4 });
    expect(seen.at(-1)).toEqual({ done: 9, tps: 10, eta: 0 });
  });

  it('resumes: stored keys are not asked again, and a run never stores a key twice under concurrency', async () => {
    const first = new MemStore();
    await teach({ questions: QS.slice(0, 3), teacher: new FnTeacher(), settings: settings(), store: first, sleep: noSleep });
    const kept = first.appended.filter((_, i) => i % 2 === 0);
    const store = new MemStore([...kept, kept[0]]); // a duplicate in the store counts once
    // Uneven delays so completions overtake each other.
    const t = new FnTeacher(async (req, n) => {
      await tick(n % 3);
      return { text: rationaleFor(req), tokens: 1, finish: 'stop' };
    });
    const r = await teach({ questions: QS.slice(0, 3), teacher: t, settings: settings({ concurrency: 4 }), store, sleep: noSleep });
    expect(t.calls.length).toBe(9 - kept.length);
    const asked = new Set(t.calls.map((c) => c.seed));
    for (const k of kept) expect(asked.has(k.seed)).toBe(false);
    expect(new Set(keys(r.records)).size).toBe(9);
    expect(r.records.length).toBe(9);
    expect(store.appended.length).toBe(9 - kept.length);
    expect(r.progress.done).toBe(9);
    // The same key gets the same seed in both runs.
    const seedOf = new Map(first.appended.map((x) => [`${x.questionId}/${x.sample}`, x.seed]));
    for (const x of r.records) expect(x.seed).toBe(seedOf.get(`${x.questionId}/${x.sample}`));
  });

  it('retries retryable errors with backoff (honouring Retry-After), then succeeds; gives up on the others', async () => {
    const waits: number[] = [];
    let n0 = 0;
    const t = new FnTeacher((req) => {
      if (req.prompt.text.endsWith('Ann has 0 apples and gets 2 more. How many?\nA:') && n0++ < 2)
        throw n0 === 1 ? new TeachError('server', '500') : new TeachError('rate-limited', '429', { retryAfterMs: 4000 });
      if (req.prompt.text.includes('Ann has 1 apples')) throw new TeachError('bad-request', 'prompt too long', { retryable: false });
      return { text: rationaleFor(req), tokens: 1, finish: 'stop' };
    });
    const store = new MemStore();
    const failures: string[] = [];
    const r = await teach({
      questions: QS.slice(0, 2),
      teacher: t,
      settings: settings({ samples: 1 }),
      store,
      sleep: async (ms) => {
        waits.push(ms);
      },
      random: () => 0,
      onFailure: (f) => failures.push(`${f.questionId}/${f.kind}/${f.attempts}`),
    });
    expect(keys(store.appended)).toEqual(['q0/0']);
    expect(waits).toEqual([250, 4000]);
    expect(failures).toEqual(['q1/bad-request/1']);
    expect(r.progress).toMatchObject({ done: 1, failed: 1, total: 2 });
    // Not stored, so a resume asks it again.
    const again = new FnTeacher();
    await teach({
      questions: QS.slice(0, 2),
      teacher: again,
      settings: settings({ samples: 1 }),
      store: new MemStore(store.appended),
      sleep: noSleep,
    });
    expect(again.calls.length).toBe(1);
  });

  it('fails a sample after its retries, and a hung teacher by its timeout', async () => {
    const t = new FnTeacher(() => {
      throw new TeachError('server', 'always 503');
    });
    const r = await teach({
      questions: QS.slice(0, 1),
      teacher: t,
      settings: settings({ samples: 1, retries: 2 }),
      store: new MemStore(),
      sleep: noSleep,
    });
    expect(t.calls.length).toBe(3);
    expect(r.failures).toMatchObject([{ kind: 'server', attempts: 3 }]);
    const hung = new FnTeacher(() => new Promise<SampleResult>(() => {})); // ignores its signal
    const h = await teach({
      questions: QS.slice(0, 1),
      teacher: hung,
      settings: settings({ samples: 1, retries: 0, timeoutMs: 30 }),
      store: new MemStore(),
    });
    expect(h.failures).toMatchObject([{ kind: 'timeout', attempts: 1 }]);
    const odd = new FnTeacher(() => {
      throw new Error('GGUF load failed');
    });
    const e = await teach({
      questions: QS.slice(0, 1),
      teacher: odd,
      settings: settings({ samples: 1 }),
      store: new MemStore(),
      sleep: noSleep,
    });
    expect(e.failures).toMatchObject([{ kind: 'engine', attempts: 1, message: 'fn-teacher: GGUF load failed' }]);
  });

  it('stops the run on an endpoint-wide failure (refused, auth) instead of failing every key', async () => {
    const t = new FnTeacher(() => {
      throw new TeachError('unreachable', 'connection refused');
    });
    const r = await teach({
      questions: QS,
      teacher: t,
      settings: settings({ concurrency: 1, retries: 2 }),
      store: new MemStore(),
      sleep: noSleep,
    });
    expect(t.calls.length).toBe(3);
    expect(r.stopped).toMatchObject({ questionId: 'q0', sample: 0, kind: 'unreachable', attempts: 3 });
    expect(r.failures.length).toBe(1);
    expect(r.progress).toMatchObject({ done: 0, failed: 1, total: 18 });
  });

  it('pause: no new request while paused, in-flight ones finish and are stored', async () => {
    let paused = false;
    let resume!: () => void;
    const gate = new Promise<void>((r) => {
      resume = r;
    });
    const store = new MemStore();
    const t = new FnTeacher(async (req, n) => {
      if (n === 2) paused = true; // pause while requests 1 and 2 are in flight
      await tick(1);
      return { text: rationaleFor(req), tokens: 1, finish: 'stop' };
    });
    const run = teach({
      questions: QS.slice(0, 2),
      teacher: t,
      settings: settings({ concurrency: 2 }),
      store,
      paused: () => (paused ? gate : false),
    });
    await tick(30);
    expect(t.calls.length).toBe(2);
    expect(store.appended.length).toBe(2);
    paused = false;
    resume();
    const r = await run;
    expect(r.records.length).toBe(6);
    expect(new Set(keys(store.appended)).size).toBe(6);
  });

  it('cancel: aborts in flight, keeps what arrived, counts no failure', async () => {
    const ac = new AbortController();
    const store = new MemStore();
    const t = new FnTeacher(async (req, n) => {
      if (n === 3) ac.abort();
      if (n >= 3)
        await new Promise((_, reject) => req.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
      return { text: rationaleFor(req), tokens: 1, finish: 'stop' };
    });
    const r = await teach({ questions: QS, teacher: t, settings: settings({ concurrency: 1 }), store, signal: ac.signal, sleep: noSleep });
    expect(r.cancelled).toBe(true);
    expect(store.appended.length).toBe(2);
    expect(r.failures).toEqual([]);
    expect(t.calls.length).toBe(3);
  });

  it('a store that cannot append stops the run with its error', async () => {
    const store = new MemStore();
    store.append = async () => {
      throw new Error('disk full');
    };
    await expect(teach({ questions: QS, teacher: new FnTeacher(), settings: settings(), store, sleep: noSleep })).rejects.toThrow(
      'disk full',
    );
  });

  it('refuses bad settings and duplicate question ids before asking', async () => {
    const t = new FnTeacher();
    await expect(teach({ questions: QS, teacher: t, settings: settings({ samples: 0 }), store: new MemStore() })).rejects.toThrow(
      /samples must be an integer >= 1, got 0/,
    );
    await expect(teach({ questions: QS, teacher: t, settings: settings({ topP: 1.5 }), store: new MemStore() })).rejects.toThrow(
      /topP must be in/,
    );
    await expect(teach({ questions: [QS[0], QS[0]], teacher: t, settings: settings(), store: new MemStore() })).rejects.toThrow(
      /question id "q0" appears twice/,
    );
    expect(t.calls.length).toBe(0);
  });
});

const rec = (questionId: string, sample: number, text: string): SampleRecord => ({
  questionId,
  sample,
  seed: sample,
  text,
  tokens: 1,
  finish: 'stop',
  teacher: 't',
  temperature: 0.7,
  topP: 0.95,
  maxTokens: 256,
  prompt: 'Q: x\nA:',
  at: '2026-01-01T00:00:00.000Z',
});

describe('records and report', () => {
  it('round-trips: teach output -> native JSONL -> readTeacherFile -> curated groups', async () => {
    const store = new MemStore();
    const r = await teach({ questions: QS, teacher: new FnTeacher(), settings: settings(), store, sleep: noSleep });
    const text = nativeJsonl(QS, r.records);
    const first = JSON.parse(text.split('\n')[0]);
    expect(first.rationales[0]).toMatchObject({ teacher: 'fn-teacher', temperature: 0.7, top_p: 0.95 });
    expect(typeof first.rationales[0].seed).toBe('number');
    const read = await readTeacherFile(text, { k: 3, devFraction: 0 });
    expect(read.groups.map((g) => g.id)).toEqual(QS.map((q) => q.id));
    expect(read.report.rationalesIn).toBe(18);
    const rep = teachReport(QS, r.records, [], { k: 3 });
    expect(rep.totals.kept).toBe(read.report.rationalesKept);
  });

  it('reads native rationales as strings or objects with text, naming the field of a bad one', async () => {
    const line = {
      question: 'Ann has 1 apples?',
      answer: '3',
      rationales: ['So 3.\nTherefore, the answer is 3.', { text: 'One and two, 3.\nTherefore, the answer is 3.', seed: 4 }, { seed: 5 }],
    };
    const read = await readTeacherFile(`${JSON.stringify(line)}\n`, { devFraction: 0 });
    expect(read.groups[0].rationales.length).toBe(2);
    expect(read.report.errors.map((e) => e.field ?? e.message).join(' ')).toMatch(/rationales\[2\]\.text/);
  });

  it('counts hostile output as drop reasons, never a crash, and lists questions to re-ask', () => {
    const qs: TeachQuestion[] = [
      { id: 'a', question: 'Ann has 1 apples and gets 2 more. How many?', answer: '3' },
      { id: 'b', question: 'Ann has 2 apples and gets 2 more. How many?', answer: '4' },
    ];
    const recs = [
      rec('a', 0, ''),
      rec('a', 1, 'x'.repeat(10_000)),
      rec('a', 2, 'one\u0000two\nTherefore, the answer is 3.'),
      rec('a', 3, 'I think it is many apples.'),
      rec('a', 4, 'She has 1 and 2 more so 5.\nTherefore, the answer is 5.'),
      rec('a', 5, 'She has 1 and gets 2 more, so 3.\nTherefore, the answer is 3.'),
      rec('a', 6, 'She has 1 and gets 2 more, so 3.\nTherefore, the answer is 3.'),
      rec('b', 0, 'Two plus two makes 4.\nTherefore, the answer is 4.'),
      rec('b', 1, 'Start at two, add another two: 4.\nTherefore, the answer is 4.'),
    ];
    const r = teachReport(qs, recs, [{ questionId: 'a', sample: 7, kind: 'server', message: '500', attempts: 5 }], { k: 3 });
    expect(r.questions[0]).toMatchObject({
      generated: 7,
      answerRead: 3,
      correct: 2,
      diverse: 1,
      kept: 1,
      dropped: {
        empty: 1,
        'too-long': 1,
        'control-characters': 1,
        'no-answer-sentence': 1,
        'wrong-answer': 1,
        'near-duplicate': 1,
        'teacher-error': 1,
      },
    });
    expect(r.questions[1]).toMatchObject({ generated: 2, kept: 2, dropped: {} });
    expect(r.reask).toEqual(['a']);
    expect(reportTable(r)).toMatch(/total\s+9\s+5\s+4\s+3\s+3/);
    // The hostile ones stay out of the native file.
    expect(nativeRecords(qs, recs)[0].rationales.length).toBe(4);
  });
});
