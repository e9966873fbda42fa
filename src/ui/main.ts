// The page: builds the sections, talks to the worker, keeps the buttons in
// step with what the worker is doing. No tfjs here: all math is in the worker.

import './style.css';
import { curationOf, DEFAULT_TRAIN, type BackendName } from '../core/records';
import type { BaseDtype } from '../core/base-dtype-choice';
import type { BackendInfo, DataSource, EvalOptions, EvalPhase, ExportFormat, RunResult, TrainEvent } from '../worker/protocol';
import { backendLabel } from './backend-label';
import { CheckpointsView } from './checkpoints';
import { callback, startWorker } from './client';
import { CompareView, type ComparePlan } from './compare';
import { DataInputView } from './data';
import { ClassroomView } from './demo';
import { formatBytes } from '../shared/format';
import { h, keepFocusWhenDisabled } from './dom';
import { catchGlobalErrors, clearErrors, errorBanner, guard, showError } from './errors';
import { EvaluationView } from './evaluation';
import { evalReportView, reportView } from './report';
import { backendFromLink, settingsView } from './settings';
import { StudentView } from './student';
import { TrainingView } from './training';
import { TeachView } from './teach';

catchGlobalErrors();
const api = startWorker((msg) => showError('Training worker', msg));

// What the page has and is waiting for, which enables its controls: not a
// run's status (that is RunStatus, from the worker's 'status' events, which
// the training view turns into its Phase through phaseFor).
const ui = { busy: false, hasData: false, modelLoaded: false, canContinue: false, evaluating: false, loading: false };

// ---- sections ----

const backendBadge = h('span', { class: 'badge', testid: 'backend', attrs: { 'aria-live': 'polite' }, text: 'backend: starting…' });
const settings = settingsView();
const reportBox = h(
  'div',
  { testid: 'data-report', class: 'report-box' },
  h('p', { class: 'muted', text: 'Load data in step 1 to see what curation kept. A saved run (step 8) resumes without loading anything.' }),
);
const evalReportBox = h('div');

const dataView = new DataInputView({
  teacher: (f) => loadData({ kind: 'file', file: f }).then((read) => read && ui.hasData && settings.setDemo(false)),
  evalFile: (f) => loadEvalData({ kind: 'file', file: f }),
  clearEval: () =>
    void guard('Removing the evaluation file', async () => {
      await api.clearEval();
      dataView.setEvalName(undefined);
      evalReportBox.replaceChildren();
    }),
  demo: () => loadDemo(),
  teach: () => teachView.open(),
});

// The Teacher step (inside Data): its rationales load like an upload.
const teachView = new TeachView({
  useRationales: (f) => void loadData({ kind: 'file', file: f }).then((read) => read && ui.hasData && settings.setDemo(false)),
});

const student = new StudentView({
  load: (files, baseDtype) => api.loadStudent(files, baseDtype),
  setLora: (lora) => api.setLora(lora),
  setBaseDtype: (baseDtype) => api.setBaseDtype(baseDtype),
  loadAdapter: (files) => api.loadAdapter(files),
  clear: () => api.clearStudent(),
  changed: (kind) => settings.setStudent(kind),
});

/** The Student step's "Base weights on the GPU", sent with a new run and a
 * resume (a checkpoint is the same whatever the base dtype: a resume holds
 * its base as the page now says). */
const baseDtypeOption = (): { baseDtype: BaseDtype } => ({ baseDtype: student.baseDtype() });

/** The settings form plus the Student step's prompt template. */
function runSettings(): ReturnType<typeof settings.read> {
  const s = settings.read();
  const template = student.promptTemplate();
  return {
    ...s,
    config: {
      ...s.config,
      ...(template !== undefined ? { promptTemplate: template } : {}),
      ...(student.recomputeActivations() ? { recompute: true } : {}),
    },
  };
}

