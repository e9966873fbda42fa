// An OpenAI-compatible Teacher over fetch (a Web Worker and Node 20 alike):
// POST {base}/chat/completions or {base}/completions, one request per sample
// (Ollama ignores `n`, llama-server refuses it), each failure mapped to a
// TeachError whose message names the URL and, where known, the fix.
//
// Why not the `openai` npm package: it would give typed errors and retries,
// but (1) the runner owns retries (per-sample bookkeeping, resume, pause,
// Retry-After), so its own would have to be switched off (maxRetries: 0);
// (2) its connection error is one class for "refused", "DNS" and a CORS
// refusal, while our messages need the status, the server's own error text
// and GET /models to name the fix, so we would still read raw responses;
// (3) it adds a dependency to the teacher worker's chunk for two POSTs and a
// GET: openai 6.49.0 with chat, completions and models.list bundled by
// esbuild --minify for the browser is 150 kB (36 kB gzip), this file 8 kB
// (3 kB gzip). It does pass seed / top_p / stop through and has a
// completions endpoint; the fit failed on (1)-(3), not on features.

import { type SampleRequest, type SampleResult, type Teacher, TeachError } from './types';

export type EndpointApi = 'chat' | 'completions';

export interface EndpointConfig {
  /** Base URL ending in /v1, e.g. http://127.0.0.1:11434/v1. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  api?: EndpointApi;
  /** Injected for the page's CSP-aware fetch or tests; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** The page's origin, for the CORS hints (e.g. http://localhost:5173). */
  origin?: string;
}

export interface EndpointPreset {
  id: 'ollama' | 'llama-server' | 'vllm' | 'lm-studio';
  label: string;
  baseUrl: string;
  /** How to start the server so that a page at `origin` may call it. */
  corsFix: (origin: string) => string;
}

export const ENDPOINT_PRESETS: readonly EndpointPreset[] = [
  {
    id: 'ollama',
    label: 'Ollama',
    baseUrl: 'http://127.0.0.1:11434/v1',
    corsFix: (o) => `start Ollama with OLLAMA_ORIGINS=${o} (e.g. OLLAMA_ORIGINS=${o} ollama serve)`,
  },
  {
    id: 'llama-server',
    label: 'llama.cpp server',
    baseUrl: 'http://127.0.0.1:8080/v1',
    // llama-server reflects any Origin by default; builds with the --cors-*
    // options (2026) restrict it when server tools are on.
    corsFix: (o) =>
      `llama-server allows any origin by default; a build with --cors-origins restricts it: start it with --cors-origins ${o} (or LLAMA_ARG_CORS_ORIGINS=${o}); an older build behind a proxy needs the proxy to send Access-Control-Allow-Origin`,
  },
  {
    id: 'vllm',
    label: 'vLLM',
    baseUrl: 'http://127.0.0.1:8000/v1',
    corsFix: (o) => `start vLLM with --allowed-origins '["${o}"]' (vllm serve MODEL --allowed-origins '["${o}"]')`,
  },
  {
    id: 'lm-studio',
    label: 'LM Studio',
    baseUrl: 'http://127.0.0.1:1234/v1',
    corsFix: () => 'start the LM Studio server with CORS on: lms server start --cors (or the "Enable CORS" switch in its Developer tab)',
  },
];

/** The preset a URL points at, by its port. */
export function presetFor(url: string): EndpointPreset | undefined {
  let port: string;
  try {
    port = new URL(url).port;
  } catch {
    return undefined;
  }
  return ENDPOINT_PRESETS.find((p) => new URL(p.baseUrl).port === port);
}

/** The CORS fix to show for a URL: its server's own, or the general rule. */
export function corsHint(url: string, origin: string): string {
  const p = presetFor(url);
  if (p) return `${p.label}: ${p.corsFix(origin)}`;
  return `the server must answer with Access-Control-Allow-Origin: ${origin} (and allow the Authorization and Content-Type headers)`;
}

