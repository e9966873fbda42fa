// `mcckd eval`: load a saved run and report accuracy on an evaluation file,
// and with --samples M the consistency metrics of M sampled rationales per
// question (src/core/consistency.ts).

import { createReadStream } from 'node:fs';
import { parseFlags, str, num, positiveInt, taskType, UsageError } from './args';
import { EVAL_FLAGS } from './flags';
import { MAX_CONSISTENCY_SAMPLES } from '../core/consistency';
import { parseBackend, setupBackend } from './setup';
import { readEvalFile } from '../data';
import { baseDtypeOf } from './base-dtype';
import { restoreRun } from './student';
import { dataProblems } from './data-problems';

/** Where the result goes: a JSON line on stdout, or a collector (the experiment runner). */
export interface EvalIO {
  out(result: object): void;
}

const STDOUT_IO: EvalIO = { out: (result) => process.stdout.write(`${JSON.stringify(result)}\n`) };

export async function runEval(argv: string[], io: EvalIO = STDOUT_IO): Promise<number> {
  const f = parseFlags(argv, EVAL_FLAGS);
  const runDir = str(f, 'run');
  const dataPath = str(f, 'data');
  if (!runDir) throw new UsageError('--run DIR is required');
  if (!dataPath) throw new UsageError('--data FILE is required');
  const samples = positiveInt(f, 'samples');
  if (samples === 1) throw new UsageError('--samples must be at least 2 (agreement needs two samples)');
  if (samples !== undefined && samples > MAX_CONSISTENCY_SAMPLES)
    throw new UsageError(
      `--samples must be at most ${MAX_CONSISTENCY_SAMPLES}, got ${samples} (each question's samples are compared at once)`,
    );
  for (const k of ['temperature', 'seed'] as const)
    if (f[k] !== undefined && samples === undefined) throw new UsageError(`--${k} goes with --samples M`);
  const temperature = num(f, 'temperature');
  if (temperature !== undefined && !(temperature > 0)) throw new UsageError(`--temperature must be positive, got ${temperature}`);
  const seed = num(f, 'seed');
  if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${seed}`);
  const task = taskType(f);
  const ev = await readEvalFile(createReadStream(dataPath), task ? { taskType: task } : {});
  for (const l of dataProblems(dataPath, ev.report)) process.stderr.write(`${l}\n`);
  const backend = await setupBackend(parseBackend(str(f, 'backend'), 'cpu'));
  const trainer = await restoreRun(runDir, str(f, 'student'), { baseDtype: baseDtypeOf(str(f, 'base-dtype'), backend.backend) });
  try {
    const t0 = performance.now();
    const common = {
      taskType: ev.taskType,
      limit: positiveInt(f, 'limit'),
      maxNewTokens: positiveInt(f, 'max-new-tokens'),
      batchSize: positiveInt(f, 'batch'),
    };
    const result = await trainer.evaluate(ev.items, {
      ...common,
      onProgress: (done, total) => {
        if (done === total) process.stderr.write(`eval ${done}/${total}\n`);
      },
    });
    let consistency: object | undefined;
    if (samples) {
      const c = await trainer.consistency(ev.items, {
        ...common,
        samples,
        temperature,
        seed,
        greedy: result,
        onProgress: (done, total) => {
          if (done === total) process.stderr.write(`sampled ${done}/${total}\n`);
        },
      });
      consistency = c;
    }
    const seconds = (performance.now() - t0) / 1000;
    io.out({
      accuracy: result.accuracy,
      correct: result.correct,
      total: result.total,
      seconds,
      taskType: ev.taskType,
      samples: result.samples.slice(0, 8),
      ...(consistency ? { consistency } : {}),
    });
  } finally {
    trainer.dispose();
  }
  return 0;
}
