// Our GGUF export in llama.cpp itself: @wllama/wllama (llama.cpp compiled to
// WebAssembly, its llama-server core) in headless Chromium loads the files
// that ggufFile wrote for a tiny GPT-2, LLaMA (GQA, Q/K permuted), Qwen2 and
// Gemma3 (sliding window shorter than the prompt) student, each LoRA-trained a few steps, and for our from-scratch GPT-2 with
// its own BPE, F32 and F16. The prompt goes in as
// token ids (not text: llama.cpp's pre-tokenizer may split text differently
// from the tokenizer.json, see src/export/gguf-model.ts), llama.cpp decodes
// greedily, and its tokens must be ours; its log-probs of the first step
// must be ours within a tolerance (the F16 file against our forward on the
// same half-rounded weights; its tokens also against the unrounded ones).
// llama.cpp runs with an F32 KV cache and no flash attention, so that it
// computes in F32 as we do.
// wllama 3 runs llama-server's completion path, whose prompt must be text
// there (a token array is refused: "type must be string, but is array"), so
// the prompt goes in as text. The tiny tokenizers' regexes are GPT-2's and
// LLaMA-3's, which llama.cpp has built in (tokenizer.ggml.pre gpt-2 /
// llama-bpe), so its prompt ids are ours: the test checks the count
// (usage.prompt_tokens), and any other id would move the logits it compares.
// The generated tokens are compared as ids.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, freePort, launchBrowser, ROOT } from '../../support/browser';
import { ggufFile } from '../../src/export/gguf';
import { f16BitsToF32, f32ToF16Bits } from '../../src/export/gguf-writer';
import { GGUF_CASES, hasPython, makeTinyFolders, reference, scratchExport, trainedExport, type Reference } from './gguf-students';

// the pretrained cases, and our from-scratch GPT-2 with its own BPE
const NAMES = [...GGUF_CASES.map((c) => c.name), 'scratch'];

