// The long operations: train a new model, continue it, resume a stored
// checkpoint, and evaluate; compare.ts and classroom.ts build on these.
// Each runs one at a time (session.machine: state.ts) and reports through a listener the
// page passes as a Comlink proxy.

import { countParams, curationOf, prepareTrainConfig, type TrainConfig } from '../core/config';
import { BackendLostError, guardBackendLoss, recreateBackend } from '../core/backend';
import { DivergedError } from '../core/trainer';
import { checkpointKindFor, statusAfterSave, type CheckpointKind } from '../core/run-status';
import { accuracySchedule, assembleTrainer, planRun, type RunStart } from '../core/run';
import { checkPageBaseDtype, packsBase, type BaseDtype } from '../core/base-dtype-choice';
import { heldBaseDtype } from '../core/base-dtype';
import { studentKind, withDefaultLr } from '../core/run-settings';
import type { TrainState } from '../core/state';
import type { EvalItem, TaskType } from '../data/types';
import { CheckpointDamagedError } from '../checkpoint/store';
import { checkpointView, RunRecorder } from './checkpoints';
import { errMsg, fireAndForget, RunControl } from './control';
import { runLoop, type AccuracyPlan } from './loop';
import type {
  AccuracyCheck,
  CheckpointView,
  EvalOptions,
  EvalPhase,
  EvalResultView,
  RunLabel,
  RunResult,
  TrainEvent,
  TrainListener,
} from './protocol';
import { studentFor } from './students';
import { describeState, type RunKind } from './state';
import {
  dataFor,
  disposeLive,
  ensureBackend,
  readTeacher,
  type Session,
  settledBackend,
  uploadedFile,
  type Live,
  type TeacherData,
} from './session';

export type Emit = (e: TrainEvent) => void;
export const emitter =
  (listener: TrainListener): Emit =>
  (e) =>
    fireAndForget(listener, e);

export interface RunOptions {
  /** Save a checkpoint every N steps (0 = only on pause/stop/end). */
  autosaveEvery: number;
  /** Accuracy while training (off when absent). */
  accuracy?: AccuracyCheck;
  /** How a pretrained student's frozen base is held (the page's "Base
   * weights on the GPU"; default f32). A checkpoint is the same whatever it
   * is, so a resume takes the page's current choice. */
  baseDtype?: BaseDtype;
}

/** The base dtype a run on `backend` builds: the page's choice, checked
 * (f16 and int8 need WebGPU: a clear refusal, not a failed build); only a
 * LoRA run's base is frozen and so packed, a full fine-tune keeps f32. */
function baseDtypeFor(asked: unknown, backend: string, lora: boolean): BaseDtype {
  if (!lora) return 'f32';
  return asked === undefined ? 'f32' : checkPageBaseDtype(asked, backend);
}

/** The held-out questions of the session: the evaluation file's, else the
 * teacher file's dev split. */
function heldOut(session: Session): { items: EvalItem[]; taskType: TaskType; source: 'eval-file' | 'dev-split' } | undefined {
  const fromFile = session.evalData;
  const items = fromFile ? fromFile.items : (session.data?.dev ?? []);
  const taskType = fromFile ? fromFile.taskType : session.data?.taskType;
  if (items.length === 0 || !taskType) return undefined;
  return { items, taskType, source: fromFile ? 'eval-file' : 'dev-split' };
}

/** What the live run's accuracy checks evaluate, or undefined when they are
 * off (a note says why when the page asked for them explicitly). */
function accuracyPlan(session: Session, live: Live, check: AccuracyCheck | undefined, emit: Emit): AccuracyPlan | undefined {
  const data = heldOut(session);
  const schedule = accuracySchedule(check, data, live.trainer, live.groups);
  if (schedule === 'off') return undefined;
  if (schedule === 'no-data' || !data) {
    if (check?.every !== undefined)
      emit({
        type: 'note',
        label: live.label,
        level: 'info',
        message: 'accuracy checks are off: there are no held-out questions (load an evaluation file, or data with a dev split)',
      });
    return undefined;
  }
  live.accuracy ??= [];
  const points = live.accuracy;
  return {
    ...schedule,
    source: data.source,
    record: (p) => {
      // a check repeated at a step (training again after a lost GPU) replaces the old one
      const at = points.findIndex((q) => q.step >= p.step);
      if (at >= 0) points.splice(at);
      points.push(p);
    },
  };
}

