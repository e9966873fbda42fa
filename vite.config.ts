import type { IncomingMessage, ServerResponse } from 'node:http';
import { defineConfig, type Plugin } from 'vite';
import { connectFromQuery } from './src/shared/connect-origin.ts';

// The app is a static site: index.html + src/ui (DOM only) + a module worker
// (src/worker) that owns tfjs. Workers are ES modules so that backends can be
// code-split and imported lazily (src/core/backend.ts).

// ---- security headers (README, "Hosting": what a static host must send) ----
//
// Nothing leaves this origin: teacher files stay on the machine. The policy
// is sent as a header with EVERY response: a module worker is bound by the
// headers of its own script (a <meta> policy of the page does not reach it),
// and frame-ancestors works only as a header. 'wasm-unsafe-eval' lets tfjs
// compile its wasm backend (the worker fetches the .wasm files and the demo
// data from this origin: connect-src 'self'); blob: workers are what
// emscripten spawns for the threaded wasm build (its pthread workers; the
// glue they load comes from this origin: src/worker/wasm-threads.ts). Styles come only from the CSS file: uPlot and the UI
// set element.style from script, which CSP allows.
const CSP: [directive: string, sources: string[]][] = [
  ['default-src', ["'self'"]],
  ['script-src', ["'self'", "'wasm-unsafe-eval'"]],
  ['worker-src', ["'self'", 'blob:']],
  ['connect-src', ["'self'"]],
  ['img-src', ["'self'", 'data:', 'blob:']],
  ['style-src', ["'self'"]],
  ['object-src', ["'none'"]],
  ['base-uri', ["'none'"]],
  ['form-action', ["'none'"]],
  ['frame-ancestors', ["'none'"]],
];

/** `dev`: the dev server injects the CSS it serves as <style> elements, so
 * it needs inline styles (scripts stay 'self': /@vite/client is a file).
 * `meta`: without the directives a <meta> policy ignores (frame-ancestors). */
/** `connect`: one more origin for connect-src (the teacher worker's script only). */
function policy(o: { dev?: boolean; meta?: boolean; connect?: string } = {}): string {
  const extra = (d: string): string[] => [
    ...(o.dev && d === 'style-src' ? ["'unsafe-inline'"] : []),
    ...(o.connect && d === 'connect-src' ? [o.connect] : []),
  ];
  return CSP.filter(([d]) => !(o.meta && d === 'frame-ancestors'))
    .map(([d, sources]) => [d, ...sources, ...extra(d)].join(' '))
    .join('; ');
}

/** The teacher worker reaches the endpoint the person typed, and only it.
 * A dedicated worker is bound by the policy of its own script's response,
 * so the page opens src/worker/teacher-worker.ts's script with
 * ?connect=<origin>, and this answers that one script with
 * `connect-src 'self' <origin>` (validated: src/shared/connect-origin.ts);
 * every other response, the page included, keeps 'self'. The header is
 * swapped as it is written, whichever of vite's middlewares writes it. */
function teacherConnect(): Plugin {
  const middleware =
    (o: { dev?: boolean }) =>
    (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
      const url = new URL(req.url ?? '/', 'http://x');
      const connect = /teacher-worker[^/]*\.(js|ts)$/.test(url.pathname) ? connectFromQuery(url.search) : undefined;
      if (connect) {
        // credentialless, not require-corp: still cross-origin isolated, but a
        // no-cors request (sent without cookies) reaches the endpoint, which is
        // how the preflight tells a server without CORS headers from no server
        const swap: Record<string, string> = {
          'content-security-policy': policy({ dev: o.dev, connect }),
          'cross-origin-embedder-policy': 'credentialless',
        };
        const set = res.setHeader.bind(res);
        res.setHeader = (name, value) => set(name, swap[name.toLowerCase()] ?? value);
        for (const [name, value] of Object.entries(swap)) res.setHeader(name, value);
      }
      next();
    };
  return {
    name: 'teacher-connect',
    configureServer: (server) => void server.middlewares.use(middleware({ dev: true })),
    configurePreviewServer: (server) => void server.middlewares.use(middleware({})),
  };
}

function securityHeaders(o: { dev?: boolean } = {}): Record<string, string> {
  return {
    'Content-Security-Policy': policy(o),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    // Cross-origin isolated (the page has no cross-origin resources to
    // lose): SharedArrayBuffer, which the threaded wasm build needs
    // (src/worker/wasm-threads.ts); without it wasm runs single-threaded.
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
  };
}

/** The built index.html also carries the policy as a <meta> tag, for a host
 * that can't send headers (it then covers the page only, not the worker,
 * and can't forbid framing). Not in dev, whose header allows inline styles. */
function cspMeta(): Plugin {
  return {
    name: 'csp-meta',
    apply: 'build',
    transformIndexHtml: {
      order: 'pre',
      handler: (html, ctx) => {
        if (ctx.path !== '/index.html') return html;
        const meta = `<meta http-equiv="Content-Security-Policy" content="${policy({ meta: true })}" />`;
        // right after <meta charset>, before anything it governs
        return /<meta charset[^>]*>/i.test(html)
          ? html.replace(/<meta charset[^>]*>/i, (m) => `${m}\n    ${meta}`)
          : html.replace(/<head>/i, `<head>\n    ${meta}`);
      },
    },
  };
}

export default defineConfig({
  plugins: [cspMeta(), teacherConnect()],
  server: { host: '127.0.0.1', headers: securityHeaders({ dev: true }) },
  preview: { host: '127.0.0.1', headers: securityHeaders() },
  worker: { format: 'es' },
  // The dev server pre-bundles what src/worker/wasm-threads.ts imports
  // lazily from inside tfjs-backend-wasm (found only at run time, they would
  // make it re-bundle and fail that first import).
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js',
      '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js',
    ],
  },
  build: {
    target: 'es2022',
    // tfjs-core plus one backend is ~1 MB minified; that is expected here.
    chunkSizeWarningLimit: 2500,
  },
});
