// The page's GGUF teacher: llama.cpp compiled to wasm (@wllama/wllama) inside
// the teacher worker, on the File the person picked. Fully local: the model
// is read from disk by wllama (a File is a handle, not a copy), the wasm
// comes from this origin, and nothing is fetched elsewhere.

import { Wllama } from '@wllama/wllama';
import wllamaWasm from '@wllama/wllama/esm/wasm/wllama.wasm?url';
import { TeachError, type SampleRequest, type SampleResult, type Teacher } from '../teach/types';

/** Threads: half the cores when the page is cross-origin isolated (wllama's
 * threads need SharedArrayBuffer), else one. */
export function wllamaThreads(): number {
  if (!globalThis.crossOriginIsolated) return 1;
  return Math.max(1, Math.floor((navigator.hardwareConcurrency || 2) / 2));
}

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export async function wllamaTeacher(file: File, o: { nCtx?: number; onLog?: (line: string) => void } = {}): Promise<Teacher> {
  const log = (...a: unknown[]): void => o.onLog?.(a.map(String).join(' '));
  // wllama starts its own worker from a blob: URL, whose base is not ours:
  // the wasm's address must be absolute
  const w = new Wllama(
    { default: new URL(wllamaWasm, self.location.href).href },
    { logger: { debug: () => undefined, log, warn: log, error: log } },
  );
  const threads = wllamaThreads();
  try {
    await w.loadModel([file], { n_ctx: o.nCtx ?? 1024, n_threads: threads, n_gpu_layers: 0, n_parallel: 1, warmup: false });
  } catch (e) {
    await w.exit().catch(() => undefined);
    throw new TeachError('engine', `${file.name}: llama.cpp could not load it as a GGUF model (${describe(e)})`, { retryable: false });
  }
  // one request at a time: wllama's context is single-slot
  let queue: Promise<unknown> = Promise.resolve();
  return {
    name: `gguf:${file.name}`,
    sample(req: SampleRequest): Promise<SampleResult> {
      const run = async (): Promise<SampleResult> => {
        if (req.signal?.aborted) throw new TeachError('aborted', 'cancelled');
        try {
          const r = await w.createCompletion({
            prompt: req.prompt.text,
            max_tokens: req.maxTokens,
            temperature: req.temperature,
            top_p: req.topP,
            seed: req.seed,
            ...(req.stop.length ? { stop: req.stop } : {}),
            ...(req.signal ? { abortSignal: req.signal } : {}),
          });
          const c = r.choices?.[0];
          if (!c) throw new TeachError('malformed', `${file.name}: llama.cpp returned no completion`);
          return { text: c.text ?? '', tokens: r.usage?.completion_tokens ?? 0, finish: c.finish_reason ?? 'stop' };
        } catch (e) {
          if (e instanceof TeachError) throw e;
          if (req.signal?.aborted) throw new TeachError('aborted', 'cancelled');
          throw new TeachError('engine', `${file.name}: llama.cpp failed while generating (${describe(e)})`, { retryable: false });
        }
      };
      const next = queue.then(run, run);
      queue = next.catch(() => undefined);
      return next;
    },
    close: () => w.exit(),
  };
}
