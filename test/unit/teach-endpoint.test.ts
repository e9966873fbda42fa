// The OpenAI-compatible endpoint client (src/teach/endpoint.ts) against a
// real HTTP server on 127.0.0.1 (node:http, port 0): the request it sends,
// and each failure mapped to its TeachError kind and message (status codes,
// Retry-After, malformed JSON, missing choices, connection refused,
// timeout). The real-engine end-to-end tests live with the llama.cpp engine.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointTeacher, corsHint, listModels, normalizeBaseUrl, parseRetryAfter, preflight, presetFor } from '../../src/teach/endpoint';
import { renderPrompt } from '../../src/teach/prompt';
import { teach } from '../../src/teach/run';
import { type SampleRecord, type SampleRequest, TEACH_DEFAULTS, TeachError } from '../../src/teach/types';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let server: Server;
let base = '';
let handler: Handler = () => {};
const seen: { url: string; body: Record<string, unknown>; auth?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ url: req.url ?? '', body: body ? JSON.parse(body) : {}, auth: req.headers.authorization });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};
const models = (res: ServerResponse): void => json(res, 200, { object: 'list', data: [{ id: 'tiny' }, { id: 'other' }] });
const req = (o: Partial<SampleRequest> = {}): SampleRequest => ({
  prompt: renderPrompt('Q: {question}\nA:', { id: 'a', question: 'Two plus two?', answer: '4' }),
  temperature: 0.7,
  topP: 0.9,
  maxTokens: 32,
  seed: 42,
  stop: ['\nQ:'],
  ...o,
});
async function failure(p: Promise<unknown>): Promise<TeachError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TeachError);
    return e as TeachError;
  }
  throw new Error('expected a TeachError');
}