/** Runs `fn` as the worker's `run` (refused unless idle), with a fresh control. */
export async function exclusive<T>(session: Session, run: RunKind, fn: (control: RunControl) => Promise<T>): Promise<T> {
  const control = new RunControl();
  session.machine.to({ phase: run, control });
  try {
    await settledBackend(session);
    return await fn(control);
  } finally {
    session.machine.endRun(control);
  }
}

export async function createTrainer(
  session: Session,
  label: RunLabel,
  data: TeacherData,
  config: TrainConfig,
  emit: Emit,
  asked?: BaseDtype,
): Promise<{ live: Live; createMs: number }> {
  emit({ type: 'status', label, status: 'preparing', step: 0, message: `setting up ${config.backend}` });
  const backend = await ensureBackend(session, config.backend);
  if (backend.fellBackFrom)
    emit({
      type: 'note',
      label,
      level: 'info',
      message: `${backend.fellBackFrom} unavailable (${backend.reason ?? '?'}); using ${backend.backend}`,
    });
  const chosen = session.student;
  const start: RunStart = {
    kind: 'new',
    config,
    ...(chosen
      ? {
          student: {
            student: chosen.student,
            ...(chosen.adapter ? { adapter: chosen.adapter } : chosen.lora ? { lora: chosen.lora } : {}),
          },
        }
      : {}),
  };
  const lora = !!(chosen?.adapter ?? chosen?.lora);
  const baseDtype = chosen ? baseDtypeFor(asked, backend.backend, lora) : undefined;
  planRun(start, data, backend.backend, undefined, baseDtype); // refuses a step that cannot fit this GPU
  emit({
    type: 'status',
    label,
    status: 'preparing',
    step: 0,
    message: chosen ? `loading ${chosen.summary.name} onto ${config.backend}` : 'training the tokenizer and initialising the weights',
  });
  const t0 = performance.now();
  const { trainer } = await assembleTrainer(start, data, baseDtype ? { baseDtype } : {});
  const live: Live = {
    label,
    trainer,
    groups: data.groups,
    fingerprint: data.fingerprint,
    ...(chosen ? { student: chosen.student } : {}),
  };
  return { live, createMs: performance.now() - t0 };
}

export function announce(session: Session, emit: Emit, live: Live, createMs: number, startStep: number): void {
  const t = live.trainer;
  emit({
    type: 'start',
    info: {
      label: live.label,
      modelConfig: t.modelConfig,
      trainConfig: t.trainConfig,
      params: countParams(t.modelConfig),
      totalSteps: t.totalSteps,
      startStep,
      backend: session.backend ?? { backend: 'unknown' },
      createMs,
      history: t.metrics.slice(),
      runId: live.recorder?.runId,
      ...(live.accuracy?.length ? { accuracyHistory: live.accuracy.slice() } : {}),
      ...(t.base ? { baseDtype: heldBaseDtype(t.variables) } : {}),
    },
  });
}

/** Saves the live model; a failed save is reported, never fatal to training. */
async function saveLive(session: Session, live: Live, kind: Exclude<CheckpointKind, 'best'>, emit: Emit): Promise<void> {
  if (!live.recorder) return;
  try {
    const state = await session.gpu.run(() => guardBackendLoss(() => live.trainer.snapshot()));
    const status = statusAfterSave(kind, live.trainer.step, live.trainer.totalSteps, 'running');
    const checkpoint = await live.recorder.save(state, kind, status);
    emit({ type: 'checkpoint', label: live.label, checkpoint });
  } catch (e) {
    // the run stops: a diverged state must not be saved, a lost GPU can't be read
    if (e instanceof DivergedError || e instanceof BackendLostError) throw e;
    emit({ type: 'note', label: live.label, level: 'error', message: `checkpoint not saved: ${errMsg(e)}` });
  }
}

