// The teach run: K samples per question from a Teacher, each stored the
// moment it arrives. The plan is the (question, k) keys; keys the store
// already holds are skipped (resume), so no key is ever asked or stored twice.
// At most `concurrency` requests are in flight; retryable failures are
// retried with exponential backoff and jitter (at least the server's
// Retry-After); a sample that still fails is reported, not stored, so the
// next resume asks it again. Pause stops new requests (those in flight finish
// and are stored); the run's signal cancels (in-flight requests are aborted,
// what arrived is kept). No Node or DOM APIs: it runs in a worker and in Node.

import { defaultStops, presetTemplate, renderPrompt } from './prompt';
import {
  type SampleFailure,
  type SampleRecord,
  type SampleStore,
  type TeachErrorKind,
  type TeachProgress,
  type TeachQuestion,
  type TeachSettings,
  type Teacher,
  TeachError,
} from './types';

/** One sample to ask: question index into `questions`, and k. */
export interface PlanKey {
  questionId: string;
  sample: number;
}

export interface TeachOptions {
  questions: TeachQuestion[];
  teacher: Teacher;
  settings: TeachSettings;
  store: SampleStore;
  /** Aborting it cancels the run: in-flight requests are aborted. */
  signal?: AbortSignal;
  /** Polled before each new request: true (checked again shortly) or a
   * promise that resolves when the run may go on. */
  paused?: () => boolean | Promise<void> | undefined;
  onProgress?: (p: TeachProgress) => void;
  onSample?: (r: SampleRecord) => void;
  onFailure?: (f: SampleFailure) => void;
  /** Extra samples for these questions (re-ask): keys K.. (see reaskKeys). */
  reask?: string[];
  /** Clock and sleep, for tests of the bookkeeping; default Date.now / setTimeout. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Random in [0, 1) for the backoff's jitter; default Math.random. */
  random?: () => number;
}

export interface TeachResult {
  /** Every stored record (resumed ones and this run's), in store order. */
  records: SampleRecord[];
  failures: SampleFailure[];
  cancelled: boolean;
  /** The failure that stopped the run early: one that every other request
   * would meet too (see STOPS_RUN); the keys not asked stay for a resume. */
  stopped?: SampleFailure;
  progress: TeachProgress;
}

/** Failures of the endpoint itself rather than of one sample: after its
 * retries, one of these stops the run instead of failing every key in turn
 * (a dead server would otherwise cost each key its full backoff). */
export const STOPS_RUN: ReadonlySet<TeachErrorKind> = new Set(['unreachable', 'cors', 'csp', 'auth', 'not-found', 'engine']);

/** 32-bit FNV-1a of a string. */
function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The seed of sample k of a question: a deterministic function of the base
 * seed, the question id and k, in [0, 2^31) (servers read it as an int32). */
export function sampleSeed(base: number, questionId: string, k: number): number {
  let h = fnv1a(`${base}\u0000${questionId}\u0000${k}`);
  // splitmix-style finalizer: close inputs give unrelated seeds.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 1;
}

const keyOf = (questionId: string, sample: number): string => `${questionId}\u0000${sample}`;

/** Re-ask keys of one question: the first block [bK, (b+1)K), b >= 1, that
 * the store does not hold in full, so an interrupted re-ask resumes its own
 * block and a finished one moves on to the next. */
export function reaskKeys(questionId: string, k: number, stored: ReadonlySet<string>): PlanKey[] {
  for (let b = 1; ; b++) {
    const block: PlanKey[] = [];
    for (let j = b * k; j < (b + 1) * k; j++) if (!stored.has(keyOf(questionId, j))) block.push({ questionId, sample: j });
    if (block.length > 0) return block;
  }
}

/** The keys a run asks: every question's 0..K-1 (or its re-ask block),
 * minus the stored ones. */