const N = 12; // greedy tokens compared
const TOP = 5; // first-step log-probs compared
const WLLAMA = path.join(ROOT, 'node_modules/@wllama/wllama/esm');

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { Wllama } from '/wllama/index.js';
window.wllamaVersion = Wllama.getLibllamaVersion?.() ?? '';
window.runGguf = async (url, prompt, n, top, banned) => {
  const logs = [];
  const keep = (...a) => logs.push(a.map(String).join(' '));
  const w = new Wllama({ default: '/wllama/wasm/wllama.wasm' }, { logger: { debug() {}, log: keep, info: keep, warn: keep, error: keep } });
  try {
    const blob = await (await fetch(url)).blob();
    await w.loadModel([blob], { n_ctx: 128, n_batch: 128, n_threads: 1, n_gpu_layers: 0, n_parallel: 1, warmup: false, cache_type_k: 'f32', cache_type_v: 'f32', flash_attn: false });
    const info = w.getLoadedContextInfo();
    const r = await w.createCompletion({ prompt, max_tokens: n, temperature: 0, logprobs: top, n_probs: top, ignore_eos: true, cache_prompt: false, logit_bias: banned.map((id) => [id, false]) });
    return { ok: true, info: { n_vocab: info.n_vocab, n_ctx_train: info.n_ctx_train, n_embd: info.n_embd, n_layer: info.n_layer, token_bos: info.token_bos, token_eos: info.token_eos }, result: r, logs };
  } catch (e) {
    return { ok: false, error: String(e && e.stack || e), logs };
  } finally {
    await w.exit().catch(() => {});
  }
};
window.pageReady = true;
</script>`;

interface Step {
  id: number;
  logprob: number;
  top_logprobs: { id: number; logprob: number }[];
}
interface Ran {
  ok: boolean;
  error?: string;
  logs: string[];
  info?: Record<string, number>;
  result?: { choices: { text: string; logprobs: { content: Step[] } | null }[]; usage: { prompt_tokens: number } };
}

function serveFiles(files: Map<string, Uint8Array>, port: number): Promise<Server> {
  const types: Record<string, string> = {
    '.js': 'text/javascript',
    '.wasm': 'application/wasm',
    '.html': 'text/html',
    '.gguf': 'application/octet-stream',
  };
  const srv = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x').pathname;
    let body: Uint8Array | undefined;
    if (url === '/') body = new TextEncoder().encode(PAGE);
    else if (url.startsWith('/wllama/') && !url.includes('..')) {
      try {
        body = readFileSync(path.join(WLLAMA, url.slice('/wllama/'.length)));
      } catch {
        body = undefined;
      }
    } else body = files.get(url);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    // wllama's wasm uses shared memory: the page must be cross-origin isolated
    res.writeHead(200, {
      'Content-Type': types[path.extname(url)] ?? 'text/html',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    });
    res.end(body);
  });
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}

const roundF16 = (x: Float32Array): Float32Array => x.map((v) => f16BitsToF32(f32ToF16Bits(v)));

describe.skipIf(!chromiumAvailable() || !hasPython)('GGUF exports in llama.cpp (wllama, headless Chromium)', () => {
  let dir = '';
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let base = '';
  let version = '';
  const files = new Map<string, Uint8Array>();
  const cases: { name: string; prompt: number[]; text: string; banned: number[]; ref: Record<'F32' | 'F16', Reference> }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-gguf-'));
    makeTinyFolders(dir);
    for (const name of NAMES) {
      const { model, prompt, text, allowed } = name === 'scratch' ? await scratchExport() : await trainedExport(dir, name);
      const banned = allowed.flatMap((a, id) => (a ? [] : [id]));
      for (const dtype of ['F32', 'F16'] as const) files.set(`/models/${name}.${dtype}.gguf`, ggufFile(model, { dtype }));
      cases.push({
        name,
        prompt,
        text,
        banned,
        ref: { F32: await reference(model, prompt, N, allowed), F16: await reference(model, prompt, N, allowed, roundF16) },
      });
    }
    const port = await freePort();
    server = await serveFiles(files, port);
    base = `http://127.0.0.1:${port}`;
    browser = await launchBrowser({ webgpu: false });
    page = await browser.newPage();
    await page.goto(`${base}/`);
    await page.waitForFunction(() => (window as unknown as { pageReady?: boolean }).pageReady === true, undefined, { timeout: 60_000 });
    version = await page.evaluate(() => String((window as unknown as { wllamaVersion?: string }).wllamaVersion));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const figures: string[] = [];
  afterAll(() => console.log(`llama.cpp ${version} (wllama) vs ours:\n${figures.join('\n')}`));

  for (const name of NAMES) {
    const c = { name };
    for (const dtype of ['F32', 'F16'] as const) {
      // llama.cpp's CPU GELU reads a half-float table (ggml-cpu), which moves
      // the log-probs of the GELU models (GPT-2, Gemma3's gated GELU) by a
      // few 1e-4; the RMSNorm / SwiGLU models agree to ~1e-5
      const tol = c.name.startsWith('gpt2') || c.name.startsWith('gemma3') || c.name === 'scratch' ? 1e-3 : 1e-4;
      it(`${c.name} ${dtype}: llama.cpp's greedy tokens are ours, its first-step log-probs within ${tol}`, {
        timeout: 300_000,
      }, async () => {
        const k = cases.find((x) => x.name === c.name)!;
        const ref = k.ref[dtype];
        const ran = (await page.evaluate(
          ([url, prompt, n, top, banned]) =>
            (window as unknown as { runGguf: (...a: unknown[]) => Promise<unknown> }).runGguf(url, prompt, n, top, banned),
          [`${base}/models/${c.name}.${dtype}.gguf`, k.text, N, TOP, k.banned] as const,
        )) as Ran;
        if (!ran.ok) throw new Error(`wllama could not run ${c.name} ${dtype}: ${ran.error}\n${ran.logs.slice(-40).join('\n')}`);
        const steps = ran.result!.choices[0].logprobs?.content ?? [];
        const theirs = steps.map((s) => s.id);
        // the first step's top log-probs, matched by id
        let maxDiff = 0;
        for (const t of steps[0].top_logprobs) maxDiff = Math.max(maxDiff, Math.abs(t.logprob - ref.logprobs[t.id]));
        const ourTop = ref.logprobs
          .map((lp, id) => ({ id, lp }))
          .sort((a, b) => b.lp - a.lp)
          .slice(0, TOP)
          .map((x) => x.id);
        figures.push(
          `${c.name} ${dtype}: ${theirs.length} greedy tokens ${JSON.stringify(theirs) === JSON.stringify(ref.tokens) ? 'identical' : 'DIFFER'}${dtype === 'F16' ? ` (to our F32 weights' too: ${JSON.stringify(theirs) === JSON.stringify(k.ref.F32.tokens)})` : ''}; first-step top-${TOP} log-prob max diff ${maxDiff.toExponential(2)}; n_vocab ${ran.info?.n_vocab}`,
        );
        expect(ran.info?.n_vocab).toBe(k.ref.F32.logprobs.length);
        expect(ran.result!.usage.prompt_tokens).toBe(k.prompt.length);
        expect(steps[0].top_logprobs.map((t) => t.id)).toEqual(ourTop);
        expect(theirs).toEqual(ref.tokens);
        expect(maxDiff).toBeLessThan(tol);
        // the F16 file's tokens are also those of the unrounded weights (no near tie here)
        expect(k.ref.F16.tokens).toEqual(k.ref.F32.tokens);
      });
    }
  }
});