/** Gives the live model a stored run to write to: when a run starts, or on
 * the first manual save of a comparison's or the classroom's model. The
 * uploaded teacher file it was trained on is kept with it. A run that
 * can't be stored still trains: the note says why. */
async function attachRecorder(session: Session, live: Live, emit: Emit): Promise<void> {
  const t = live.trainer;
  const data = session.data?.fingerprint === live.fingerprint ? session.data : undefined;
  const { recorder, fileNotKept } = await RunRecorder.create(
    await session.store.open(),
    {
      name: `${t.base ? `${t.base.name}${t.modelConfig.lora ? ` LoRA r${t.modelConfig.lora.rank}` : ''}` : t.trainConfig.preset} α=${t.trainConfig.alpha} · ${data?.name ?? live.label}`,
      modelConfig: t.modelConfig,
      trainConfig: t.trainConfig,
      tokenizer: t.tokenizerJSON,
      datasetFingerprint: live.fingerprint,
      ...(data ? { reportSummary: data.report } : {}),
    },
    uploadedFile(data, live.fingerprint),
  );
  live.recorder = recorder;
  if (fileNotKept) emit({ type: 'note', label: live.label, level: 'info', message: fileNotKept });
}

async function attachRecorderOrSay(session: Session, live: Live, emit: Emit): Promise<void> {
  await attachRecorder(session, live, emit).catch((e: unknown) => {
    emit({ type: 'note', label: live.label, level: 'error', message: `checkpoints are off for this run: ${errMsg(e)}` });
  });
}

/** Saves the model in memory now (allowed while a run is paused). */
export async function saveNow(session: Session): Promise<CheckpointView> {
  await settledBackend(session);
  const live = session.live;
  if (!live) throw new Error('there is no model to save');
  const now = session.machine.state;
  if (now.phase !== 'idle' && now.phase !== 'paused' && now.phase !== 'evaluating')
    throw new Error(`cannot save while ${describeState(now)}; pause it first`);
  if (!live.recorder) await attachRecorder(session, live, () => undefined);
  const t = live.trainer;
  const state = await session.gpu.run(() => t.snapshot());
  const status = statusAfterSave('manual', t.step, t.totalSteps, session.machine.control?.paused ? 'paused' : 'stopped');
  return live.recorder!.save(state, 'manual', status);
}

/** Runs the training loop on the live model. When the GPU is lost (driver
 * crash, reset, a tab in the background losing its device), a run that has
 * checkpoints sets the backend up again and goes on from its newest intact
 * checkpoint: the steps since that save are the only loss. */
export async function loop(
  session: Session,
  live: Live,
  control: RunControl,
  emit: Emit,
  opts: RunOptions,
  hook?: Parameters<typeof runLoop>[0]['hook'],
): Promise<RunResult> {
  for (let recoveries = 0; ; recoveries++) {
    try {
      return await runLoop({
        label: live.label,
        trainer: live.trainer,
        control,
        emit,
        autosaveEvery: live.recorder ? opts.autosaveEvery : 0,
        save: live.recorder ? (reason) => saveLive(session, live, checkpointKindFor(reason), emit) : undefined,
        exclusive: (fn) => session.gpu.run(() => guardBackendLoss(fn)),
        hook,
        accuracy: accuracyPlan(session, live, opts.accuracy, emit),
      });
    } catch (e) {
      if (e instanceof DivergedError) throw await failed(live, emit, e);
      if (!(e instanceof BackendLostError)) throw e;
      if (!live.recorder || recoveries >= MAX_RECOVERIES) {
        await resetLostBackend(session, live);
        const lost = new Error(
          `${e.message}${live.recorder ? ' (lost again after recovering)' : ' This run saved no checkpoint to resume from: start it again.'}`,
        );
        throw await failed(live, emit, lost);
      }
      const from = live;
      live = await recoverLive(session, from, e, emit).catch(async (err: unknown) => {
        throw await failed(from, emit, err);
      });
    }
  }
}