/** The base URL without a trailing slash; refuses what is not http(s). */
export function normalizeBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new TeachError('bad-request', `endpoint URL "${url}" is not a URL; e.g. http://127.0.0.1:11434/v1`, { retryable: false });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new TeachError('bad-request', `endpoint URL "${url}" must start with http:// or https://`, { retryable: false });
  return u.href.replace(/\/+$/, '');
}

/** Retry-After as ms: delta seconds or an HTTP date. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  const secs = Number(v.trim());
  if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, 600_000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.min(Math.max(0, t - now), 600_000) : undefined;
}

/** The server's own error words from a JSON or text body, one line, clipped. */
function serverWords(body: string): string {
  let msg = body;
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown; detail?: unknown };
    const e = j.error;
    msg = String(
      typeof e === 'string'
        ? e
        : e && typeof e === 'object' && 'message' in e
          ? (e as { message: unknown }).message
          : (j.message ?? j.detail ?? body),
    );
  } catch {
    // not JSON: the text itself
  }
  const one = msg.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}

/** Connection failures: fetch's TypeError, with Node's cause code when there is one. */
function networkError(e: unknown, url: string): TeachError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  if (code === 'ECONNREFUSED')
    return new TeachError('unreachable', `${url}: connection refused; is the server running on that port?`, {
      hint: 'start the server, or check the base URL and port',
    });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new TeachError('unreachable', `${url}: host not found (${code})`);
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')
    return new TeachError('unreachable', `${url}: the server closed the connection (${code})`);
  const why = cause?.message ?? (e instanceof Error ? e.message : String(e));
  return new TeachError('unreachable', `${url}: cannot reach the server (${why}); in the page this is also what a CORS refusal looks like`);
}

/** Runs fetch and maps a thrown error: the request's abort (cancel or
 * timeout) or a network failure. */
async function send(f: typeof fetch, url: string, init: RequestInit, timeoutMs?: number): Promise<Response> {
  try {
    return await f(url, init);
  } catch (e) {
    const reason = init.signal?.aborted ? (init.signal as AbortSignal).reason : undefined;
    if (reason !== undefined) {
      const name = (reason as { name?: string }).name;
      if (name === 'TimeoutError')
        return Promise.reject(
          new TeachError('timeout', `${url}: no answer within the timeout${timeoutMs ? ` (${timeoutMs / 1000} s)` : ''}`),
        );
      return Promise.reject(new TeachError('aborted', `${url}: cancelled`));
    }
    throw networkError(e, url);
  }
}

function headers(apiKey: string | undefined, json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (json) h['Content-Type'] = 'application/json';
  if (apiKey) h.Authorization = `Bearer ${apiKey}`;
  return h;
}

/** GET {base}/models: the model ids the server offers. */
export async function listModels(cfg: EndpointConfig, signal?: AbortSignal): Promise<string[]> {
  const base = normalizeBaseUrl(cfg.baseUrl);
  const url = `${base}/models`;
  const res = await send(cfg.fetch ?? fetch, url, { headers: headers(cfg.apiKey, false), signal });
  const body = await res.text();
  if (!res.ok) throw statusError(res, body, url, cfg, []);
  try {
    const j = JSON.parse(body) as { data?: { id?: unknown }[]; models?: { name?: unknown; model?: unknown }[] };
    if (Array.isArray(j.data)) return j.data.map((m) => String(m.id));
    if (Array.isArray(j.models)) return j.models.map((m) => String(m.model ?? m.name));
  } catch {
    // fall through
  }
  throw new TeachError('malformed', `${url}: the answer is not a model list (${serverWords(body)})`, { retryable: false });
}

/** An HTTP error status as a TeachError; `models` (from GET /models) names
 * what the server has when a 404 may be a wrong model name. */