const training = new TrainingView({
  start: () =>
    runTraining('Training', (l) => {
      const s = runSettings();
      training.expectAccuracy(s.accuracy);
      return api.train(s.config, { autosaveEvery: s.autosaveEvery, accuracy: s.accuracy, ...baseDtypeOption() }, l);
    }),
  continueRun: () =>
    runTraining('Continuing', (l) => {
      const s = settings.read();
      training.expectAccuracy(s.accuracy);
      return api.continueRun({ autosaveEvery: s.autosaveEvery, accuracy: s.accuracy }, l);
    }),
  trainMore: (more) =>
    runTraining(`Training ${more} more steps`, (l) => {
      const s = settings.read();
      training.expectAccuracy(s.accuracy);
      return api.continueRun({ autosaveEvery: s.autosaveEvery, accuracy: s.accuracy }, l, more);
    }),
  pause: () => void guard('Pause', () => api.pause()),
  resume: () => void guard('Resume', () => api.resume()),
  stop: () => void guard('Stop', () => api.stop()),
  save: () =>
    void guard('Saving a checkpoint', async () => {
      const c = await api.saveCheckpoint();
      training.note(`checkpoint saved at step ${c.step}`);
      await refreshCheckpoints();
    }),
});

const evaluation = new EvaluationView({
  run: (o) => void runEvaluation(o),
  cancel: () => void guard('Cancel', () => api.cancelEvaluation()),
});
const compare = new CompareView({ run: () => void runCompare(), plan: comparePlan });
const checkpoints = new CheckpointsView({
  resume: (id) =>
    runTraining('Resuming', (l) => {
      const s = settings.read();
      training.expectAccuracy(s.accuracy);
      return api.resumeCheckpoint(
        id,
        { autosaveEvery: s.autosaveEvery, accuracy: s.accuracy, backend: settings.backend(), ...baseDtypeOption() },
        l,
      );
    }),
  exportFile: (id, format) => exportCheckpoint(id, format),
  remove: (c) =>
    void guard('Deleting the checkpoint', async () => {
      if (!confirm(`Delete the checkpoint at step ${c.step} (${c.kind})? This cannot be undone; export it first if you may need it.`))
        return;
      await api.deleteCheckpoint(c.id);
      await refreshCheckpoints();
    }),
  removeRun: (r) =>
    void guard('Deleting the run', async () => {
      const n = r.checkpoints.length;
      if (!confirm(`Delete the run "${r.name}" and its ${n} checkpoint${n === 1 ? '' : 's'}? Export them first if you may need them.`))
        return;
      await api.deleteRun(r.id);
      await refreshCheckpoints();
    }),
  importFile: (f) =>
    void guard(`Importing ${f.name}`, async () => {
      const c = await api.importCheckpoint(f);
      training.note(`imported ${f.name} (step ${c.step}); press Resume on it to load it`);
      await refreshCheckpoints();
    }),
  refresh: () => void refreshCheckpoints(),
});
const classroom = new ClassroomView({
  pauseOrResume: () => void guard('Pause', () => (training.currentPhase === 'paused' ? api.resume() : api.pause())),
  stop: () => void guard('Stop', () => api.stop()),
  leave: () => {
    void api.stop();
    document.body.classList.remove('classroom-mode');
  },
});

function section(n: string, title: string, testid: string, ...body: HTMLElement[]): HTMLElement {
  const id = `section-${testid}`;
  return h(
    'section',
    { class: 'card', testid: `section-${testid}`, attrs: { 'aria-labelledby': id } },
    h('h2', { attrs: { id } }, h('span', { class: 'num', text: n }), title),
    ...body,
  );
}

const classroomButton = h('button', {
  text: 'Classroom demo',
  testid: 'classroom-run',
  class: 'primary big',
  attrs: { type: 'button' },
  on: { click: () => void runClassroom() },
});

document.getElementById('app')?.replaceChildren(
  h(
    'header',
    { class: 'top' },
    h(
      'div',
      {},
      h('h1', { text: 'MCC-KD trainer' }),
      h('p', {
        class: 'tagline',
        text: 'Distil a teacher’s chains of thought into a small student, in this browser. Your files never leave the page.',
      }),
    ),
    h('div', { class: 'top-right' }, backendBadge, classroomButton),
  ),
  errorBanner(),
  classroom.el,
  h(
    'main',
    {},
    section('1', 'Data', 'data', dataView.el, teachView.el),
    section('2', 'Curation report', 'report', reportBox, evalReportBox),
    section('3', 'Student', 'student', student.el),
    section('4', 'Settings', 'settings', settings.el),
    section('5', 'Training', 'training', training.el),
    section('6', 'Evaluation', 'evaluation', evaluation.el),
    section('7', 'Comparison', 'compare', compare.el),
    section('8', 'Saved runs', 'checkpoints', checkpoints.el),
  ),
);