const MAX_RECOVERIES = 3;

/** The run can't go on (diverged; the GPU lost without recovery): the page
 * and the stored run say 'failed' (its earlier checkpoints still load).
 * Returns the error, for the caller to throw. */
async function failed(live: Live, emit: Emit, e: unknown): Promise<unknown> {
  emit({ type: 'status', label: live.label, status: 'failed', step: live.trainer.step, message: errMsg(e) });
  await live.recorder?.setStatus('failed').catch(() => undefined); // the error itself is what the page must see
  return e;
}

/** After a loss: the model on the dead device is gone (its tensors are
 * invalid) and the backend is set up again (or falls back). */
async function resetLostBackend(session: Session, live: Live): Promise<void> {
  live.trainer.dispose();
  if (session.live === live) session.live = undefined;
  const name = live.trainer.trainConfig.backend;
  session.backend = await session.backendLock.run(() => recreateBackend(name));
}

async function recoverLive(session: Session, live: Live, e: BackendLostError, emit: Emit): Promise<Live> {
  const recorder = live.recorder!;
  const held = heldBaseDtype(live.trainer.variables);
  emit({
    type: 'note',
    label: live.label,
    level: 'error',
    message: `${e.loss.reason}: setting the backend up again and resuming from the last checkpoint`,
  });
  await resetLostBackend(session, live);
  const { found } = await (await session.store.open()).latestLoadable(recorder.runId);
  if (!found) throw new Error(`${e.message} This run has no intact checkpoint to resume from: start it again.`);
  const t0 = performance.now();
  const backend = (session.backend?.backend ?? live.trainer.trainConfig.backend) as TrainConfig['backend'];
  // held as it was, unless the backend set up again is one without the packed kernels
  const baseDtype = packsBase(backend) ? held : 'f32';
  const { trainer } = await assembleTrainer(resumeStart(found.state, backend, live.student), live, { baseDtype });
  const next: Live = { ...live, trainer };
  session.live = next;
  recorder.rewind(found.meta, found.state.metrics.length);
  emit({
    type: 'note',
    label: live.label,
    level: 'info',
    message: `resumed from the checkpoint at step ${found.meta.step} on ${backend}; the steps after it are trained again`,
  });
  announce(session, emit, next, performance.now() - t0, found.meta.step);
  return next;
}

/** A stored state going on from where it was, on `backend`. */
function resumeStart(state: TrainState, backend: TrainConfig['backend'], student: Live['student']): RunStart {
  return { kind: 'resume', state, config: { ...state.trainConfig, backend }, ...(student ? { student } : {}) };
}

export function train(session: Session, input: Partial<TrainConfig>, opts: RunOptions, listener: TrainListener): Promise<RunResult> {
  const emit = emitter(listener);
  return exclusive(session, 'training', async (control) => {
    const data = await dataFor(session, curationOf(input));
    const chosen = session.student;
    const config = prepareTrainConfig(withDefaultLr(input, studentKind(chosen !== undefined, !!chosen?.lora)), data.groups.length);
    disposeLive(session);
    const { live, createMs } = await createTrainer(session, 'main', data, config, emit, opts.baseDtype);
    session.live = live;
    await attachRecorderOrSay(session, live, emit);
    announce(session, emit, live, createMs, 0);
    return loop(session, live, control, emit, opts);
  });
}

/** Continues the model in memory (after stop, or after an evaluation);
 * with `more`, a finished run trains that many steps further in the same
 * run (its total raised, its schedule extended: core/schedule.ts). */
export function continueRun(session: Session, opts: RunOptions, listener: TrainListener, more?: number): Promise<RunResult> {
  const emit = emitter(listener);
  return exclusive(session, 'training', async (control) => {
    const live = session.live;
    if (!live) throw new Error('there is no model to continue; start training or resume a checkpoint');
    const finished = live.trainer.step >= live.trainer.totalSteps;
    if (more !== undefined) {
      if (!finished) throw new Error(`this run has ${live.trainer.totalSteps - live.trainer.step} steps left: press Continue`);
      live.trainer.extend(more);
    } else if (finished) throw new Error(`this run is complete (${live.trainer.totalSteps} steps): train more steps instead`);
    announce(session, emit, live, 0, live.trainer.step);
    return loop(session, live, control, emit, opts);
  });
}

