// The page's teacher step below the UI: the IndexedDB stores of a teach run
// (v3: one record per sample, keyed [run, question, sample]; a v2 database
// upgrades with its data kept) and the one origin a teacher worker's policy
// may name (src/shared/connect-origin.ts).
import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore, type TeachRunRecord, type TeachSampleRecord } from '../../src/checkpoint/store';
import { connectFromQuery, connectOrigin } from '../../src/shared/connect-origin';
import { TEACH_DEFAULTS } from '../../src/teach/types';

const open: CheckpointStore[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
async function fresh(): Promise<{ store: CheckpointStore; name: string }> {
  const name = `teach-${Math.random().toString(36).slice(2)}`;
  const store = await CheckpointStore.open(name);
  open.push(store);
  return { store, name };
}

const run = (): Omit<TeachRunRecord, 'id' | 'createdAt' | 'updatedAt'> => ({
  status: 'running',
  questionsName: 'demo',
  questions: [
    { id: 'q1', question: 'one?', answer: '1' },
    { id: 'q2', question: 'two?', answer: '2' },
  ],
  settings: { ...TEACH_DEFAULTS, samples: 2 },
  teacher: { kind: 'endpoint', baseUrl: 'http://127.0.0.1:8080/v1', model: 'm', api: 'chat', name: 'm @ http://127.0.0.1:8080/v1' },
});

const sample = (runId: string, questionId: string, k: number, text = `t${k}`): TeachSampleRecord => ({
  runId,
  questionId,
  sample: k,
  seed: k,
  text,
  tokens: 3,
  finish: 'stop',
  teacher: 'm',
  temperature: 0.7,
  topP: 0.95,
  maxTokens: 64,
  prompt: 'Q: one?\nA: ',
  at: new Date(0).toISOString(),
});

describe('teach runs in IndexedDB', () => {
  it('keeps one record per (run, question, sample): a sample stored twice is one record, the last', async () => {
    const { store } = await fresh();
    const a = await store.createTeachRun(run());
    const b = await store.createTeachRun(run());
    await store.putTeachSample(sample(a.id, 'q1', 0));
    await store.putTeachSample(sample(a.id, 'q1', 1));
    await store.putTeachSample(sample(a.id, 'q1', 1, 'again'));
    await store.putTeachSample(sample(b.id, 'q1', 0));
    const got = await store.teachSamples(a.id);
    expect(got.map((s) => [s.questionId, s.sample, s.text])).toEqual([
      ['q1', 0, 't0'],
      ['q1', 1, 'again'],
    ]);
    expect(await store.teachSamples(b.id)).toHaveLength(1);
    expect((await store.listTeachRuns()).map((r) => r.id)).toEqual([b.id, a.id]);
  });

  it("updates a run's status and deletes a run with its samples only", async () => {
    const { store } = await fresh();
    const a = await store.createTeachRun(run());
    const b = await store.createTeachRun(run());
    await store.putTeachSample(sample(a.id, 'q2', 0));
    await store.putTeachSample(sample(b.id, 'q2', 0));
    expect((await store.updateTeachRun(a.id, { status: 'done' })).status).toBe('done');
    await store.deleteTeachRun(a.id);
    expect(await store.getTeachRun(a.id)).toBeUndefined();
    expect(await store.teachSamples(a.id)).toEqual([]);
    expect(await store.teachSamples(b.id)).toHaveLength(1);
    await expect(store.updateTeachRun(a.id, { status: 'done' })).rejects.toThrow(/not found/);
  });

  it('a v2 database upgrades to the teach stores with its runs kept', async () => {
    const name = `teach-v2-${Math.random().toString(36).slice(2)}`;
    const v2 = await openDB(name, 2, {
      upgrade(d) {
        d.createObjectStore('runs', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
        d.createObjectStore('checkpoints', { keyPath: 'id' }).createIndex('byRun', 'runId');
        d.createObjectStore('blobs', { keyPath: 'checkpointId' });
        d.createObjectStore('metrics', { keyPath: ['runId', 'step'] });
        d.createObjectStore('datasets', { keyPath: 'fingerprint' });
      },
    });
    await v2.put('datasets', { fingerprint: 'f', name: 'x.jsonl', createdAt: 1, bytes: new ArrayBuffer(1) });
    v2.close();
    const store = await CheckpointStore.open(name);
    open.push(store);
    expect((await store.getDataset('f'))?.name).toBe('x.jsonl');
    const r = await store.createTeachRun(run());
    await store.putTeachSample(sample(r.id, 'q1', 0));
    expect(await store.teachSamples(r.id)).toHaveLength(1);
  });
});

describe('the origin a teacher worker may reach', () => {
  it('is the http(s) origin of the URL typed', () => {
    expect(connectOrigin('http://127.0.0.1:11434/v1')).toBe('http://127.0.0.1:11434');
    expect(connectOrigin('https://LLM.Example.org/v1/')).toBe('https://llm.example.org');
    expect(connectOrigin('http://[::1]:8080/v1')).toBe('http://[::1]:8080');
  });

  it('refuses what a policy must not name, saying why', () => {
    for (const [url, why] of [
      ['ws://127.0.0.1:8080', /only http/],
      ['javascript:alert(1)', /only http/],
      ['data:text/plain,x', /only http/],
      ['http://user:key@127.0.0.1:8080/v1', /API key/],
      ['127.0.0.1:8080', /only http|not a URL/],
      ['not a url', /not a URL/],
    ] as const) {
      const r = connectOrigin(url);
      expect(r, url).toBeInstanceOf(Error);
      expect((r as Error).message).toMatch(why);
    }
  });

  it("a worker script's query gives a policy exactly one plain origin, or none", () => {
    const q = (v: string): string => `?connect=${encodeURIComponent(v)}`;
    expect(connectFromQuery(q('http://127.0.0.1:11434'))).toBe('http://127.0.0.1:11434');
    expect(connectFromQuery('?worker_file&type=module&connect=http%3A%2F%2F127.0.0.1%3A8000')).toBe('http://127.0.0.1:8000');
    expect(connectFromQuery('')).toBeUndefined();
    for (const bad of [
      'http://127.0.0.1:11434 https://evil.example',
      "http://127.0.0.1:11434; script-src 'unsafe-inline'",
      "'unsafe-inline'",
      '*',
      'http://*.example.org',
      'http://127.0.0.1:11434/v1',
      'https:',
      'ws://127.0.0.1:8080',
    ])
      expect(connectFromQuery(q(bad)), bad).toBeUndefined();
  });
});