// ---- state → enabled controls ----

function refresh(): void {
  const idle = !ui.busy && !ui.evaluating;
  dataView.setEnabled(!ui.loading);
  training.setHasData(ui.hasData && !ui.loading);
  if (idle && training.currentPhase !== 'idle') training.setPhase('idle', ui.canContinue);
  training.setModelLoaded(ui.modelLoaded);
  training.setEvaluating(ui.evaluating);
  const paused = training.currentPhase === 'paused';
  evaluation.setEnabled(ui.modelLoaded && !ui.evaluating && (idle || paused));
  compare.setEnabled(idle && ui.hasData && !ui.loading);
  checkpoints.setEnabled(idle);
  settings.setBackendEnabled(idle);
  student.setEnabled(idle && !ui.loading);
  classroomButton.disabled = !idle || ui.loading;
}

function onEvent(e: TrainEvent): void {
  training.handle(e);
  compare.handle(e);
  classroom.handle(e);
  if (e.type === 'status') refresh();
  if (e.type === 'start') {
    ui.modelLoaded = true;
    showBackend(e.info.backend);
  }
  if (e.type === 'checkpoint') scheduleCheckpointRefresh();
  if (e.type === 'damaged') checkpoints.markDamaged(e.checkpointId, e.message, e.offered?.id);
}
const listener = callback(onEvent);

function showBackend(b: BackendInfo): void {
  const { text, warn } = backendLabel(b);
  backendBadge.dataset.backend = b.backend;
  student.setBackend(b.backend);
  backendBadge.textContent = text;
  backendBadge.classList.toggle('warn', warn);
}

// ---- data ----

let dataQueue: Promise<unknown> = Promise.resolve();
/** Loads one at a time: an evaluation file dropped with a teacher file waits
 * for the teacher file (its task type decides how answers are compared). */
function queued<T>(fn: () => Promise<T>): Promise<T> {
  const next = dataQueue.then(fn, fn);
  dataQueue = next.catch(() => undefined);
  return next;
}

function progressCallback() {
  return callback((p: { bytes: number; total: number }) => {
    dataView.progress.set(p.bytes, p.total, p.total ? `${formatBytes(p.bytes)} of ${formatBytes(p.total)}` : formatBytes(p.bytes));
  });
}

/** Reads one file in the worker with the progress bar shown; the data
 * controls are off meanwhile. True when it was read (a failure is shown). */
function load(what: string, read: (progress: ReturnType<typeof progressCallback>) => Promise<void>): Promise<boolean> {
  return queued(async () => {
    ui.loading = true;
    refresh();
    dataView.progress.begin();
    const ok =
      (await guard(what, async () => {
        await read(progressCallback());
        return true;
      })) === true;
    dataView.progress.hide();
    ui.loading = false;
    refresh();
    return ok;
  });
}

function loadData(src: DataSource): Promise<boolean> {
  return load('Reading the teacher file', async (progress) => {
    const { config } = settings.read();
    const summary = await api.loadTeacher(src, curationOf(config), progress);
    const download: HTMLButtonElement = h('button', {
      text: 'Download the curated set (.jsonl)',
      class: 'small secondary',
      testid: 'download-curated',
      attrs: {
        type: 'button',
        title: 'What training reads after curation, one question a line: train it elsewhere on exactly this, or load it here again',
      },
      on: { click: () => void guard('Writing the curated set', async () => saveFile(await api.curatedData())) },
    });
    reportBox.replaceChildren(reportView(summary), summary.groups > 0 ? h('p', { class: 'buttons' }, download) : '');
    clearErrors(); // a successful read replaces the previous read's complaints
    dataView.setTeacherName(`${summary.name} (${summary.groups} questions to train on)`);
    ui.hasData = summary.groups > 0;
    if (!ui.hasData) showError(`${summary.name}: no question could be used for training; see the report for why`);
  });
}