/** Finds the curated groups a stored run was trained on: the loaded data
 * re-curated with the run's K and seed, else the demo data, else the file
 * kept with the run. `kept` says it came from the store. */
async function groupsFor(session: Session, fingerprint: string, config: TrainConfig): Promise<TeacherData & { kept?: boolean }> {
  const curation = { k: config.k, seed: config.seed };
  if (session.data) {
    const d = await dataFor(session, curation);
    if (d.fingerprint === fingerprint) return d;
  }
  if (session.data?.source.kind !== 'demo') {
    const demo = await readTeacher({ kind: 'demo' }, curation).catch(() => undefined);
    if (demo?.fingerprint === fingerprint) {
      session.data = demo;
      return demo;
    }
  }
  // the file kept with the run (IndexedDB), re-curated the same way
  const kept = await (await session.store.open()).getDataset(fingerprint);
  if (kept) {
    const d = await readTeacher({ kind: 'file', file: new File([kept.bytes], kept.name) }, curation);
    if (d.fingerprint === fingerprint) {
      session.data = d;
      return { ...d, kept: true };
    }
  }
  throw new Error(
    `this checkpoint was trained on other data (dataset fingerprint ${fingerprint}); ` +
      `load the teacher file it was trained on, then press Resume again (curation K=${config.k}, seed=${config.seed})`,
  );
}

export function resumeCheckpoint(
  session: Session,
  id: string,
  opts: RunOptions & { backend?: TrainConfig['backend'] },
  listener: TrainListener,
): Promise<RunResult> {
  const emit = emitter(listener);
  return exclusive(session, 'training', async (control) => {
    const store = await session.store.open();
    const meta = await store.getCheckpointMeta(id);
    if (!meta) throw new Error(`checkpoint ${id} does not exist (deleted in another tab?)`);
    emit({ type: 'status', label: 'main', status: 'preparing', step: meta.step, message: `loading the checkpoint at step ${meta.step}` });
    let state: Awaited<ReturnType<typeof store.loadCheckpoint>>;
    try {
      state = await store.loadCheckpoint(id);
    } catch (e) {
      if (!(e instanceof CheckpointDamagedError)) throw e;
      // Offer the next older checkpoint of the run that verifies.
      const { found, skipped } = await store.latestLoadable(meta.runId, { olderThan: meta });
      for (const d of skipped) emit({ type: 'damaged', label: 'main', checkpointId: d.meta.id, message: d.message });
      const offered = found?.meta;
      emit({ type: 'damaged', label: 'main', checkpointId: id, message: e.message, offered: offered && checkpointView(offered) });
      throw new Error(
        `${e.message}. ` +
          (offered
            ? `The next older checkpoint (step ${offered.step}) is intact: press Resume on it (marked in the list).`
            : 'No older checkpoint of this run is intact.'),
      );
    }
    const data = await groupsFor(session, state.datasetFingerprint, state.trainConfig);
    if (data.kept) {
      emit({
        type: 'note',
        label: 'main',
        level: 'info',
        message: `training data: ${data.name}, kept with the run (${data.groups.length} questions)`,
      });
    }
    const backendName = opts.backend ?? state.trainConfig.backend;
    disposeLive(session);
    const backend = await ensureBackend(session, backendName);
    const t0 = performance.now();
    let student: Awaited<ReturnType<typeof studentFor>> | undefined;
    if (state.base) {
      emit({ type: 'status', label: 'main', status: 'preparing', step: meta.step, message: `loading the base model ${state.base.name}` });
      student = await studentFor(state.base, session.student?.student);
    }
    const start = resumeStart(state, backendName, student);
    const baseDtype = student ? baseDtypeFor(opts.baseDtype, backend.backend, !!state.modelConfig.lora) : undefined;
    planRun(start, data, backend.backend, undefined, baseDtype); // a resumed base may not fit this GPU either
    const { trainer } = await assembleTrainer(start, data, baseDtype ? { baseDtype } : {});
    const live: Live = {
      label: 'main',
      trainer,
      groups: data.groups,
      fingerprint: data.fingerprint,
      ...(student ? { student } : {}),
    };
    session.live = live;
    try {
      const { recorder, forked } = await RunRecorder.resume(store, meta, state.metrics.length);
      live.recorder = recorder;
      if (forked) {
        emit({
          type: 'note',
          label: 'main',
          level: 'info',
          message: `step ${meta.step} is older than the run's newest checkpoint: training goes on as a new run, "${forked}"; the original keeps its later checkpoints`,
        });
      }
    } catch (e) {
      emit({ type: 'note', label: 'main', level: 'error', message: `checkpoints are off for this run: ${errMsg(e)}` });
    }
    announce(session, emit, live, performance.now() - t0, state.step);
    return loop(session, live, control, emit, opts);
  });
}

