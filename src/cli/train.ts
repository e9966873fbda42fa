// `mcckd train`: curate the teacher file, train (or resume) a student, log one
// JSON object per logged step on stdout, save the run directory, evaluate.

import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, str, num, positiveInt, unreadableOf, UsageError, type Flags } from './args';
import { TRAIN_FLAGS } from './flags';
import { parseBackend, setupBackend } from './setup';
import {
  DEFAULT_TRAIN,
  LORA_DEFAULTS,
  countParams,
  countTrainable,
  curationOf,
  prepareTrainConfig,
  type LoraConfig,
  type PresetName,
  type TrainConfig,
} from '../core/config';
import { guardBackendLoss } from '../core/backend';
import { trainLoop } from '../core/loop';
import type { PretrainedStudent } from '../core/trainer';
import { accuracySchedule, assembleTrainer, checkAccuracy, planRun, type RunStart } from '../core/run';
import { ACCURACY_QUESTIONS, isAccuracyStep, studentKind, withDefaultLr } from '../core/run-settings';
import { adapterFrom, studentFrom } from './student';
import { baseDtypeOf } from './base-dtype';
import { readTeacherFile, readEvalFile } from '../data';
import { saveRunDir, saveRunEval, loadRunDir, runBaseFolder, type SavedCheckpoint } from '../checkpoint/runDir';
import { claimRunFolder } from './run-folder';
import { dataProblems } from './data-problems';
import { fingerprintGroups } from '../core/fingerprint';
import type { EvalItem, TaskType } from '../data/types';

/** Where the command's results go: one JSON line each on stdout, or (the
 * experiment runner, which trains through this same function) a collector. */
export interface TrainIO {
  out(result: object): void;
  /** false: skip the evaluation after training (the caller evaluates). */
  finalEval?: boolean;
}

const STDOUT_IO: TrainIO = { out: (result) => process.stdout.write(`${JSON.stringify(result)}\n`) };

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function mustExist(file: string, flag: string): Promise<void> {
  try {
    await access(file);
  } catch {
    throw new UsageError(`${flag} ${file}: no such file`);
  }
}

export async function runTrain(argv: string[], io: TrainIO = STDOUT_IO): Promise<number> {
  const f = parseFlags(argv, TRAIN_FLAGS);
  const outDir = str(f, 'out') ?? str(f, 'resume');
  // held until the run ends: refuses a folder that is not new, empty or the
  // run resumed, and keeps a second train process out of it
  const lock = outDir
    ? await claimRunFolder({ out: outDir, resume: str(f, 'resume'), student: str(f, 'student'), adapter: str(f, 'adapter') })
    : undefined;
  try {
    return await train(f, io, outDir);
  } finally {
    await lock?.release();
  }
}