export function planKeys(questions: TeachQuestion[], k: number, stored: ReadonlySet<string>, reask?: string[]): PlanKey[] {
  const out: PlanKey[] = [];
  if (reask) {
    const want = new Set(reask);
    for (const q of questions) if (want.has(q.id)) out.push(...reaskKeys(q.id, k, stored));
    return out;
  }
  for (const q of questions) for (let j = 0; j < k; j++) if (!stored.has(keyOf(q.id, j))) out.push({ questionId: q.id, sample: j });
  return out;
}

export function checkSettings(s: TeachSettings): void {
  const int = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  };
  int('samples', s.samples, 1);
  int('maxTokens', s.maxTokens, 1);
  int('concurrency', s.concurrency, 1);
  int('retries', s.retries, 0);
  int('seed', s.seed, 0);
  if (!(s.temperature >= 0 && s.temperature <= 2)) throw new RangeError(`temperature must be in [0, 2], got ${s.temperature}`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${s.topP}`);
  if (!(s.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${s.timeoutMs}`);
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Backoff before retry `attempt` (1-based): 0.5 s doubling, capped at 30 s,
 * with full jitter on its upper half; never below the server's Retry-After. */
export function backoffMs(attempt: number, random: number, retryAfterMs?: number): number {
  const base = Math.min(30_000, 500 * 2 ** (attempt - 1));
  const d = base / 2 + (base / 2) * random;
  return Math.max(d, retryAfterMs ?? 0);
}

/** Any failure as a TeachError: an abort of the run is 'aborted', of the
 * request's own timer 'timeout'; anything else the teacher threw is 'engine'. */
function asTeachError(e: unknown, run: AbortSignal | undefined, timeoutMs: number, teacher: string): TeachError {
  if (run?.aborted) return new TeachError('aborted', 'cancelled');
  if (e instanceof TeachError) return e;
  const name = e instanceof Error ? e.name : '';
  if (name === 'TimeoutError' || name === 'AbortError')
    return new TeachError('timeout', `${teacher}: no answer within ${timeoutMs / 1000} s (the per-request timeout)`);
  return new TeachError('engine', `${teacher}: ${e instanceof Error ? e.message : String(e)}`, { retryable: false });
}

