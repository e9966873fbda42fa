// `mcckd train`: curate the teacher file, train (or resume) a student, log one
// JSON object per logged step on stdout, save the run directory, evaluate.

import { createReadStream } from 'node:fs';
import { access, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, str, num, positiveInt, UsageError } from './args';
import { parseBackend, setupBackend } from './setup';
import { DEFAULT_TRAIN, PRESETS, countParams, type PresetName, type TrainConfig } from '../core/config';
import { Trainer } from '../core/trainer';
import { readTeacherFile, readEvalFile } from '../data';
import { saveRunDir, loadRunDir } from '../checkpoint/runDir';
import { fingerprintGroups } from '../core/fingerprint';
import type { EvalItem, TaskType } from '../data/types';

const SPEC = {
  data: 'string', eval: 'string', preset: 'string', alpha: 'number', temperature: 'number', k: 'number',
  steps: 'number', epochs: 'number', batch: 'number', lr: 'number', seed: 'number', backend: 'string',
  out: 'string', resume: 'string', 'log-every': 'number', 'save-every': 'number', 'eval-limit': 'number',
  'vocab-size': 'number', 'max-new-tokens': 'number', 'stop-at': 'number', 'warmup': 'number', 'weight-decay': 'number',
} as const;

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

export async function runTrain(argv: string[]): Promise<number> {
  const f = parseFlags(argv, SPEC);
  const dataPath = str(f, 'data');
  if (!dataPath) throw new UsageError('--data FILE is required');
  await mustExist(dataPath, '--data');
  const evalPath = str(f, 'eval');
  if (evalPath) await mustExist(evalPath, '--eval');
  const resumeDir = str(f, 'resume');
  const outDir = str(f, 'out') ?? resumeDir;
  if (num(f, 'steps') !== undefined && num(f, 'epochs') !== undefined) throw new UsageError('give --steps or --epochs, not both');

  const resumed = resumeDir ? await loadRunDir(resumeDir) : undefined;
  const base: TrainConfig = resumed ? resumed.trainConfig : { ...DEFAULT_TRAIN };
  const preset = (str(f, 'preset') ?? base.preset) as PresetName;
  if (!(preset in PRESETS)) throw new UsageError(`--preset must be tiny, small or base, got "${preset}"`);
  if (resumed && str(f, 'preset') && preset !== resumed.trainConfig.preset) {
    throw new UsageError(`--preset ${preset} differs from the resumed run's ${resumed.trainConfig.preset}`);
  }
  const config: TrainConfig = {
    ...base,
    preset,
    alpha: num(f, 'alpha') ?? base.alpha,
    temperature: num(f, 'temperature') ?? base.temperature,
    k: positiveInt(f, 'k') ?? base.k,
    batchSize: positiveInt(f, 'batch') ?? base.batchSize,
    lr: num(f, 'lr') ?? base.lr,
    seed: num(f, 'seed') ?? base.seed,
    logEvery: positiveInt(f, 'log-every') ?? (resumed ? base.logEvery : 1),
    vocabSize: positiveInt(f, 'vocab-size') ?? (resumed ? base.vocabSize : PRESETS[preset].vocabSize),
    warmupSteps: num(f, 'warmup') ?? base.warmupSteps,
    weightDecay: num(f, 'weight-decay') ?? base.weightDecay,
    backend: parseBackend(str(f, 'backend'), resumed ? base.backend : 'cpu'),
  };
  if (config.minLr > config.lr) config.minLr = config.lr / 10;
  if (!(config.alpha >= 0)) throw new UsageError('--alpha must be >= 0');
  if (!(config.temperature > 0)) throw new UsageError('--temperature must be > 0');

  log(`reading ${dataPath}`);
  // with an evaluation file every question trains; without one, a seeded dev split
  const data = await readTeacherFile(createReadStream(dataPath), { k: config.k, seed: config.seed, ...(evalPath ? { devFraction: 0 } : {}) });
  const r = data.report;
  log(`data: ${r.format}, ${r.questions} questions, ${r.rationalesKept}/${r.rationalesIn} rationales kept, task ${data.taskType}`);
  let evalItems: EvalItem[] = data.dev;
  let taskType: TaskType = data.taskType;
  if (evalPath) {
    const ev = await readEvalFile(createReadStream(evalPath), { taskType: data.taskType });
    evalItems = ev.items;
    taskType = ev.taskType;
    log(`eval: ${evalItems.length} questions from ${evalPath}`);
  }
  const groups = data.groups;
  const epochs = num(f, 'epochs');
  const steps = epochs !== undefined ? Math.max(1, Math.ceil((epochs * groups.length) / config.batchSize)) : positiveInt(f, 'steps') ?? base.steps;
  config.steps = steps;
  if (epochs !== undefined) config.epochs = epochs;
  if (config.warmupSteps >= steps) config.warmupSteps = Math.max(0, Math.floor(steps / 10));

  const backend = await setupBackend(config.backend);
  const fingerprint = fingerprintGroups(groups);
  let trainer: Trainer;
  if (resumed) {
    if (resumed.datasetFingerprint !== fingerprint) log('warning: the data differs from the data the run was trained on');
    trainer = await Trainer.restore({ ...resumed, trainConfig: { ...resumed.trainConfig, ...config } }, groups);
    log(`resumed ${resumeDir} at step ${trainer.step} of ${trainer.totalSteps}`);
  } else {
    trainer = await Trainer.create({ groups, trainConfig: config, datasetFingerprint: fingerprint });
  }
  if (trainer.skipped.rationales > 0) log(`skipped ${trainer.skipped.rationales} rationales (${trainer.skipped.groups} questions) longer than the model's ${trainer.modelConfig.blockSize} positions`);
  log(`model: ${preset}, ${countParams(trainer.modelConfig).toLocaleString('en')} parameters, vocab ${trainer.modelConfig.vocabSize}, backend ${backend.backend}`);

  let stop = false;
  const onSigint = (): void => {
    if (stop) process.exit(130);
    stop = true;
    log('interrupted: saving after this step (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  const saveEvery = positiveInt(f, 'save-every') ?? 0;
  // --stop-at trains a long run in sessions: the schedule stays that of --steps
  const stopAt = Math.min(positiveInt(f, 'stop-at') ?? trainer.totalSteps, trainer.totalSteps);
  const t0 = performance.now();
  const save = async (): Promise<void> => {
    if (!outDir) return;
    await saveRunDir(outDir, await trainer.snapshot());
  };
  while (trainer.step < stopAt && !stop) {
    const m = await trainer.trainStep();
    if (m) process.stdout.write(`${JSON.stringify(m)}\n`);
    if (saveEvery && trainer.step % saveEvery === 0) await save();
    if (trainer.step % 10 === 0 || trainer.step === trainer.totalSteps) {
      const elapsed = (performance.now() - t0) / 1000;
      log(`step ${trainer.step}/${trainer.totalSteps} (${elapsed.toFixed(0)} s)`);
    }
  }
  process.off('SIGINT', onSigint);
  const trainSeconds = (performance.now() - t0) / 1000;
  await save();
  if (outDir) log(`saved run to ${path.resolve(outDir)}`);

  const finished = trainer.step >= trainer.totalSteps;
  if (!finished) log(`stopped at step ${trainer.step} of ${trainer.totalSteps}; continue with --resume ${outDir ?? 'DIR (give --out to save)'}`);
  if (!stop && finished && evalItems.length > 0) {
    const limit = positiveInt(f, 'eval-limit');
    log(`evaluating on ${Math.min(limit ?? Infinity, evalItems.length)} questions`);
    const result = await trainer.evaluate(evalItems, {
      taskType, limit, maxNewTokens: positiveInt(f, 'max-new-tokens'),
      onProgress: (done, total) => { if (done % 25 === 0 || done === total) log(`eval ${done}/${total}`); },
    });
    const summary = { eval: { accuracy: result.accuracy, correct: result.correct, total: result.total, trainSeconds, samples: result.samples.slice(0, 5) } };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (outDir) {
      await mkdir(outDir, { recursive: true });
      await writeFile(path.join(outDir, 'eval.json'), JSON.stringify(result, null, 1));
    }
  }
  trainer.dispose();
  return stop ? 130 : 0;
}
