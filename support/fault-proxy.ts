// A test helper: an HTTP proxy on 127.0.0.1 in front of a real server (e.g.
// support/llama-server.ts) that misbehaves as scripted, request by request,
// so that a client's handling of each fault can be checked against a real
// engine. Requests are numbered from 1 in arrival order (every method, so a
// preflight counts); a fault applies to the requests it names (`at`) or,
// without `at`, to every request whose path it matches (`path`), and the
// first fault that applies wins. Everything else is passed through untouched.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault = {
  /** Request numbers (1-based) it applies to; all requests when absent. */
  at?: number[];
  /** Only requests whose path (without the query) ends with this. */
  path?: string;
} & (
  | /** Answer this status with an OpenAI-style error body instead of passing on. */
  { kind: 'status'; status: number; retryAfterS?: number }
  /** Wait `ms` before passing the request on (the client may time out). */
  | { kind: 'delay'; ms: number }
  /** Pass on, then answer 200 with the upstream's body cut in half (not JSON). */
  | { kind: 'malformed' }
  /** Destroy the connection without an answer. */
  | { kind: 'cut' }
  /** Pass on, with every Access-Control-* header taken out (and preflights refused). */
  | { kind: 'no-cors' }
);

export interface FaultProxy {
  /** The upstream's URL with the proxy's origin, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  close(): Promise<void>;
  /** Requests received so far. */
  readonly requests: number;
  /** Each request in order: when it arrived (ms since the proxy started)
   * and what happened to it ('pass' or the fault's kind). */
  readonly log: { n: number; ms: number; method: string; path: string; did: string }[];
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

const dropCors = (h: IncomingMessage['headers']): IncomingMessage['headers'] =>
  Object.fromEntries(Object.entries(h).filter(([k]) => !k.toLowerCase().startsWith('access-control-')));

export async function startFaultProxy(o: { upstream: string; faults: Fault[] }): Promise<FaultProxy> {
  const up = new URL(o.upstream);
  const log: FaultProxy['log'] = [];
  const sockets = new Set<Socket>();
  let n = 0;
  const t0 = performance.now();

  /** Forwards the request; resolves with the upstream's status, headers and body. */
  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: up.host, 'content-length': String(body.length) };
      const r = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (res) => {
        readBody(res).then((b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }), reject);
      });
      r.on('error', reject);
      r.end(body);
    });

  const reply = (res: ServerResponse, status: number, headers: IncomingMessage['headers'], body: Buffer): void => {
    const h = { ...headers, 'content-length': String(body.length) };
    delete h['transfer-encoding'];
    delete h.connection;
    res.writeHead(status, h);
    res.end(body);
  };

  const server = createServer((req, res) => {
    const num = ++n;
    const p = (req.url ?? '/').split('?')[0];
    const fault = o.faults.find((f) => (f.at ? f.at.includes(num) : true) && (f.path ? p.endsWith(f.path) : true));
    log.push({ n: num, ms: performance.now() - t0, method: req.method ?? '', path: p, did: fault?.kind ?? 'pass' });
    void (async () => {
      const body = await readBody(req);
      if (fault?.kind === 'cut') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'status') {
        const text = Buffer.from(
          JSON.stringify({ error: { code: fault.status, message: `fault proxy: ${fault.status}`, type: 'server_error' } }),
        );
        const h: IncomingMessage['headers'] = { 'content-type': 'application/json', 'access-control-allow-origin': '*' };
        if (fault.retryAfterS !== undefined) h['retry-after'] = String(fault.retryAfterS);
        reply(res, fault.status, h, text);
        return;
      }
      if (fault?.kind === 'no-cors' && req.method === 'OPTIONS') {
        res.writeHead(404);
        res.end();
        return;
      }
      if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
      if (res.destroyed) return; // the client gave up while we waited
      let got: Awaited<ReturnType<typeof forward>>;
      try {
        got = await forward(req, body);
      } catch (e) {
        reply(res, 502, { 'content-type': 'text/plain' }, Buffer.from(`fault proxy: upstream unreachable: ${(e as Error).message}`));
        return;
      }
      if (fault?.kind === 'malformed') got.body = got.body.subarray(0, Math.floor(got.body.length / 2));
      reply(res, got.status, fault?.kind === 'no-cors' ? dropCors(got.headers) : got.headers, got.body);
    })().catch(() => req.socket.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${up.pathname.replace(/\/$/, '')}`,
    get requests() {
      return n;
    },
    log,
    async close(): Promise<void> {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