/** Rejects when `signal` aborts, so that a teacher that ignores its signal
 * cannot hold the run. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export async function teach(o: TeachOptions): Promise<TeachResult> {
  const s = o.settings;
  checkSettings(s);
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? defaultSleep;
  const random = o.random ?? Math.random;
  const template = s.template ?? presetTemplate('few-shot', s.taskType ?? 'text');
  const stop = defaultStops(template);
  const byId = new Map<string, TeachQuestion>();
  for (const q of o.questions) {
    if (byId.has(q.id)) throw new RangeError(`question id "${q.id}" appears twice; ids must be unique`);
    byId.set(q.id, q);
  }
  // Render every prompt first: a bad template fails before any request.
  const prompts = new Map(o.questions.map((q) => [q.id, renderPrompt(template, q)]));

  const records: SampleRecord[] = [];
  const stored = new Set<string>();
  for (const r of await o.store.load()) {
    const key = keyOf(r.questionId, r.sample);
    if (stored.has(key)) continue; // a store that holds a key twice: the first one counts
    stored.add(key);
    records.push(r);
  }
  const plan = planKeys(o.questions, s.samples, stored, o.reask);
  // Done / total over the whole job: the stored keys of this plan's
  // questions count as done (a resumed run starts its bar where it stopped).
  const planned = o.reask ? plan.length : o.questions.length * s.samples;
  const progress: TeachProgress = {
    done: planned - plan.length,
    total: planned,
    failed: 0,
    inFlight: 0,
    tokens: 0,
    tokensPerSecond: 0,
    etaSeconds: null,
  };
  const start = now();
  let doneHere = 0;
  const report = (): void => {
    const secs = (now() - start) / 1000;
    progress.tokensPerSecond = secs > 0 ? progress.tokens / secs : 0;
    const left = progress.total - progress.done - progress.failed;
    progress.etaSeconds = doneHere > 0 && secs > 0 ? (left * secs) / doneHere : left === 0 ? 0 : null;
    o.onProgress?.({ ...progress, lastError: progress.lastError && { ...progress.lastError } });
  };
  const failures: SampleFailure[] = [];
  const queue = plan.slice();
  let fatal: unknown;
  let stopped: SampleFailure | undefined;
  const halted = (): boolean => o.signal?.aborted === true || fatal !== undefined || stopped !== undefined;

  const waitWhilePaused = async (): Promise<void> => {
    for (;;) {
      if (halted() || !o.paused) return;
      const p = o.paused();
      if (p === true) await sleep(100, o.signal);
      else if (p && typeof p === 'object') await abortable(p, o.signal ?? new AbortController().signal).catch(() => {});
      else return;
    }
  };

  const askOne = async (key: PlanKey): Promise<void> => {
    const q = byId.get(key.questionId) as TeachQuestion;
    const prompt = prompts.get(key.questionId) as ReturnType<typeof renderPrompt>;
    const seed = sampleSeed(s.seed, key.questionId, key.sample);
    let attempt = 0;
    for (;;) {
      attempt++;
      const timer = AbortSignal.timeout(s.timeoutMs);
      const signal = o.signal ? AbortSignal.any([o.signal, timer]) : timer;
      try {
        const res = await abortable(
          o.teacher.sample({ prompt, temperature: s.temperature, topP: s.topP, maxTokens: s.maxTokens, seed, stop, signal }),
          signal,
        );
        const rec: SampleRecord = {
          questionId: q.id,
          sample: key.sample,
          seed,
          text: typeof res.text === 'string' ? res.text : '',
          tokens: Number.isFinite(res.tokens) ? res.tokens : 0,
          finish: String(res.finish ?? ''),
          teacher: o.teacher.name,
          temperature: s.temperature,
          topP: s.topP,
          maxTokens: s.maxTokens,
          prompt: prompt.text,
          at: new Date(now()).toISOString(),
        };
        const k = keyOf(rec.questionId, rec.sample);
        if (stored.has(k)) return; // cannot happen: each key is taken once
        try {
          await o.store.append(rec);
        } catch (e) {
          fatal ??= e;
          return;
        }
        stored.add(k);
        records.push(rec);
        progress.done++;
        progress.tokens += rec.tokens;
        doneHere++;
        o.onSample?.(rec);
        return;
      } catch (e) {
        const err = asTeachError(e, o.signal, s.timeoutMs, o.teacher.name);
        if (err.kind === 'aborted') return; // cancelled: not a failure, asked again on resume
        if (err.retryable && attempt <= s.retries) {
          if (halted()) return; // stopped or cancelled: left for a resume, not a failure
          progress.lastError = { questionId: q.id, sample: key.sample, kind: err.kind, message: err.message };
          report();
          await sleep(backoffMs(attempt, random(), err.retryAfterMs), o.signal);
          if (halted()) return;
          continue;
        }
        const f: SampleFailure = { questionId: q.id, sample: key.sample, kind: err.kind, message: err.message, attempts: attempt };
        failures.push(f);
        progress.failed++;
        progress.lastError = { questionId: q.id, sample: key.sample, kind: err.kind as TeachErrorKind, message: err.message };
        o.onFailure?.(f);
        if (STOPS_RUN.has(err.kind)) stopped ??= f;
        return;
      }
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      await waitWhilePaused();
      if (halted()) return;
      const key = queue.shift();
      if (!key) return;
      progress.inFlight++;
      report();
      try {
        await askOne(key);
      } finally {
        progress.inFlight--;
        report();
      }
    }
  };

  report();
  await Promise.all(Array.from({ length: Math.min(s.concurrency, Math.max(1, queue.length)) }, worker));
  if (fatal !== undefined) throw fatal;
  const result: TeachResult = { records, failures, cancelled: o.signal?.aborted === true, progress: { ...progress } };
  if (stopped) result.stopped = stopped;
  return result;
}