function loadEvalData(src: DataSource): Promise<boolean> {
  return load('Reading the evaluation file', async (progress) => {
    const summary = await api.loadEval(src, progress);
    dataView.setEvalName(`${summary.name} (${summary.items} questions)`);
    evalReportBox.replaceChildren(evalReportView(summary));
  });
}

async function loadDemo(): Promise<void> {
  await loadData({ kind: 'demo' });
  // the budget follows the training data at once, not after the evaluation file
  if (ui.hasData) settings.setDemo(true);
  await loadEvalData({ kind: 'demo' });
}

// ---- runs ----

async function runTraining(what: string, start: (l: typeof listener) => Promise<RunResult>): Promise<void> {
  if (ui.busy) return;
  ui.busy = true;
  training.begin();
  refresh();
  const r = await guard(
    what,
    () => start(listener),
    (m) => training.failed(m),
  );
  ui.busy = false;
  if (r) {
    ui.modelLoaded = true;
    ui.canContinue = r.step < r.totalSteps;
    training.note(`${what}: ${r.status} at step ${r.step} of ${r.totalSteps}`);
  }
  training.setCanExtend(!!r && r.step >= r.totalSteps);
  training.setPhase('idle', ui.canContinue);
  refresh();
  await refreshCheckpoints();
}

async function runEvaluation(opts: EvalOptions): Promise<void> {
  ui.evaluating = true;
  evaluation.setRunning(true);
  refresh();
  evaluation.progress.begin();
  let shownPhase: EvalPhase = 'greedy';
  const r = await guard('Evaluation', () =>
    api.evaluate(
      opts,
      callback((done: number, total: number, phase: EvalPhase) => {
        // sampling is a second pass with its own pace: the time left starts over
        if (phase !== shownPhase) evaluation.progress.begin(phase === 'samples' ? 'sampling explanations…' : undefined);
        shownPhase = phase;
        evaluation.progress.set(
          done,
          total,
          phase === 'samples' ? `${done} of ${total} sampled explanations` : `${done} of ${total} questions`,
        );
      }),
    ),
  );
  if (r) evaluation.show(r);
  else evaluation.clear();
  evaluation.progress.hide();
  ui.evaluating = false;
  evaluation.setRunning(false);
  refresh();
  if (r) await refreshCheckpoints();
}

async function runCompare(): Promise<void> {
  if (ui.busy) return;
  const s = await guard('Settings', async () => runSettings());
  if (!s) return;
  const seeds = compare.seeds(s.config.seed ?? DEFAULT_TRAIN.seed);
  if (!seeds) return;
  ui.busy = true;
  training.begin();
  compare.reset(seeds.length);
  refresh();
  // with the Evaluation settings: consistency too when they sample explanations
  const r = await guard(
    'Comparison',
    () => api.compare(s.config, evaluation.options(), listener, { seeds, accuracy: s.accuracy, ...baseDtypeOption() }),
    (m) => training.failed(m),
  );
  if (r) compare.finish(r);
  ui.busy = false;
  ui.canContinue = false;
  training.setCanExtend(false); // the model in memory is a comparison's
  training.setPhase('idle', false);
  refresh();
}

/** What the Comparison will run, from the settings as they stand; reading
 * them focuses a field in error, which must not pull the cursor out of
 * the field being typed in. */
function comparePlan(): ComparePlan | undefined {
  const typing = document.activeElement;
  try {
    const { config } = settings.read();
    return {
      seed: config.seed ?? DEFAULT_TRAIN.seed,
      length: config.epochs !== undefined ? { epochs: config.epochs } : { steps: config.steps ?? DEFAULT_TRAIN.steps },
    };
  } catch {
    return undefined;
  } finally {
    if (typing instanceof HTMLElement && document.activeElement !== typing) typing.focus();
  }
}
settings.el.addEventListener('input', () => compare.refreshPlan());
settings.el.addEventListener('change', () => compare.refreshPlan());

