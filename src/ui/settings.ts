// The settings form: every field labelled, with a good default and one line
// on what it does. Reading the form validates it and names the bad field.

import { DEFAULT_TRAIN, MAX_WASM_THREADS, PRESETS, type BackendName, type PresetName, type TrainConfig } from '../core/records';
import { ACCURACY_QUESTIONS, followLr, type StudentKind } from '../core/run-settings';
import type { AccuracyCheck } from '../worker/protocol';
import { h, nextId } from './dom';
import { keepValue, keptValue } from './kept';
import { showError } from './errors';

export interface Settings {
  config: Partial<TrainConfig>;
  autosaveEvery: number;
  /** Accuracy while training (every: undefined means auto). */
  accuracy: AccuracyCheck;
}

interface NumberField {
  key: string;
  label: string;
  help: string;
  value: number;
  min: number;
  max?: number;
  step: number | 'any';
  integer?: boolean;
}

const NUMBER_FIELDS: NumberField[] = [
  {
    key: 'alpha',
    label: 'Alpha (α)',
    help: 'Weight of the consistency (KL) term; 0 trains the plain multi-rationale baseline.',
    value: DEFAULT_TRAIN.alpha,
    min: 0,
    step: 'any',
  },
  {
    key: 'temperature',
    label: 'Temperature (T)',
    help: 'Softens both answer distributions inside the KL term (reference: 1.3).',
    value: DEFAULT_TRAIN.temperature,
    min: 0.05,
    step: 'any',
  },
  {
    key: 'k',
    label: 'Rationales per question (K)',
    help: 'How many teacher rationales curation keeps per question; each step pairs two of them.',
    value: DEFAULT_TRAIN.k,
    min: 1,
    max: 32,
    step: 1,
    integer: true,
  },
  {
    key: 'batchSize',
    label: 'Batch size',
    help: 'Questions per step; each contributes two rationales.',
    value: DEFAULT_TRAIN.batchSize,
    min: 1,
    max: 512,
    step: 1,
    integer: true,
  },
  {
    key: 'lr',
    label: 'Learning rate',
    help: 'Peak rate of AdamW: linear warmup, then cosine decay to a tenth.',
    value: DEFAULT_TRAIN.lr,
    min: 0,
    step: 'any',
  },
  {
    key: 'seed',
    label: 'Seed',
    help: 'Fixes weights, rationale pairs and data order: same seed, same run.',
    value: DEFAULT_TRAIN.seed,
    min: 0,
    step: 1,
    integer: true,
  },
  {
    key: 'logEvery',
    label: 'Log every (steps)',
    help: 'Read the losses back every N steps; 1 draws every step, more is a little faster.',
    value: 1,
    min: 1,
    step: 1,
    integer: true,
  },
  {
    key: 'autosaveEvery',
    label: 'Autosave every (steps)',
    help: 'Save a checkpoint every N steps (0: only on pause, stop and at the end).',
    value: 50,
    min: 0,
    step: 1,
    integer: true,
  },
];

const BACKENDS: { value: BackendName; label: string }[] = [
  { value: 'webgpu', label: 'WebGPU (fastest)' },
  { value: 'webgl', label: 'WebGL' },
  { value: 'wasm', label: 'WebAssembly (CPU)' },
  { value: 'cpu', label: 'Plain JavaScript (CPU, slowest)' },
];

/** The backend a link asks for with `?backend=NAME` (a page opened on a
 * machine whose WebGPU misbehaves, a bookmarked classroom setup, the browser
 * tests of the page's flow): undefined without one; a name not in the
 * picker is an error that lists the names. */
export function backendFromLink(search: string): BackendName | undefined {
  const asked = new URLSearchParams(search).get('backend');
  if (asked === null) return undefined;
  const b = BACKENDS.find((o) => o.value === asked);
  if (!b) throw new Error(`?backend=${asked} is not one of ${BACKENDS.map((o) => o.value).join(', ')}; starting on webgpu`);
  return b.value;
}

const THREADS_KEY = 'mcckd.wasmThreads';

/** The kept thread count, 0 when none (or storage is unavailable). */
function storedThreads(): number {
  const v = Number(keptValue(THREADS_KEY));
  return Number.isInteger(v) && v >= 1 && v <= MAX_WASM_THREADS ? v : 0;
}

function keepThreads(n: number): void {
  keepValue(THREADS_KEY, n === 0 ? null : String(n));
}

