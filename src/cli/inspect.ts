// `mcckd inspect --data FILE [--eval] [--k K] [--task T] ...`: reads and
// curates a teacher (or evaluation) file exactly as training would, and
// prints the data report as one JSON object on stdout.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { DataError, readEvalFile, readTeacherFile, type DataReport } from '../data/index';
import { num, parseFlags, positiveInt, str, taskType, UsageError } from './args';

export async function runInspect(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    data: 'string',
    eval: 'boolean',
    k: 'number',
    task: 'string',
    seed: 'number',
    ngram: 'number',
    similarity: 'number',
    'dev-fraction': 'number',
    'no-filter': 'boolean',
  });
  const file = str(flags, 'data');
  if (!file) throw new UsageError('inspect needs --data FILE');
  const task = taskType(flags);
  const info = await stat(file).catch(() => {
    throw new DataError(`cannot read ${file}: no such file`);
  });
  if (!info.isFile()) throw new DataError(`cannot read ${file}: not a file`);

  let report: DataReport;
  try {
    if (flags.eval) {
      report = (await readEvalFile(createReadStream(file), { taskType: task })).report;
    } else {
      const similarity = num(flags, 'similarity');
      const devFraction = num(flags, 'dev-fraction');
      const seed = num(flags, 'seed');
      if (similarity !== undefined && !(similarity > 0 && similarity <= 1)) throw new UsageError('--similarity must be in (0, 1]');
      if (devFraction !== undefined && !(devFraction >= 0 && devFraction < 1)) throw new UsageError('--dev-fraction must be in [0, 1)');
      report = (
        await readTeacherFile(createReadStream(file), {
          k: positiveInt(flags, 'k'),
          ngram: positiveInt(flags, 'ngram'),
          similarityThreshold: similarity,
          devFraction,
          seed,
          taskType: task,
          filterCorrect: flags['no-filter'] !== true,
        })
      ).report;
    }
  } catch (err) {
    // A refused file still shows what was read before the one-line reason.
    if (err instanceof DataError && err.report) process.stdout.write(`${JSON.stringify(err.report)}\n`);
    throw err;
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  return 0;
}
