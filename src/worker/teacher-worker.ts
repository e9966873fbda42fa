// The teacher worker: asks a teacher for K rationales per question (T1's
// runner, src/teach/run.ts) and keeps every sample in IndexedDB the moment it
// arrives, so a reload loses only the samples in flight. The teacher is an
// OpenAI-compatible endpoint (src/teach/endpoint.ts) or the page's GGUF
// teacher (wllama, ./wllama-teacher.ts). No DOM; plain data across comlink.
//
// The page opens this script with ?connect=<endpoint origin>: the server
// answers it with `connect-src 'self' <origin>` (vite.config.ts), so this
// worker may reach that one endpoint and nothing else; the page keeps 'self'.

import * as Comlink from 'comlink';
import { CheckpointStore, type TeachRunRecord, type TeachSampleRecord } from '../checkpoint/store';
import { readEvalFile } from '../data';
import { connectFromQuery } from '../shared/connect-origin';
import { ENDPOINT_PRESETS, EndpointTeacher, normalizeBaseUrl, preflight } from '../teach/endpoint';
import { presetTemplate } from '../teach/prompt';
import { teach } from '../teach/run';
import {
  TEACH_DEFAULTS,
  TeachError,
  type SampleRecord,
  type TeachProgress,
  type TeachQuestion,
  type TeachSettings,
  type Teacher,
} from '../teach/types';
import { teachJsonl, teachReport } from './teacher-output';
import type { DataSource } from './protocol';
import { iterateStream, openSource } from './streams';
import type {
  PreflightOutcome,
  QuestionsSummary,
  TeachOutcome,
  TeachProblem,
  TeachReportView,
  TeachRunView,
  TeachSecret,
  TeachStart,
} from './teacher-protocol';
import { wllamaTeacher } from './wllama-teacher';

let opening: Promise<CheckpointStore> | undefined;
/** The store, opened once; a failed open (another tab holding an older
 * version, say) is tried again on the next call. */
function db(): Promise<CheckpointStore> {
  opening ??= CheckpointStore.open().catch((e: unknown) => {
    opening = undefined;
    throw e;
  });
  return opening;
}

// ---- the CSP: which origin this worker was opened for, and refusals ----

/** The endpoint origin this worker's script was asked with (undefined: the
 * GGUF teacher's worker, or a query that was not a plain http(s) origin). */
const allowed = connectFromQuery(self.location.search);
const violations: { blocked: string; directive: string }[] = [];
self.addEventListener('securitypolicyviolation', (e) => violations.push({ blocked: e.blockedURI, directive: e.effectiveDirective }));

function cspError(origin: string, detail: string): TeachError {
  return new TeachError(
    'csp',
    `the page's Content-Security-Policy (connect-src) does not let the teacher worker reach ${origin}: ${detail}`,
    {
      retryable: false,
      hint: 'the host must answer the teacher worker script, opened with ?connect=<origin>, with connect-src \'self\' <origin> (README, "Hosting"); the dev and preview servers do',
    },
  );
}

/** Refuses an endpoint the policy cannot allow before anything is sent, and
 * tells a CSP refusal from an unreachable server after a failed probe: a
 * host that ignores ?connect= leaves this worker with 'self' only. */
async function checkCsp(baseUrl: string): Promise<void> {
  const origin = new URL(baseUrl).origin;
  if (origin === self.location.origin) return;
  if (origin !== allowed) throw cspError(origin, `this worker was opened for ${allowed ?? 'no endpoint'}`);
  const before = violations.length;
  try {
    await fetch(`${baseUrl}/models`, { mode: 'no-cors', signal: AbortSignal.timeout(5000) });
  } catch {
    await new Promise((r) => setTimeout(r, 50)); // the violation event is queued as a task
    if (violations.slice(before).some((v) => v.blocked.startsWith(origin)))
      throw cspError(origin, "the browser refused the request (a host that ignores ?connect= sends connect-src 'self' only)");
  }
}

// ---- questions ----

async function readQuestions(
  src: DataSource,
  limit?: number,
): Promise<{ name: string; summary: QuestionsSummary; questions: TeachQuestion[] }> {
  const opened = await openSource(src, 'train.jsonl');
  const r = await readEvalFile(iterateStream(opened.stream));
  const items = limit !== undefined ? r.items.slice(0, limit) : r.items;
  const questions = items.map(
    (i): TeachQuestion => ({ id: i.id, question: i.question, answer: i.answer, ...(i.choices ? { choices: i.choices } : {}) }),
  );
  const name = src.kind === 'demo' ? 'demo' : opened.name;
  return {
    name,
    questions,
    summary: { name, taskType: r.taskType, count: questions.length, template: presetTemplate('few-shot', r.taskType) },
  };
}

