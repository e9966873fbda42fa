// `mcckd eval`: load a saved run and report accuracy on an evaluation file.

import { createReadStream } from 'node:fs';
import { parseFlags, str, positiveInt, taskType, UsageError } from './args';
import { parseBackend, setupBackend } from './setup';
import { readEvalFile } from '../data';
import { restoreRun } from './student';

const SPEC = { run: 'string', data: 'string', limit: 'number', backend: 'string', 'max-new-tokens': 'number', task: 'string', student: 'string' } as const;

export async function runEval(argv: string[]): Promise<number> {
  const f = parseFlags(argv, SPEC);
  const runDir = str(f, 'run');
  const dataPath = str(f, 'data');
  if (!runDir) throw new UsageError('--run DIR is required');
  if (!dataPath) throw new UsageError('--data FILE is required');
  const task = taskType(f);
  const ev = await readEvalFile(createReadStream(dataPath), task ? { taskType: task } : {});
  await setupBackend(parseBackend(str(f, 'backend'), 'cpu'));
  const trainer = await restoreRun(runDir, str(f, 'student'));
  const t0 = performance.now();
  const result = await trainer.evaluate(ev.items, {
    taskType: ev.taskType,
    limit: positiveInt(f, 'limit'),
    maxNewTokens: positiveInt(f, 'max-new-tokens'),
    onProgress: (done, total) => { if (done % 25 === 0 || done === total) process.stderr.write(`eval ${done}/${total}\n`); },
  });
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ accuracy: result.accuracy, correct: result.correct, total: result.total, seconds, taskType: ev.taskType, samples: result.samples.slice(0, 8) })}\n`);
  trainer.dispose();
  return 0;
}
