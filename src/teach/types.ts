// The teacher step's contracts: questions in, K sampled rationales per
// question out, each stored the moment it arrives so that a run can resume.
// Plain data only (these objects cross the worker boundary and are kept in
// IndexedDB or an append-only JSONL); no tfjs, no DOM, no Node.
//
// Layers: src/teach imports src/shared and src/data only; the CLI, src/node
// (the llama.cpp binding) and the worker (the endpoint and the page's GGUF
// teacher) import it.

import type { TaskType } from '../data/types';

/** A question to ask the teacher: the gold answer is what curation checks
 * the rationales against. */
export interface TeachQuestion {
  id: string;
  question: string;
  answer: string;
  choices?: string[];
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One prompt in both shapes: `messages` for a chat endpoint, `text` for a
 * completions endpoint or a raw GGUF model (the same words, flattened). */
export interface TeachPrompt {
  messages: ChatMessage[];
  text: string;
}

/** The sampling settings of one request. `seed` differs per sample: Ollama
 * ignores `n` and llama-server refuses it, so K samples are K requests. */
export interface SampleRequest {
  prompt: TeachPrompt;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  /** Stop strings (e.g. the next few-shot "Q:"); may be empty. */
  stop: string[];
  signal?: AbortSignal;
}

export interface SampleResult {
  text: string;
  /** Completion tokens as the teacher counted them (0 when it did not say). */
  tokens: number;
  /** Why generation ended: 'stop', 'length', or the engine's own word. */
  finish: string;
}

/** A source of rationales: an OpenAI-compatible endpoint, llama.cpp in Node
 * (node-llama-cpp) or llama.cpp compiled to wasm in the page (wllama). It
 * throws a TeachError on failure; the runner decides about retries. */
export interface Teacher {
  /** Shown in reports and stored with every rationale, e.g.
   * "qwen2.5:7b @ http://127.0.0.1:11434" or "gguf:tiny-demo.gguf". */
  readonly name: string;
  sample(req: SampleRequest): Promise<SampleResult>;
  close?(): Promise<void>;
}

export type TeachErrorKind =
  | 'unreachable' // connection refused, DNS, network down
  | 'cors' // the server answered without CORS headers (page only)
  | 'csp' // the page's policy did not allow the endpoint
  | 'timeout'
  | 'rate-limited' // 429
  | 'server' // 5xx
  | 'auth' // 401/403
  | 'not-found' // 404: wrong base URL or model name
  | 'bad-request' // other 4xx, e.g. a parameter the server refuses
  | 'malformed' // the answer is not the JSON the API promises
  | 'engine' // the local engine failed (GGUF load, out of memory)
  | 'aborted';

/** A failure with the words to show: `message` says what happened and, where
 * known, the fix (`hint`, e.g. "start Ollama with OLLAMA_ORIGINS=..."). */
export class TeachError extends Error {
  constructor(
    readonly kind: TeachErrorKind,
    message: string,
    readonly o: { retryable?: boolean; status?: number; hint?: string; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'TeachError';
  }
  /** The server's Retry-After (429/503), in ms; the runner waits at least this long. */
  get retryAfterMs(): number | undefined {
    return this.o.retryAfterMs;
  }
  get hint(): string | undefined {
    return this.o.hint;
  }
  get status(): number | undefined {
    return this.o.status;
  }
  get retryable(): boolean {
    return (
      this.o.retryable ?? (this.kind === 'timeout' || this.kind === 'rate-limited' || this.kind === 'server' || this.kind === 'unreachable')
    );
  }
}

/** One finished sample, stored as it arrives. (questionId, sample) is its
 * key: a resumed run skips the keys it finds and never stores one twice. */
export interface SampleRecord {
  questionId: string;
  /** 0 .. K-1 (K + j for re-asked extra samples). */
  sample: number;
  seed: number;
  text: string;
  tokens: number;
  finish: string;
  teacher: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  /** The exact prompt text sent (its flattened form). */
  prompt: string;
  /** ISO time it arrived. */
  at: string;
}

/** Where samples live: IndexedDB in the page, an append-only JSONL in the
 * CLI. `append` resolves once the record is durable. */
export interface SampleStore {
  load(): Promise<SampleRecord[]>;
  append(rec: SampleRecord): Promise<void>;
}

/** The teach run's settings, with the defaults in TEACH_DEFAULTS. */
export interface TeachSettings {
  /** Samples per question (K). */
  samples: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  /** Base seed; a sample's seed is derived from it, the question and k. */
  seed: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Tries per sample after the first, on retryable failures. */
  retries: number;
  /** Per-request timeout. */
  timeoutMs: number;
  /** Prompt template with {question} (src/teach/prompt.ts); per task type by default. */
  template?: string;
  taskType?: TaskType;
}

export const TEACH_DEFAULTS: Readonly<Omit<TeachSettings, 'template' | 'taskType'>> = {
  /** The paper samples several rationales and keeps K after filtering. */
  samples: 5,
  temperature: 0.7,
  topP: 0.95,
  maxTokens: 256,
  seed: 0,
  concurrency: 2,
  retries: 4,
  timeoutMs: 120_000,
};

/** What a progress bar shows. */
export interface TeachProgress {
  done: number;
  total: number;
  failed: number;
  inFlight: number;
  /** Completion tokens received in this session (not the resumed ones). */
  tokens: number;
  tokensPerSecond: number;
  /** null until a rate is known. */
  etaSeconds: number | null;
  lastError?: { questionId: string; sample: number; kind: TeachErrorKind; message: string };
}

/** A sample that failed after its retries; not stored, so Resume asks again. */
export interface SampleFailure {
  questionId: string;
  sample: number;
  kind: TeachErrorKind;
  message: string;
  attempts: number;
}