// ---- the run ----

interface Active {
  runId: string;
  abort: AbortController;
  paused: boolean;
  wake: (() => void)[];
}
let active: Active | undefined;

function view(r: TeachRunRecord, stored: number): TeachRunView {
  return {
    id: r.id,
    status: r.status,
    questionsName: r.questionsName,
    questions: r.questions.length,
    samples: r.settings.samples,
    stored,
    teacher: r.teacher,
    updatedAt: r.updatedAt,
  };
}

function problem(e: unknown): TeachProblem {
  if (e instanceof TeachError) return { kind: e.kind, message: e.message, ...(e.o.hint ? { hint: e.o.hint } : {}) };
  return { kind: 'engine', message: e instanceof Error ? e.message : String(e) };
}

async function teacherFor(r: TeachRunRecord, secret: TeachSecret): Promise<Teacher> {
  if (r.teacher.kind === 'gguf') {
    const f = secret.gguf;
    if (!f)
      throw new TeachError('engine', `pick the GGUF file again (${r.teacher.fileName}): the page cannot keep a file across a reload`, {
        retryable: false,
      });
    return wllamaTeacher(f);
  }
  await checkCsp(r.teacher.baseUrl);
  return new EndpointTeacher({
    baseUrl: r.teacher.baseUrl,
    model: r.teacher.model,
    api: r.teacher.api,
    apiKey: secret.apiKey,
    origin: self.location.origin,
  });
}

async function runTeach(
  r: TeachRunRecord,
  secret: TeachSecret,
  onProgress: (p: TeachProgress) => void,
  reask?: string[],
): Promise<TeachOutcome> {
  if (active) throw new Error('a teach run is going on already; pause or cancel it first');
  const store = await db();
  const me: Active = { runId: r.id, abort: new AbortController(), paused: false, wake: [] };
  active = me;
  try {
    const teacher = await teacherFor(r, secret);
    await store.updateTeachRun(r.id, { status: 'running' });
    let lastError: TeachProblem | undefined;
    try {
      const res = await teach({
        questions: r.questions,
        teacher,
        settings: r.settings,
        store: {
          load: async () => (await store.teachSamples(r.id)).map(({ runId: _, ...s }): SampleRecord => s),
          append: (s) => store.putTeachSample({ ...s, runId: r.id } satisfies TeachSampleRecord),
        },
        signal: me.abort.signal,
        paused: () => (me.paused ? new Promise<void>((w) => me.wake.push(w)) : false),
        onProgress,
        onFailure: (f) => {
          lastError = { kind: f.kind, message: f.message };
        },
        ...(reask ? { reask } : {}),
      });
      const status = res.cancelled ? 'cancelled' : res.failures.length > 0 ? 'failed' : 'done';
      const updated = await store.updateTeachRun(r.id, { status });
      return {
        run: view(updated, res.records.length),
        cancelled: res.cancelled,
        failures: res.failures.length,
        progress: res.progress,
        ...(lastError ? { lastError } : {}),
      };
    } finally {
      await teacher.close?.().catch(() => undefined);
    }
  } catch (e) {
    await store.updateTeachRun(r.id, { status: 'failed' }).catch(() => undefined);
    throw e;
  } finally {
    active = undefined;
  }
}

function settingsOf(s: Partial<TeachSettings>, template: string, taskType: QuestionsSummary['taskType']): TeachSettings {
  return { ...TEACH_DEFAULTS, ...s, template: s.template ?? template, taskType };
}