function statusError(res: Response, body: string, url: string, cfg: EndpointConfig, models: string[] | undefined): TeachError {
  const s = res.status;
  const words = serverWords(body);
  const said = words ? `: ${words}` : '';
  if (s === 401 || s === 403)
    return new TeachError('auth', `${url} answered ${s}${said}`, {
      status: s,
      hint: cfg.apiKey ? 'the API key was refused; check it' : 'the server wants an API key (--api-key-env VAR in the CLI)',
    });
  if (s === 404) {
    const has = models && models.length > 0;
    const hint = has
      ? models.includes(cfg.model)
        ? `the server has model "${cfg.model}"; check the base URL (it usually ends in /v1)`
        : `model "${cfg.model}" is not served; the server has: ${models.slice(0, 20).join(', ')}`
      : 'check the base URL (it usually ends in /v1, e.g. http://127.0.0.1:11434/v1) and the model name';
    return new TeachError('not-found', `${url} answered 404${said}; ${hint}`, { status: s, hint, retryable: false });
  }
  if (s === 429)
    return new TeachError('rate-limited', `${url} answered 429 (too many requests)${said}`, {
      status: s,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
    });
  if (s >= 500)
    return new TeachError('server', `${url} answered ${s}${said}`, {
      status: s,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
    });
  return new TeachError('bad-request', `${url} answered ${s}${said}`, { status: s, retryable: false });
}

/** Bodies above this are refused unread: a teacher's answer is short. */
const MAX_BODY_CHARS = 16 * 1024 * 1024;

export class EndpointTeacher implements Teacher {
  readonly name: string;
  private readonly base: string;
  private readonly api: EndpointApi;
  private readonly f: typeof fetch;

  constructor(private readonly cfg: EndpointConfig) {
    this.base = normalizeBaseUrl(cfg.baseUrl);
    if (typeof cfg.model !== 'string' || cfg.model.trim() === '')
      throw new TeachError('bad-request', 'model name is empty; give the name the server knows (e.g. qwen2.5:7b)', { retryable: false });
    this.api = cfg.api ?? 'chat';
    if (this.api !== 'chat' && this.api !== 'completions')
      throw new TeachError('bad-request', `api must be "chat" or "completions", got "${String(this.api)}"`, { retryable: false });
    this.f = cfg.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
    this.name = `${cfg.model} @ ${this.base}`;
  }

  /** Nothing to release: each request is its own. */
  async close(): Promise<void> {}

  async sample(req: SampleRequest): Promise<SampleResult> {
    const chat = this.api === 'chat';
    const url = `${this.base}/${chat ? 'chat/completions' : 'completions'}`;
    const body: Record<string, unknown> = {
      model: this.cfg.model,
      temperature: req.temperature,
      top_p: req.topP,
      max_tokens: req.maxTokens,
      seed: req.seed,
      stream: false,
    };
    if (chat) body.messages = req.prompt.messages;
    else body.prompt = req.prompt.text;
    if (req.stop.length > 0) body.stop = req.stop.slice(0, 4); // OpenAI allows up to 4
    const res = await send(this.f, url, {
      method: 'POST',
      headers: headers(this.cfg.apiKey, true),
      body: JSON.stringify(body),
      signal: req.signal,
    });
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (req.signal?.aborted) {
        const timeout = (req.signal.reason as { name?: string })?.name === 'TimeoutError';
        throw new TeachError(timeout ? 'timeout' : 'aborted', `${url}: ${timeout ? 'no full answer within the timeout' : 'cancelled'}`);
      }
      throw new TeachError('unreachable', `${url}: the connection broke while reading the answer (${e instanceof Error ? e.message : e})`);
    }
    if (!res.ok) {
      let models: string[] | undefined;
      if (res.status === 404) models = await listModels(this.cfg, req.signal).catch(() => undefined);
      throw statusError(res, text, url, this.cfg, models);
    }
    return parseCompletion(text, url, chat);
  }
}

/** A completion body to a SampleResult; 'malformed' when it is not the
 * JSON the API promises. An empty completion is a result (text ''), not an
 * error: its seed would give it again, and curation counts it as 'empty'. */