export async function evaluateLive(
  session: Session,
  live: Live,
  opts: EvalOptions,
  onProgress?: (done: number, total: number, phase: EvalPhase) => void,
): Promise<EvalResultView> {
  const data = heldOut(session);
  if (!data) throw new Error('no evaluation questions: load an evaluation file, or data with a dev split');
  const { items, taskType, source } = data;
  const abort = new AbortController();
  const untrack = session.machine.trackEvaluation(abort);
  // Cancelled on its own, or with the run it belongs to (a comparison's, or
  // a paused run's) when that is stopped.
  const run = session.machine.control?.signal;
  const signal = run ? AbortSignal.any([abort.signal, run]) : abort.signal;
  try {
    const r = await session.gpu.run(() =>
      live.trainer.evaluate(items, {
        taskType,
        limit: opts.limit,
        maxNewTokens: opts.maxNewTokens,
        onProgress: onProgress && ((d, t) => onProgress(d, t, 'greedy')),
        signal,
      }),
    );
    const view: EvalResultView = { ...r, samples: r.samples.map((s) => ({ ...s })), source, taskType };
    if (live.recorder) {
      await live.recorder
        .addEvaluation(live.trainer.step, { accuracy: r.accuracy, correct: r.correct, total: r.total, samples: view.samples }, () =>
          session.gpu.run(() => live.trainer.snapshot()),
        )
        .catch(() => undefined); // the result is shown either way
    }
    if (opts.samples !== undefined && opts.samples >= 2) {
      // on the same questions as the greedy pass, whose accuracy it reports
      const c = await session.gpu.run(() =>
        live.trainer.consistency(items, {
          taskType,
          samples: opts.samples!,
          temperature: opts.temperature ?? 1,
          seed: opts.seed ?? 1,
          limit: opts.limit,
          maxNewTokens: opts.maxNewTokens,
          greedy: r,
          signal,
          onProgress: onProgress && ((d, t) => onProgress(d, t, 'samples')),
        }),
      );
      view.consistency = c;
    }
    return view;
  } finally {
    untrack();
  }
}

/** Evaluates the model in memory; allowed while a run is paused. */
export async function evaluate(
  session: Session,
  opts: EvalOptions,
  onProgress?: (done: number, total: number, phase: EvalPhase) => void,
): Promise<EvalResultView> {
  await settledBackend(session);
  const live = session.live;
  if (!live) throw new Error('there is no model yet: train one or resume a checkpoint');
  const now = session.machine.state;
  if (now.phase !== 'idle' && !(now.phase === 'paused' && now.run === 'training'))
    throw new Error(`cannot evaluate while ${describeState(now)}; pause or stop it first`);
  const progress = onProgress
    ? (d: number, t: number, phase: EvalPhase) => fireAndForget(() => onProgress(d, t, phase), undefined)
    : undefined;
  const evaluation = session.machine.startEvaluation();
  try {
    return await evaluateLive(session, live, opts, progress);
  } finally {
    evaluation.end();
  }
}
