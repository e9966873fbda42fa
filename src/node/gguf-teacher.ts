// A Teacher over a GGUF file in this process: llama.cpp through
// node-llama-cpp, on the CPU (its prebuilt CPU binary; no GPU, no download,
// no build). One context with one sequence; requests take turns, so the
// runner's concurrency only queues them here. Sampling as llama-server does
// by default (top-k 40, min-p 0.05, no repeat penalty) plus the request's
// temperature, top-p, seed and stop strings, so that `--gguf FILE` and the
// same file behind a llama-server answer alike.
//
// node-llama-cpp is imported when a GGUF teacher is opened, never before:
// the rest of the CLI does not pay for loading it.

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { SampleRequest, SampleResult, Teacher } from '../teach/types';
import { TeachError } from '../teach/types';

type NodeLlama = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<NodeLlama['getLlama']>>;

export interface GgufTeacherOptions {
  /** CPU threads of an evaluation (default 1: the tiny teachers of the
   * tests are fastest on one; a real model wants the machine's cores). */
  threads?: number;
  /** Context length in tokens (default: the model's training context, at
   * most 4096); prompt plus completion must fit. */
  contextSize?: number;
}

/** What a GGUF teacher can do beyond a Teacher: tokens of a text (the test
 * server's usage counts). */
export interface GgufTeacher extends Teacher {
  countTokens(text: string): number;
  /** The file's base name, as /v1/models names it. */
  readonly model: string;
}

let llamaP: Promise<{ mod: NodeLlama; llama: Llama }> | undefined;

/** The llama.cpp runtime, loaded once per process: CPU only, prebuilt
 * binaries only (a missing one is an error, not a build from source). */
function runtime(): Promise<{ mod: NodeLlama; llama: Llama }> {
  llamaP ??= (async () => {
    const mod = await import('node-llama-cpp');
    const llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error });
    return { mod, llama };
  })();
  llamaP.catch(() => {
    llamaP = undefined; // a failed load may be retried
  });
  return llamaP;
}

const why = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/** Opens `file` (loads the model and makes its context), so that a missing
 * or broken file fails here, before any sample, with a TeachError('engine')
 * naming it. */
export async function openGgufTeacher(file: string, o: GgufTeacherOptions = {}): Promise<GgufTeacher> {
  const name = path.basename(file);
  if (!existsSync(file)) throw new TeachError('engine', `--gguf ${file}: no such file`, { retryable: false });
  if (!statSync(file).isFile()) throw new TeachError('engine', `--gguf ${file}: not a file`, { retryable: false });
  let rt: { mod: NodeLlama; llama: Llama };
  try {
    rt = await runtime();
  } catch (e) {
    throw new TeachError('engine', `--gguf ${file}: llama.cpp (node-llama-cpp) did not start: ${why(e)}`, {
      retryable: false,
      hint: 'reinstall with npm ci; node-llama-cpp needs its prebuilt binary for this platform (@node-llama-cpp/*)',
    });
  }
  const threads = o.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer >= 1, got ${threads}`);
  let model: Awaited<ReturnType<Llama['loadModel']>>;
  try {
    model = await rt.llama.loadModel({ modelPath: path.resolve(file) });
  } catch (e) {
    throw new TeachError('engine', `--gguf ${file}: llama.cpp cannot load it: ${why(e)}`, { retryable: false });
  }
  let context: Awaited<ReturnType<typeof model.createContext>>;
  try {
    const size = o.contextSize ?? Math.min(model.trainContextSize, 4096);
    context = await model.createContext({ contextSize: size, sequences: 1, threads });
  } catch (e) {
    await model.dispose();
    throw new TeachError('engine', `--gguf ${file}: llama.cpp cannot make a context for it: ${why(e)}`, { retryable: false });
  }
  const sequence = context.getSequence();
  const completion = new rt.mod.LlamaCompletion({ contextSequence: sequence });
  let turn: Promise<unknown> = Promise.resolve();

  const one = async (req: SampleRequest): Promise<SampleResult> => {
    req.signal?.throwIfAborted();
    // A fresh sequence each time: a sample depends on its prompt and seed
    // only, never on the sample before it.
    await sequence.clearHistory();
    let tokens = 0;
    try {
      const r = await completion.generateCompletionWithMeta(req.prompt.text, {
        maxTokens: req.maxTokens,
        temperature: req.temperature,
        topP: req.topP,
        topK: 40,
        minP: 0.05,
        seed: req.seed,
        repeatPenalty: false,
        customStopTriggers: req.stop.length > 0 ? req.stop : undefined,
        signal: req.signal,
        onToken: (t) => {
          tokens += t.length;
        },
      });
      const finish = r.metadata.stopReason === 'maxTokens' ? 'length' : r.metadata.stopReason === 'abort' ? 'abort' : 'stop';
      return { text: r.response, tokens, finish };
    } catch (e) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw new TeachError('engine', `gguf:${name}: generation failed: ${why(e)}`, { retryable: false });
    }
  };

  return {
    name: `gguf:${name}`,
    model: name,
    countTokens: (text: string) => model.tokenize(text).length,
    sample(req: SampleRequest): Promise<SampleResult> {
      const mine = turn.then(() => one(req));
      turn = mine.catch(() => {});
      return mine;
    },
    async close(): Promise<void> {
      await turn;
      await context.dispose();
      await model.dispose();
    },
  };
}