async function runClassroom(): Promise<void> {
  if (ui.busy) return;
  // it trains on the demo data: with the demo's budget, unless changed
  settings.setDemo(true);
  const s = await guard('Settings', async () => runSettings());
  if (!s) return;
  ui.busy = true;
  document.body.classList.add('classroom-mode');
  classroom.reset();
  training.begin();
  refresh();
  window.scrollTo({ top: 0 });
  const r = await guard(
    'Classroom demo',
    () => api.classroom(s.config, listener, s.accuracy),
    (m) => training.failed(m),
  );
  ui.busy = false;
  if (r) ui.canContinue = r.step < r.totalSteps;
  training.setCanExtend(false); // the classroom's model is no Training run
  training.setPhase('idle', ui.canContinue);
  refresh();
}

// ---- checkpoints ----

let refreshTimer = 0;
function scheduleCheckpointRefresh(): void {
  clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(() => void refreshCheckpoints(), 300);
}

async function refreshCheckpoints(): Promise<void> {
  await guard('Listing saved runs', async () => {
    const [runs, usage] = await Promise.all([api.listCheckpoints(), api.storageUsage()]);
    checkpoints.show(runs);
    checkpoints.showUsage(usage);
  });
}

async function exportCheckpoint(id: string, format: ExportFormat): Promise<void> {
  await guard('Exporting the checkpoint', async () => saveFile(await api.exportCheckpoint(id, format)));
}

/** Hands bytes from the worker to the browser as a download. */
function saveFile({ fileName, bytes }: { fileName: string; bytes: Uint8Array }): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = h('a', { attrs: { href: url, download: fileName } });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- start-up ----

// The worker switches one at a time, in the order asked; the badge shows
// only the answer to the newest request (a pick made while the start-up
// backend is still being set up must not flash back to it).
let backendRequest = 0;
function requestBackend(context: string, b: BackendName): void {
  const id = ++backendRequest;
  void guard(context, async () => {
    try {
      const report = await api.setBackend(b);
      if (id === backendRequest) showBackend(report);
    } catch (e) {
      // badge and picker go back to what the worker has (the banner says why)
      const now = (await api.status().catch(() => undefined))?.backend;
      if (id === backendRequest && now) {
        showBackend(now);
        settings.setBackend((now.fellBackFrom ?? now.backend) as BackendName);
      }
      throw e;
    }
  });
}

settings.onBackendChange((b) => {
  backendBadge.textContent = `backend: switching to ${b}…`;
  requestBackend(`Switching to ${b}`, b);
});

try {
  const linked = backendFromLink(location.search);
  if (linked) settings.setBackend(linked);
} catch (e) {
  showError('The link', e);
}

// A new thread count restarts wasm when it is in use (else it applies when
// wasm next starts); the badge shows what the restart got.
settings.onWasmThreadsChange((threads) => {
  const id = ++backendRequest;
  if (backendBadge.dataset.backend === 'wasm') backendBadge.textContent = 'backend: restarting wasm…';
  void guard('Setting the WebAssembly threads', async () => {
    const report = await api.setWasmThreads(threads);
    if (report && id === backendRequest) showBackend(report);
  });
});

// the kept thread count first: the worker reads it when it sets wasm up
try {
  const threads = settings.wasmThreads();
  if (threads !== 0) void api.setWasmThreads(threads);
} catch {
  // a bad kept value: the field names it when changed; wasm uses one per core
}
requestBackend('Setting up the backend', settings.backend());
void api
  .presetParams()
  .then((p) => settings.showPresetParams(p))
  .catch(() => undefined); // the picker works without the counts
// Tests and bug reports: ?diagnostics in the URL offers the worker's
// diagnostic calls to the console (nothing else on the page uses them).
if (new URLSearchParams(location.search).has('diagnostics')) {
  Object.assign(window, {
    mcckdDiagnostics: { loseDevice: () => api.loseDeviceForTest(), status: () => api.status(), memory: () => api.memory() },
  });
}
void refreshCheckpoints();
void teachView.refreshUnfinished();
// Ask the browser to keep checkpoints under storage pressure (only the page
// may ask; the answer doesn't change what we do).
void navigator.storage?.persist?.().catch(() => undefined);
keepFocusWhenDisabled();
refresh();