const api = {
  /** The questions a run would ask (a file in the formats we read, or the
   * demo's), with the default template for their task type. */
  async questions(src: DataSource, limit?: number): Promise<QuestionsSummary> {
    return (await readQuestions(src, limit)).summary;
  },

  /** Before a run: is the endpoint allowed by the policy, reachable, and
   * does it send CORS headers for this page? Nothing is asked of the model. */
  async preflight(baseUrl: string, apiKey?: string, server?: string): Promise<PreflightOutcome> {
    let base: string;
    try {
      base = normalizeBaseUrl(baseUrl);
      await checkCsp(base);
    } catch (e) {
      return { ok: false, ...problem(e) };
    }
    const origin = self.location.origin;
    const r = await preflight(base, { origin, ...(apiKey ? { apiKey } : {}) });
    if (r.ok) return r;
    // the server the person named (on whatever port) gets its own CORS fix
    const p = ENDPOINT_PRESETS.find((x) => x.id === server);
    if (r.kind === 'cors' && p) {
      const hint = `${p.label}: ${p.corsFix(origin)}`;
      return { ok: false, kind: 'cors', message: `${base} answered, but without CORS headers for ${origin}`, hint };
    }
    return { ok: false, kind: r.kind, message: r.message, ...(r.hint ? { hint: r.hint } : {}) };
  },

  async start(init: TeachStart, secret: TeachSecret, onProgress: (p: TeachProgress) => void): Promise<TeachOutcome> {
    const { name, summary, questions } = await readQuestions(init.questions, init.limit);
    if (questions.length === 0) throw new Error(`${name}: no question to ask`);
    const t = init.teacher;
    const teacher: TeachRunRecord['teacher'] =
      t.kind === 'endpoint'
        ? {
            kind: 'endpoint',
            baseUrl: normalizeBaseUrl(t.baseUrl),
            model: t.model,
            api: t.api,
            name: `${t.model} @ ${normalizeBaseUrl(t.baseUrl)}`,
          }
        : secret.gguf
          ? { kind: 'gguf', fileName: secret.gguf.name, bytes: secret.gguf.size, name: `gguf:${secret.gguf.name}` }
          : (() => {
              throw new Error('pick a GGUF file first');
            })();
    const store = await db();
    const r = await store.createTeachRun({
      status: 'running',
      questionsName: name,
      questions,
      settings: settingsOf(init.settings, summary.template, summary.taskType),
      teacher,
    });
    return runTeach(r, secret, onProgress);
  },

  async resume(runId: string, secret: TeachSecret, onProgress: (p: TeachProgress) => void): Promise<TeachOutcome> {
    const r = await (await db()).getTeachRun(runId);
    if (!r) throw new Error(`teach run ${runId} not found`);
    return runTeach(r, secret, onProgress);
  },

  /** More samples (K, K+1, ...) for the questions that kept fewer than 2. */
  async reask(runId: string, secret: TeachSecret, onProgress: (p: TeachProgress) => void): Promise<TeachOutcome> {
    const store = await db();
    const r = await store.getTeachRun(runId);
    if (!r) throw new Error(`teach run ${runId} not found`);
    const few = teachReport(r, await store.teachSamples(runId)).fewKept;
    if (few.length === 0) throw new Error('every question kept 2 rationales or more: nothing to re-ask');
    return runTeach(r, secret, onProgress, few);
  },

  pause(): void {
    if (active) active.paused = true;
  },
  unpause(): void {
    if (!active) return;
    active.paused = false;
    for (const w of active.wake.splice(0)) w();
  },
  cancel(): void {
    if (!active) return;
    active.paused = false;
    for (const w of active.wake.splice(0)) w();
    active.abort.abort();
  },

  /** Runs that did not finish (newest first): what the page offers to resume. */
  async unfinished(): Promise<TeachRunView[]> {
    const store = await db();
    const runs = (await store.listTeachRuns()).filter((r) => r.status !== 'done' && !(active && active.runId === r.id));
    return Promise.all(runs.map(async (r) => view(r, (await store.teachSamples(r.id)).length)));
  },

  async run(runId: string): Promise<TeachRunView> {
    const store = await db();
    const r = await store.getTeachRun(runId);
    if (!r) throw new Error(`teach run ${runId} not found`);
    return view(r, (await store.teachSamples(runId)).length);
  },

  async report(runId: string): Promise<TeachReportView> {
    const store = await db();
    const r = await store.getTeachRun(runId);
    if (!r) throw new Error(`teach run ${runId} not found`);
    return teachReport(r, await store.teachSamples(runId));
  },

  /** The native teacher JSONL of the run: what "Use these rationales"
   * loads into the Data step and "Download" saves. */
  async jsonl(runId: string): Promise<{ fileName: string; bytes: Uint8Array }> {
    const store = await db();
    const r = await store.getTeachRun(runId);
    if (!r) throw new Error(`teach run ${runId} not found`);
    const bytes = teachJsonl(r, await store.teachSamples(runId));
    return Comlink.transfer({ fileName: `rationales-${r.id}.jsonl`, bytes }, [bytes.buffer]);
  },

  async discard(runId: string): Promise<void> {
    if (active?.runId === runId) throw new Error('cancel the run first');
    await (await db()).deleteTeachRun(runId);
  },
};

export type TeacherApi = typeof api;
Comlink.expose(api);