export function parseCompletion(body: string, url: string, chat: boolean): SampleResult {
  if (body.length > MAX_BODY_CHARS)
    throw new TeachError('malformed', `${url}: answer of ${body.length} characters, over ${MAX_BODY_CHARS}`);
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    const head = body.replace(/\s+/g, ' ').slice(0, 80);
    throw new TeachError('malformed', `${url}: the answer is not JSON ("${head}${body.length > 80 ? '…' : ''}")`, { retryable: true });
  }
  const choices = (j as { choices?: unknown })?.choices;
  if (!Array.isArray(choices) || choices.length === 0 || typeof choices[0] !== 'object' || choices[0] === null)
    throw new TeachError(
      'malformed',
      `${url}: the answer has no "choices" (an OpenAI-compatible ${chat ? 'chat ' : ''}completion has choices[0])`,
      {
        retryable: true,
      },
    );
  const c = choices[0] as { message?: { content?: unknown }; text?: unknown; finish_reason?: unknown };
  const raw = chat ? c.message?.content : c.text;
  if (raw !== undefined && raw !== null && typeof raw !== 'string')
    throw new TeachError('malformed', `${url}: choices[0].${chat ? 'message.content' : 'text'} is not a string`, { retryable: true });
  const usage = (j as { usage?: { completion_tokens?: unknown } }).usage;
  const tokens = typeof usage?.completion_tokens === 'number' && usage.completion_tokens >= 0 ? usage.completion_tokens : 0;
  return { text: raw ?? '', tokens, finish: typeof c.finish_reason === 'string' ? c.finish_reason : '' };
}

export type PreflightResult =
  | { ok: true; models: string[] }
  | {
      ok: false;
      kind: 'cors' | 'unreachable' | 'auth' | 'not-found' | 'server' | 'bad-request' | 'malformed' | 'timeout';
      message: string;
      hint?: string;
    };

/** Before a run from the page: GET {base}/models. A fetch TypeError is a CORS
 * refusal when a no-cors probe of the same URL reaches the server (an
 * opaque answer), and an unreachable server when that fails too; each comes
 * with the fix for the preset the port points at. */
export async function preflight(
  baseUrl: string,
  o: { origin: string; apiKey?: string; fetch?: typeof fetch; timeoutMs?: number },
): Promise<PreflightResult> {
  const f = o.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  let base: string;
  try {
    base = normalizeBaseUrl(baseUrl);
  } catch (e) {
    return { ok: false, kind: 'bad-request', message: (e as Error).message };
  }
  const url = `${base}/models`;
  const timeout = o.timeoutMs ?? 5000;
  try {
    const models = await listModels({ baseUrl: base, model: '-', apiKey: o.apiKey, fetch: f }, AbortSignal.timeout(timeout));
    return { ok: true, models };
  } catch (e) {
    const err = e instanceof TeachError ? e : new TeachError('unreachable', String(e));
    if (err.kind !== 'unreachable') {
      const kind = err.kind === 'rate-limited' ? 'server' : err.kind === 'aborted' ? 'timeout' : err.kind;
      return { ok: false, kind: kind as Exclude<PreflightResult, { ok: true }>['kind'], message: err.message, hint: err.hint };
    }
    // Does the server answer at all? An opaque no-cors answer says yes.
    let reached = false;
    try {
      await f(url, { mode: 'no-cors', signal: AbortSignal.timeout(timeout) });
      reached = true;
    } catch {
      reached = false;
    }
    if (reached) {
      const hint = corsHint(base, o.origin);
      return { ok: false, kind: 'cors', message: `${base} answered, but without CORS headers for ${o.origin}: ${hint}`, hint };
    }
    const p = presetFor(base);
    const hint = p
      ? `start ${p.label} (it listens on ${new URL(p.baseUrl).host} by default)`
      : 'start the server, or check the URL and port';
    return { ok: false, kind: 'unreachable', message: `${base}: no server answers (${err.message}); ${hint}`, hint };
  }
}