async function train(f: Flags<typeof TRAIN_FLAGS>, io: TrainIO, outDir: string | undefined): Promise<number> {
  const dataPath = str(f, 'data');
  if (!dataPath) throw new UsageError('--data FILE is required');
  await mustExist(dataPath, '--data');
  const evalPath = str(f, 'eval');
  if (evalPath) await mustExist(evalPath, '--eval');
  const resumeDir = str(f, 'resume');
  if (num(f, 'steps') !== undefined && num(f, 'epochs') !== undefined) throw new UsageError('give --steps or --epochs, not both');

  const resumed = resumeDir ? await loadRunDir(resumeDir) : undefined;
  let studentDir = str(f, 'student');
  if (resumed && !resumed.base && studentDir)
    throw new UsageError(`the run in ${resumeDir} trains a student from scratch: --student does not apply`);
  if (resumed?.base && !studentDir) {
    studentDir = await runBaseFolder(resumeDir!);
    if (!studentDir) throw new UsageError(`the run in ${resumeDir} fine-tunes "${resumed.base.name}": give its folder with --student DIR`);
  }
  const loraFlags = (['lora-rank', 'lora-alpha', 'lora-targets'] as const).filter((k) => f[k] !== undefined);
  if (loraFlags.length && !studentDir) throw new UsageError(`--${loraFlags[0]} needs a pretrained student (--student DIR)`);
  if (loraFlags.length && resumed) throw new UsageError(`--${loraFlags[0]}: a resumed run keeps its LoRA settings`);
  const baseFlag = str(f, 'base-dtype');
  if (baseFlag !== undefined && !studentDir)
    throw new UsageError('--base-dtype needs a pretrained student (--student DIR): a student from scratch has no frozen base');
  const adapterDir = str(f, 'adapter');
  if (adapterDir) {
    if (resumed) throw new UsageError('--adapter starts a new run from an adapter: a resumed run keeps its own');
    if (!studentDir) throw new UsageError('--adapter needs its base model folder (--student DIR)');
    if (loraFlags.length)
      throw new UsageError(`--${loraFlags[0]}: with --adapter, r, alpha and the targets are the adapter's (adapter_config.json)`);
  }
  const preset = str(f, 'preset');
  if (resumed && preset !== undefined && preset !== resumed.trainConfig.preset) {
    throw new UsageError(`--preset ${preset} differs from the resumed run's ${resumed.trainConfig.preset}`);
  }
  // Flags given override the resumed run's settings (or the defaults); the
  // checks and derived values are the page's too (prepareTrainConfig).
  const given: Partial<TrainConfig> = {
    ...(preset !== undefined ? { preset: preset as PresetName } : {}),
    alpha: num(f, 'alpha'),
    temperature: num(f, 'temperature'),
    k: positiveInt(f, 'k'),
    batchSize: positiveInt(f, 'batch'),
    lr: num(f, 'lr'),
    seed: num(f, 'seed'),
    logEvery: positiveInt(f, 'log-every'),
    vocabSize: positiveInt(f, 'vocab-size'),
    warmupSteps: num(f, 'warmup'),
    weightDecay: num(f, 'weight-decay'),
    steps: positiveInt(f, 'steps'),
    epochs: num(f, 'epochs'),
    backend: str(f, 'backend') !== undefined ? parseBackend(str(f, 'backend'), DEFAULT_TRAIN.backend) : undefined,
    // a shell passes \n as two characters: the template means a new line
    promptTemplate: str(f, 'prompt-template')?.replace(/\\n/g, '\n'),
    recompute: f.recompute === true ? true : undefined,
  };
  const lora = studentDir && !resumed && !adapterDir ? loraOf(f) : undefined;
  const merged: Partial<TrainConfig> = { ...resumed?.trainConfig };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  // --steps replaces a resumed run's epochs (and the other way round)
  if (given.steps !== undefined) delete merged.epochs;
  // a finished run given a larger --steps trains further in the same run and
  // keeps its decay: the added steps run at the final rate (core/schedule.ts)
  const done = resumed && resumed.step >= resumed.trainConfig.steps ? resumed.trainConfig : undefined;
  if (done && given.steps !== undefined && given.steps > done.steps)
    merged.decaySteps = Math.min(done.decaySteps ?? done.steps, done.steps);
  // a resumed run has its own rate; a new one defaults to its student's
  const input = withDefaultLr(merged, studentKind(studentDir !== undefined, !!(lora || adapterDir)));
  const curation = curationOf(input);

  log(`reading ${dataPath}`);
  // with an evaluation file every question trains; without one, a seeded dev split
  const data = await readTeacherFile(createReadStream(dataPath), {
    ...curation,
    unreadable: unreadableOf(f),
    ...(evalPath ? { devFraction: 0 } : {}),
  });
  const r = data.report;
  log(`data: ${r.format}, ${r.questions} questions, ${r.rationalesKept}/${r.rationalesIn} rationales kept, task ${data.taskType}`);
  for (const l of dataProblems(dataPath, r)) log(l);
  let evalItems: EvalItem[] = data.dev;
  let taskType: TaskType = data.taskType;
  if (evalPath) {
    const ev = await readEvalFile(createReadStream(evalPath), { taskType: data.taskType });
    evalItems = ev.items;
    taskType = ev.taskType;
    log(`eval: ${evalItems.length} questions from ${evalPath}`);
    for (const l of dataProblems(evalPath, ev.report)) log(l);
  }
  const groups = data.groups;
  // for the model card of an export: what the run learned from
  const dataFacts = {
    file: path.basename(dataPath),
    questions: r.questions,
    rationales: r.rationalesKept,
    trainQuestions: groups.length,
    devQuestions: evalPath ? 0 : data.dev.length,
  };
  let config: TrainConfig;
  try {
    config = prepareTrainConfig(input, groups.length);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const backend = await setupBackend(config.backend);
  const baseDtype = baseDtypeOf(baseFlag, backend.backend);
  let student: PretrainedStudent | undefined;
  let adapter: Awaited<ReturnType<typeof adapterFrom>> | undefined;
  if (studentDir) {
    log(`reading the pretrained student in ${studentDir}`);
    student = await studentFrom(studentDir);
    if (adapterDir) adapter = await adapterFrom(adapterDir, student);
  }
  const start: RunStart = resumed
    ? { kind: 'resume', state: resumed, config: { ...resumed.trainConfig, ...config }, ...(student ? { student } : {}) }
    : { kind: 'new', config, ...(student ? { student: { student, ...(adapter ? { adapter } : lora ? { lora } : {}) } } : {}) };
  const runData = { groups, fingerprint: fingerprintGroups(groups) };
  // refused on WebGPU when a step cannot fit (core/run.ts)
  const plan = planRun(start, runData, backend.backend, undefined, baseDtype);
  if (plan) log(plan.text);
  const { trainer, notes } = await assembleTrainer(start, runData, { baseDtype });
  for (const n of notes) log(`warning: ${n}`);
  if (adapter) log(`starting the LoRA from the adapter in ${adapterDir}`);
  else if (resumed) log(`resumed ${resumeDir} at step ${trainer.step} of ${trainer.totalSteps}`);
  if (trainer.skipped.rationales > 0)
    log(
      `skipped ${trainer.skipped.rationales} rationales (${trainer.skipped.groups} questions) longer than the model's ${trainer.modelConfig.blockSize} positions`,
    );
  const mc = trainer.modelConfig;
  const what = trainer.base ? `${trainer.base.name} (${trainer.base.arch})` : config.preset;
  const loraNote = mc.lora
    ? `, LoRA r ${mc.lora.rank} alpha ${mc.lora.alpha} on ${mc.lora.targets.join(',')}: ${countTrainable(mc).toLocaleString('en')} trainable`
    : '';
  // only a LoRA run's base is frozen (and so packed): a full fine-tune trains it in f32
  const baseNote = trainer.base ? `, base ${mc.lora ? baseDtype : 'f32 (every weight trains)'}` : '';
  log(
    `model: ${what}, ${countParams(mc).toLocaleString('en')} parameters${loraNote}, vocab ${mc.vocabSize}, backend ${backend.backend}${baseNote}`,
  );

  const stop = new AbortController();
  const onSigint = (): void => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
    log('interrupted: saving after this step (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  // accuracy while training: greedy, on the first questions of the held-out set
  const evalEvery = positiveInt(f, 'eval-every');
  const maxNewTokens = positiveInt(f, 'max-new-tokens');
  const accuracy = accuracySchedule(
    evalEvery
      ? {
          every: evalEvery,
          questions: positiveInt(f, 'eval-every-limit') ?? ACCURACY_QUESTIONS.cli,
          ...(maxNewTokens ? { maxNewTokens } : {}),
        }
      : undefined,
    evalItems.length ? { items: evalItems, taskType } : undefined,
    trainer,
    groups,
  );
  if (accuracy === 'no-data') log('--eval-every: no held-out questions to evaluate (give --eval FILE)');
  const t0 = performance.now();
  let saved: SavedCheckpoint | undefined;
  await trainLoop({
    trainer,
    signal: stop.signal,
    // --stop-at trains a long run in sessions: the schedule stays that of --steps
    stopAt: positiveInt(f, 'stop-at'),
    autosaveEvery: positiveInt(f, 'save-every') ?? 0,
    // a lost GPU is said as such (not an empty AbortError); --resume goes on
    exclusive: (fn) => guardBackendLoss(fn),
    save: async () => {
      if (outDir)
        saved = await saveRunDir(outDir, await trainer.snapshot(), {
          ...(studentDir ? { baseFolder: path.resolve(studentDir) } : {}),
          data: dataFacts,
        });
    },
    onStep: async (p) => {
      if (p.metrics) io.out(p.metrics);
      if (typeof accuracy === 'object' && isAccuracyStep(p.step, accuracy.every, p.totalSteps)) {
        const { step, ...e } = await guardBackendLoss(() => checkAccuracy(trainer, accuracy, p.step));
        io.out({ step, eval: e });
      }
      if (p.step % 10 === 0 || p.step === p.totalSteps) log(`step ${p.step}/${p.totalSteps} (${(p.elapsedMs / 1000).toFixed(0)} s)`);
    },
  });
  process.off('SIGINT', onSigint);
  const trainSeconds = (performance.now() - t0) / 1000;
  if (outDir) log(`saved run to ${path.resolve(outDir)}`);

  const finished = trainer.step >= trainer.totalSteps;
  if (!finished)
    log(`stopped at step ${trainer.step} of ${trainer.totalSteps}; continue with --resume ${outDir ?? 'DIR (give --out to save)'}`);
  if (!stop.signal.aborted && finished && evalItems.length > 0 && io.finalEval !== false) {
    const limit = positiveInt(f, 'eval-limit');
    log(`evaluating on ${Math.min(limit ?? Infinity, evalItems.length)} questions`);
    const result = await trainer.evaluate(evalItems, {
      taskType,
      limit,
      maxNewTokens: positiveInt(f, 'max-new-tokens'),
      onProgress: (done, total) => {
        if (done % 25 === 0 || done === total) log(`eval ${done}/${total}`);
      },
    });
    const summary = {
      eval: { accuracy: result.accuracy, correct: result.correct, total: result.total, trainSeconds, samples: result.samples.slice(0, 5) },
    };
    io.out(summary);
    // eval.json names the checkpoint it measured: a later save makes it stale
    if (outDir && saved?.step === trainer.step) {
      const file = path.basename(evalPath ?? dataPath) + (evalPath ? '' : ' (dev split)');
      await saveRunEval(outDir, { ...result, file }, saved);
    }
  }
  trainer.dispose();
  return stop.signal.aborted ? 130 : 0;
}

/** The LoRA setting of a new run on a pretrained student: rank 0 trains
 * every weight (no adapter). Targets are checked against the architecture
 * when the trainer is created. */
function loraOf(f: Flags<typeof TRAIN_FLAGS>): LoraConfig | undefined {
  const rank = f['lora-rank'] ?? LORA_DEFAULTS.rank;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0)
    throw new UsageError(`--lora-rank must be a non-negative integer, got ${String(rank)}`);
  if (rank === 0) return undefined;
  const alpha = f['lora-alpha'] ?? LORA_DEFAULTS.alpha;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new UsageError(`--lora-alpha must be a positive number, got ${String(alpha)}`);
  const t = f['lora-targets'];
  // the architecture is known only once the folder is read: '' = its default
  const targets =
    typeof t === 'string'
      ? t
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : [];
  return { rank, alpha, targets };
}