function field(label: string, control: HTMLElement & { id: string }, help: string): HTMLElement {
  const helpId = `${control.id}-help`;
  control.setAttribute('aria-describedby', helpId);
  return h(
    'div',
    { class: 'field' },
    h('label', { attrs: { for: control.id }, text: label }),
    control,
    h('small', { attrs: { id: helpId }, text: help }),
  );
}

export interface SettingsView {
  el: HTMLElement;
  read(): Settings;
  /** The backend picker changed (the worker switches right away). */
  onBackendChange(fn: (b: BackendName) => void): void;
  backend(): BackendName;
  setBackend(b: BackendName): void;
  /** The worker switches only between runs: the picker is off during one
   * (and so is the thread count, which restarts the wasm backend). */
  setBackendEnabled(on: boolean): void;
  /** The wasm backend's threads: 0 (the field empty) is one per two cores; a bad
   * value throws naming the field. Kept in localStorage across visits. */
  wasmThreads(): number;
  /** The thread count changed (to a valid value, already kept). */
  onWasmThreadsChange(fn: (threads: number) => void): void;
  /** The student changed (from scratch, LoRA, every weight of a pretrained
   * one): a pretrained one has its own size, and its own learning rate. */
  setStudent(kind: StudentKind): void;
  /** The built-in demo data was loaded (or other data replaced it): the
   * training length and batch the demo needs, where the user left the
   * defaults, with a line saying so. */
  setDemo(on: boolean): void;
  /** Each preset's parameter count, from the worker, into the size picker. */
  showPresetParams(params: Record<PresetName, number>): void;
}

/** The budget that teaches a from-scratch student the demo (docs/demo.md:
 * tiny, 1,000 steps x 16 questions reached 79.5% of the test questions;
 * the 200 x 8 default reaches only a few percent). */
const DEMO_RECIPE = { steps: 1000, batchSize: 16 } as const;
const DEMO_RECIPE_FIELDS = { steps: DEMO_RECIPE.steps, batch: DEMO_RECIPE.batchSize };

