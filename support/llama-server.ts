// A test and bench helper: an OpenAI-compatible HTTP server on 127.0.0.1
// over a GGUF file, answering as llama.cpp's llama-server does (the routes,
// the JSON shapes, its refusals of `n` > 1 and of streaming here, its CORS
// headers), with real generation by llama.cpp (src/node/gguf-teacher.ts,
// node-llama-cpp). It runs in the calling process: the model is loaded once,
// generation runs on llama.cpp's own thread, and a test that wants "server
// down" closes it (or points at a port nothing listens on).
//
// POST /v1/completions       {prompt, max_tokens, temperature, top_p, seed, stop}
// POST /v1/chat/completions  {messages, ...}: the messages in ChatML, which
//                            llama-server falls back to for a model without a
//                            chat template (ours have none)
// GET  /v1/models
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type GgufTeacher, openGgufTeacher } from '../src/node/gguf-teacher';

export interface LlamaServer {
  /** The base URL, http://127.0.0.1:PORT/v1 */
  url: string;
  close(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Allow-Headers': '*',
  'Access-Control-Max-Age': '600',
};

class BadRequest extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

const num = (v: unknown, name: string, dflt: number): number => {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadRequest(`"${name}" must be a number`);
  return v;
};

function stops(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  throw new BadRequest('"stop" must be a string or an array of strings');
}

function chatml(messages: unknown): string {
  if (!Array.isArray(messages) || messages.length === 0) throw new BadRequest('"messages" must be a non-empty array');
  let out = '';
  for (const m of messages as { role?: unknown; content?: unknown }[]) {
    if (typeof m?.role !== 'string' || typeof m.content !== 'string')
      throw new BadRequest('each message needs a string "role" and "content"');
    out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  }
  return `${out}<|im_start|>assistant\n`;
}

/** Starts the server over `gguf`; `cors: true` answers preflights and sends
 * Access-Control-Allow-Origin: * on every answer (llama-server does so by
 * default), `cors: false` sends no CORS header at all (a server a page may
 * not read). */
export async function startLlamaServer(o: { gguf: string; cors?: boolean; threads?: number }): Promise<LlamaServer> {
  const teacher: GgufTeacher = await openGgufTeacher(o.gguf, { threads: o.threads ?? 1 });
  const cors = o.cors !== false;
  let nextId = 0;

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...(cors ? { 'Access-Control-Allow-Origin': '*' } : {}),
    });
    res.end(text);
  };
  const fail = (res: ServerResponse, status: number, message: string, type: string): void =>
    send(res, status, { error: { code: status, message, type } });

  const complete = async (body: Record<string, unknown>, chat: boolean, signal: AbortSignal): Promise<unknown> => {
    if (body.stream === true) throw new BadRequest('streaming is not supported by this test server; send "stream": false');
    if (body.n !== undefined && body.n !== 1) throw new BadRequest('Only one completion choice is allowed');
    let text: string;
    if (chat) text = chatml(body.messages);
    else if (typeof body.prompt === 'string') text = body.prompt;
    else throw new BadRequest('"prompt" must be a string');
    const maxTokens = num(body.max_tokens ?? body.max_completion_tokens, 'max_tokens', 256);
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new BadRequest('"max_tokens" must be an integer >= 1');
    const r = await teacher.sample({
      prompt: { text, messages: [] },
      temperature: num(body.temperature, 'temperature', 0.8),
      topP: num(body.top_p, 'top_p', 0.95),
      maxTokens,
      seed: num(body.seed, 'seed', 0xffffffff) >>> 0,
      stop: stops(body.stop),
      signal,
    });
    const promptTokens = teacher.countTokens(text);
    const usage = { prompt_tokens: promptTokens, completion_tokens: r.tokens, total_tokens: promptTokens + r.tokens };
    const common = { id: `cmpl-${nextId++}`, created: Math.floor(Date.now() / 1000), model: teacher.model, usage };
    return chat
      ? {
          ...common,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finish }],
        }
      : { ...common, object: 'text_completion', choices: [{ index: 0, text: r.text, logprobs: null, finish_reason: r.finish }] };
  };

  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') {
      if (cors) res.writeHead(204, CORS);
      else res.writeHead(404);
      res.end();
      return;
    }
    if (req.method === 'GET' && (url === '/v1/models' || url === '/models')) {
      send(res, 200, { object: 'list', data: [{ id: teacher.model, object: 'model', created: 0, owned_by: 'llamacpp' }] });
      return;
    }
    const chat = url === '/v1/chat/completions' || url === '/chat/completions';
    if (req.method !== 'POST' || !(chat || url === '/v1/completions' || url === '/completions')) {
      fail(res, 404, 'File Not Found', 'not_found_error');
      return;
    }
    // A client that hangs up stops its generation.
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    void (async () => {
      let body: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(await readBody(req));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequest('the body must be a JSON object');
        body = parsed as Record<string, unknown>;
      } catch (e) {
        fail(res, 400, e instanceof BadRequest ? e.message : 'the body is not JSON', 'invalid_request_error');
        return;
      }
      try {
        send(res, 200, await complete(body, chat, ac.signal));
      } catch (e) {
        if (ac.signal.aborted) return;
        if (e instanceof BadRequest) fail(res, 400, e.message, 'invalid_request_error');
        else fail(res, 500, e instanceof Error ? e.message : String(e), 'server_error');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await teacher.close?.();
    },
  };
}