describe('endpoint teacher', () => {
  it('sends chat and completions requests with the sampling settings and reads the answer', async () => {
    handler = (r, _b, res) =>
      r.url?.endsWith('/chat/completions')
        ? json(res, 200, {
            choices: [{ message: { role: 'assistant', content: 'So 4.\nTherefore, the answer is 4.' }, finish_reason: 'stop' }],
            usage: { completion_tokens: 9 },
          })
        : json(res, 200, { choices: [{ text: ' So 4.', finish_reason: 'length' }] });
    seen.length = 0;
    const chat = new EndpointTeacher({ baseUrl: `${base}/`, model: 'tiny', apiKey: 'sk-1' });
    expect(chat.name).toBe(`tiny @ ${base}`);
    expect(await chat.sample(req())).toEqual({ text: 'So 4.\nTherefore, the answer is 4.', tokens: 9, finish: 'stop' });
    expect(seen[0].url).toBe('/v1/chat/completions');
    expect(seen[0].auth).toBe('Bearer sk-1');
    expect(seen[0].body).toMatchObject({
      model: 'tiny',
      temperature: 0.7,
      top_p: 0.9,
      max_tokens: 32,
      seed: 42,
      stop: ['\nQ:'],
      stream: false,
    });
    expect((seen[0].body.messages as unknown[]).length).toBe(2);
    const comp = new EndpointTeacher({ baseUrl: base, model: 'tiny', api: 'completions' });
    expect(await comp.sample(req({ stop: [] }))).toEqual({ text: ' So 4.', tokens: 0, finish: 'length' });
    expect(seen[1].url).toBe('/v1/completions');
    expect(seen[1].body.prompt).toBe('Q: Two plus two?\nA:');
    expect('stop' in seen[1].body).toBe(false);
    expect(seen[1].auth).toBeUndefined();
    // An empty completion is a sample (the report drops it as 'empty').
    handler = (_r, _b, res) => json(res, 200, { choices: [{ message: { content: null }, finish_reason: 'stop' }] });
    expect((await chat.sample(req())).text).toBe('');
  });

  it('maps each HTTP failure to its kind, naming the URL and the fix', async () => {
    const t = new EndpointTeacher({ baseUrl: base, model: 'missing' });
    const url = `${base}/chat/completions`;
    handler = (_r, _b, res) => json(res, 401, { error: { message: 'invalid api key' } });
    let e = await failure(t.sample(req()));
    expect([e.kind, e.retryable, e.status]).toEqual(['auth', false, 401]);
    expect(e.message).toBe(`${url} answered 401: invalid api key`);
    expect(e.hint).toMatch(/--api-key-env/);

    handler = (r, _b, res) =>
      r.url?.endsWith('/models') ? models(res) : json(res, 404, { error: { message: 'model "missing" not found' } });
    e = await failure(t.sample(req()));
    expect([e.kind, e.retryable]).toEqual(['not-found', false]);
    expect(e.message).toContain('model "missing" is not served; the server has: tiny, other');

    handler = (_r, _b, res) => json(res, 404, 'Not Found');
    e = await failure(new EndpointTeacher({ baseUrl: base.replace('/v1', ''), model: 'tiny' }).sample(req()));
    expect(e.message).toMatch(/check the base URL \(it usually ends in \/v1/);

    handler = (_r, _b, res) => json(res, 429, { error: 'slow down' }, { 'Retry-After': '3' });
    e = await failure(t.sample(req()));
    expect([e.kind, e.retryable, e.retryAfterMs]).toEqual(['rate-limited', true, 3000]);

    handler = (_r, _b, res) => json(res, 503, { error: { message: 'loading model' } });
    e = await failure(t.sample(req()));
    expect([e.kind, e.retryable, e.message]).toEqual(['server', true, `${url} answered 503: loading model`]);

    handler = (_r, _b, res) => json(res, 400, { error: { message: "'n' is not supported" } });
    e = await failure(t.sample(req()));
    expect([e.kind, e.retryable]).toEqual(['bad-request', false]);

    handler = (_r, _b, res) => json(res, 200, '{"choices": [{"message": {"content": "trunc');
    e = await failure(t.sample(req()));
    expect([e.kind, e.retryable]).toEqual(['malformed', true]);
    expect(e.message).toMatch(/the answer is not JSON/);

    handler = (_r, _b, res) => json(res, 200, { object: 'chat.completion' });
    e = await failure(t.sample(req()));
    expect(e.message).toMatch(/has no "choices"/);

    handler = (_r, _b, res) => json(res, 200, { choices: [{ message: { content: 7 } }] });
    e = await failure(t.sample(req()));
    expect(e.message).toMatch(/choices\[0\]\.message\.content is not a string/);
  });

  it('tells connection refused and a timeout apart', async () => {
    // A port just freed: nothing listens there.
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const down = `http://127.0.0.1:${port}/v1`;
    let e = await failure(new EndpointTeacher({ baseUrl: down, model: 'm' }).sample(req()));
    expect([e.kind, e.retryable]).toEqual(['unreachable', true]);
    expect(e.message).toBe(`${down}/chat/completions: connection refused; is the server running on that port?`);

    handler = () => {}; // never answers
    e = await failure(new EndpointTeacher({ baseUrl: base, model: 'm' }).sample(req({ signal: AbortSignal.timeout(50) })));
    expect(e.kind).toBe('timeout');
    const ac = new AbortController();
    const p = new EndpointTeacher({ baseUrl: base, model: 'm' }).sample(req({ signal: ac.signal }));
    setTimeout(() => ac.abort(), 20);
    expect((await failure(p)).kind).toBe('aborted');
  });

  it('retries 500 then 200 inside teach(): the sample is stored once', async () => {
    let n = 0;
    handler = (_r, _b, res) =>
      n++ === 0
        ? json(res, 500, { error: 'boom' })
        : json(res, 200, { choices: [{ message: { content: 'So 4.\nTherefore, the answer is 4.' } }] });
    const stored: SampleRecord[] = [];
    const r = await teach({
      questions: [{ id: 'a', question: 'Two plus two?', answer: '4' }],
      teacher: new EndpointTeacher({ baseUrl: base, model: 'tiny' }),
      settings: { ...TEACH_DEFAULTS, samples: 1, taskType: 'number' },
      store: { load: async () => [], append: async (x) => void stored.push(x) },
      sleep: async () => {},
    });
    expect(n).toBe(2);
    expect(stored.length).toBe(1);
    expect(r.failures).toEqual([]);
  });

  it('lists models, checks URLs, parses Retry-After and knows each preset', async () => {
    handler = (_r, _b, res) => models(res);
    expect(await listModels({ baseUrl: base, model: 'x' })).toEqual(['tiny', 'other']);
    expect(await preflight(base, { origin: 'http://localhost:5173' })).toEqual({ ok: true, models: ['tiny', 'other'] });
    handler = (_r, _b, res) => json(res, 401, { error: 'key' });
    expect(await preflight(base, { origin: 'http://localhost:5173' })).toMatchObject({ ok: false, kind: 'auth' });
    expect(() => normalizeBaseUrl('ftp://x')).toThrow(/must start with http:\/\/ or https:\/\//);
    expect(() => normalizeBaseUrl('localhost 11434')).toThrow(/is not a URL/);
    expect(() => new EndpointTeacher({ baseUrl: base, model: ' ' })).toThrow(/model name is empty/);
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(presetFor('http://127.0.0.1:11434/v1')?.id).toBe('ollama');
    expect(corsHint('http://localhost:11434/v1', 'http://localhost:5173')).toContain('OLLAMA_ORIGINS=http://localhost:5173');
    expect(corsHint('http://127.0.0.1:1234/v1', 'x')).toContain('lms server start --cors');
    expect(corsHint('http://127.0.0.1:8000/v1', 'http://a')).toContain('--allowed-origins');
    expect(corsHint('http://127.0.0.1:8080/v1', 'http://a')).toContain('--cors-origins http://a');
    expect(corsHint('http://127.0.0.1:9999/v1', 'http://a')).toContain('Access-Control-Allow-Origin: http://a');
  });

  it('preflight: a refused connection is unreachable, with the preset to start', async () => {
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const r = await preflight(`http://127.0.0.1:${port}/v1`, { origin: 'http://localhost:5173' });
    expect(r).toMatchObject({ ok: false, kind: 'unreachable' });
  });

  it("preflight: a server that answers only a no-cors probe is a CORS refusal, with that server's fix", async () => {
    // Node's fetch enforces no CORS; this one refuses to hand over a cors
    // answer as a browser does for a server without the headers (the real
    // browser case is the page's test), while the server is real.
    const browserLike: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.mode !== 'no-cors') throw new TypeError('Failed to fetch');
      return res;
    };
    handler = (_r, _b, res) => models(res);
    const r = await preflight(base, { origin: 'http://localhost:5173', fetch: browserLike });
    expect(r).toMatchObject({ ok: false, kind: 'cors' });
    expect(r.ok || r.message).toMatch(/answered, but without CORS headers for http:\/\/localhost:5173/);
  });
});