export function settingsView(): SettingsView {
  const inputs = new Map<string, HTMLInputElement>();
  const fields: HTMLElement[] = [];

  const preset = h('select', { attrs: { id: nextId('preset'), name: 'preset' }, testid: 'preset' });
  // Short enough to show whole in a settings column; the help line below
  // says what the sizes are for. The parameter counts come from the worker
  // (showPresetParams) once it answers.
  const presetText = (name: PresetName, params?: number): string =>
    [
      name,
      ...(params === undefined ? [] : [`${(params / 1e6).toFixed(2)}M params`]),
      `${PRESETS[name].nLayer}×${PRESETS[name].nEmbd}`,
    ].join(' · ');
  for (const name of Object.keys(PRESETS) as PresetName[]) preset.append(h('option', { attrs: { value: name }, text: presetText(name) }));
  preset.value = DEFAULT_TRAIN.preset;
  fields.push(
    field('Model size', preset, 'Layers × width. tiny trains in minutes anywhere; small suits a classroom GPU; base wants a real GPU.'),
  );

  // Length: steps or epochs.
  const mode = h('select', { attrs: { id: nextId('length-mode'), name: 'length-mode' }, testid: 'length-mode' });
  mode.append(h('option', { attrs: { value: 'steps' }, text: 'steps' }), h('option', { attrs: { value: 'epochs' }, text: 'epochs' }));
  const length = h('input', {
    attrs: { id: nextId('length'), type: 'number', min: 1, step: 'any', value: DEFAULT_TRAIN.steps, name: 'length' },
    testid: 'steps',
  });
  mode.addEventListener('change', () => {
    // back to steps: the budget the page chose (the demo's, or the default)
    length.value = mode.value === 'epochs' ? '10' : String(budget.steps);
  });
  const lengthId = `${length.id}-help`;
  length.setAttribute('aria-describedby', lengthId);
  fields.push(
    h(
      'div',
      { class: 'field' },
      h('label', { attrs: { for: length.id }, text: 'Training length' }),
      h('div', { class: 'inline' }, length, h('label', { class: 'visually-hidden', attrs: { for: mode.id }, text: 'unit' }), mode),
      h('small', { attrs: { id: lengthId }, text: 'Optimizer steps, or passes over the questions (epochs).' }),
    ),
  );

  for (const f of NUMBER_FIELDS) {
    const input = h('input', {
      attrs: { id: nextId(f.key), type: 'number', name: f.key, min: f.min, max: f.max, step: f.step, value: f.value },
      testid: `setting-${f.key}`,
    });
    inputs.set(f.key, input);
    fields.push(field(f.label, input, f.help));
  }

  // Accuracy while training: empty means auto (a tenth of the run, at least
  // every 25 steps), so a short run is not slowed down unasked.
  const accEvery = h('input', {
    attrs: { id: nextId('accuracy-every'), type: 'number', name: 'accuracyEvery', min: 0, step: 1, placeholder: 'auto' },
    testid: 'setting-accuracyEvery',
  });
  fields.push(
    field(
      'Check accuracy every (steps)',
      accEvery,
      'Answers a few held-out questions (evaluation file, else the dev split) every N steps and charts the accuracy. Empty: about every tenth of the run (at least 25 steps); 0: never.',
    ),
  );
  const accQuestions = h('input', {
    attrs: {
      id: nextId('accuracy-questions'),
      type: 'number',
      name: 'accuracyQuestions',
      min: 1,
      max: 256,
      step: 1,
      value: ACCURACY_QUESTIONS.page,
    },
    testid: 'setting-accuracyQuestions',
  });
  fields.push(
    field('Questions per accuracy check', accQuestions, 'The first N held-out questions, answered greedily; more is steadier and slower.'),
  );
  const accTokens = h('input', {
    attrs: { id: nextId('accuracy-tokens'), type: 'number', name: 'accuracyMaxTokens', min: 1, step: 1, placeholder: 'auto' },
    testid: 'setting-accuracyMaxTokens',
  });
  fields.push(
    field(
      'Max new tokens per check',
      accTokens,
      'Longest answer written in a check. Empty: a little more than the longest training rationale.',
    ),
  );

  const backend = h('select', { attrs: { id: nextId('backend'), name: 'backend' }, testid: 'backend-select' });
  for (const b of BACKENDS) backend.append(h('option', { attrs: { value: b.value }, text: b.label }));
  backend.value = 'webgpu';
  fields.push(
    field(
      'Backend',
      backend,
      'Where the math runs. Without WebGPU the worker falls back to WebGL, then the CPU; the badge at the top says what it got.',
    ),
  );

  // The wasm backend's threads, kept across visits: the worker needs the
  // count before it sets wasm up (tfjs reads it once, at set-up).
  const threads = h('input', {
    attrs: { id: nextId('wasm-threads'), type: 'number', name: 'wasmThreads', min: 1, max: MAX_WASM_THREADS, step: 1, placeholder: 'auto' },
    testid: 'setting-wasmThreads',
  });
  const stored = storedThreads();
  if (stored) threads.value = String(stored);
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : undefined;
  fields.push(
    field(
      'WebAssembly threads',
      threads,
      `Threads of the WebAssembly backend. Empty: one per two cores${cores ? ` (${Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(cores / 2)))} here)` : ''}, at most ${MAX_WASM_THREADS}; 1: the single-threaded build. Applies when that backend starts (at once when it is in use); the badge says how many run.`,
    ),
  );
  const readThreads = (): number => {
    const v = threads.value.trim() === '' ? 0 : Number(threads.value);
    if (!Number.isInteger(v) || v < 0 || v > MAX_WASM_THREADS) {
      threads.focus();
      throw new Error(
        `WebAssembly threads: enter a whole number from 1 to ${MAX_WASM_THREADS}, or leave it empty for one per two cores (got "${threads.value}")`,
      );
    }
    return v;
  };

  const demoNote = h('p', { class: 'settings-note', testid: 'settings-demo-note', attrs: { role: 'status', hidden: true } });
  const el = h('div', {}, demoNote, h('div', { class: 'settings-grid' }, ...fields));

  // The demo's budget applies to the demo data with a from-scratch student
  // (a pretrained one would take hours at it). Only values still as the
  // page last set them follow; what the user typed stays.
  let demoData = false;
  let pretrained = false;
  let student: StudentKind = 'scratch';
  let budget = { steps: DEFAULT_TRAIN.steps, batch: DEFAULT_TRAIN.batchSize };
  const followBudget = (): void => {
    const demo = demoData && !pretrained;
    const to = demo ? DEMO_RECIPE_FIELDS : { steps: DEFAULT_TRAIN.steps, batch: DEFAULT_TRAIN.batchSize };
    const batch = inputs.get('batchSize')!;
    if (mode.value === 'steps' && Number(length.value) === budget.steps) length.value = String(to.steps);
    if (Number(batch.value) === budget.batch) batch.value = String(to.batch);
    budget = to;
    // the same notice as a change by hand (the comparison's plan line listens)
    el.dispatchEvent(new Event('change', { bubbles: true }));
    const set = [
      ...(mode.value === 'steps' && Number(length.value) === to.steps ? [`${to.steps.toLocaleString('en')} steps`] : []),
      ...(Number(batch.value) === to.batch ? [`batch size ${to.batch}`] : []),
    ];
    demoNote.hidden = !demo || set.length === 0;
    demoNote.textContent = demo
      ? `Set for the demo data: ${set.join(' and ')}. That budget took the tiny from-scratch student to about 80% right answers on the demo's test questions (15 minutes with the WebAssembly backend on a 2-core CPU); the 200-step default gets only a few percent right. Fewer steps show the losses fall, not the answers improve.`
      : '';
  };

  const readNumber = (f: NumberField): number => {
    const input = inputs.get(f.key) as HTMLInputElement;
    const v = Number(input.value);
    const bad = (why: string): never => {
      input.focus();
      throw new Error(`${f.label}: ${why} (got "${input.value}")`);
    };
    if (input.value.trim() === '' || !Number.isFinite(v)) bad('enter a number');
    if (v < f.min) bad(`must be at least ${f.min}`);
    if (f.max !== undefined && v > f.max) bad(`must be at most ${f.max}`);
    if (f.integer && !Number.isInteger(v)) bad('must be a whole number');
    return v;
  };

  /** An optional whole number: undefined when empty (auto). */
  const optionalInt = (input: HTMLInputElement, label: string, min: number, max = Infinity): number | undefined => {
    if (input.value.trim() === '') return undefined;
    const v = Number(input.value);
    if (!Number.isInteger(v) || v < min || v > max) {
      input.focus();
      throw new Error(
        `${label}: enter a whole number ${max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`}, or leave it empty (got "${input.value}")`,
      );
    }
    return v;
  };
  const readAccuracy = (): AccuracyCheck => {
    const every = optionalInt(accEvery, 'Check accuracy every', 0);
    const questions = optionalInt(accQuestions, 'Questions per accuracy check', 1, 256) ?? ACCURACY_QUESTIONS.page;
    const maxNewTokens = optionalInt(accTokens, 'Max new tokens per check', 1);
    return { questions, ...(every !== undefined ? { every } : {}), ...(maxNewTokens !== undefined ? { maxNewTokens } : {}) };
  };

  return {
    showPresetParams(params) {
      for (const o of preset.options)
        if (Object.hasOwn(PRESETS, o.value)) o.text = presetText(o.value as PresetName, params[o.value as PresetName]);
    },
    el,
    read(): Settings {
      const values = Object.fromEntries(NUMBER_FIELDS.map((f) => [f.key, readNumber(f)]));
      const n = Number(length.value);
      if (!(Number.isFinite(n) && n > 0)) {
        length.focus();
        throw new Error(`Training length: enter a positive number (got "${length.value}")`);
      }
      const name = preset.value as PresetName;
      const config: Partial<TrainConfig> = {
        preset: name,
        vocabSize: PRESETS[name].vocabSize,
        alpha: values.alpha,
        temperature: values.temperature,
        k: values.k,
        batchSize: values.batchSize,
        lr: values.lr,
        minLr: values.lr / 10,
        seed: values.seed,
        logEvery: values.logEvery,
        backend: backend.value as BackendName,
      };
      if (mode.value === 'epochs') config.epochs = n;
      else config.steps = Math.round(n);
      return { config, autosaveEvery: values.autosaveEvery, accuracy: readAccuracy() };
    },
    onBackendChange(fn) {
      backend.addEventListener('change', () => fn(backend.value as BackendName));
    },
    backend: () => backend.value as BackendName,
    setBackend(b) {
      backend.value = b;
    },
    setStudent(kind) {
      const on = kind !== 'scratch';
      pretrained = on;
      followBudget();
      preset.disabled = on;
      preset.title = on ? 'A pretrained student has its own size (see Student).' : '';
      const lr = inputs.get('lr')!;
      // only a value the user has not changed follows the student (core/run-settings.ts)
      lr.value = String(followLr(Number(lr.value), student, kind));
      student = kind;
    },
    setDemo(on) {
      demoData = on;
      followBudget();
    },
    setBackendEnabled(on) {
      backend.disabled = !on;
      backend.title = on ? '' : 'The backend can change only while nothing runs: stop the run, or wait for the evaluation.';
      threads.disabled = !on;
      threads.title = on ? '' : 'The threads can change only while nothing runs: stop the run, or wait for the evaluation.';
    },
    wasmThreads: readThreads,
    onWasmThreadsChange(fn) {
      threads.addEventListener('change', () => {
        let n: number;
        try {
          n = readThreads();
        } catch (e) {
          showError('Settings', e); // the worker keeps the count it has
          return;
        }
        keepThreads(n);
        fn(n);
      });
    },
  };
}
