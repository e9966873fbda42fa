// `mcckd inspect --data FILE [--eval] [--k K] [--task T] ... [--write OUT]`:
// reads and curates a teacher (or evaluation) file exactly as training would,
// and prints the data report as one JSON object on stdout. --write also
// writes the curated training set as JSON Lines (src/data/curated.ts).

import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { curatedJsonl } from '../data/curated';
import { DataError, readEvalFile, readTeacherFile, type DataReport, type ReadOptions } from '../data/index';
import { num, parseFlags, positiveInt, str, taskType, unreadableOf, UsageError } from './args';
import { INSPECT_FLAGS } from './flags';

export async function runInspect(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, INSPECT_FLAGS);
  const file = str(flags, 'data');
  if (!file) throw new UsageError('inspect needs --data FILE');
  const task = taskType(flags);
  const out = str(flags, 'write');
  if (flags.write !== undefined && !out) throw new UsageError('--write needs a file name');
  if (out && flags.eval) throw new UsageError('--write writes the curated training set of a teacher file; it cannot be used with --eval');
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
      const opts: ReadOptions = {
        k: positiveInt(flags, 'k'),
        ngram: positiveInt(flags, 'ngram'),
        similarityThreshold: similarity,
        devFraction,
        seed,
        taskType: task,
        filterCorrect: flags['no-filter'] !== true,
        unreadable: unreadableOf(flags),
      };
      const read = await readTeacherFile(createReadStream(file), opts);
      report = read.report;
      if (out) {
        // The dev questions' rationales are not in `read` (training never
        // sees them); a second read without a split has every kept question
        // with its rationales, in the same order, curated the same way.
        const all = await readTeacherFile(createReadStream(file), { ...opts, devFraction: 0 });
        const text = curatedJsonl({ groups: all.groups, dev: read.dev, taskType: read.taskType });
        await writeFile(out, text, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
          throw new DataError(
            e.code === 'EEXIST'
              ? `cannot write ${out}: the file exists (choose another name or remove it)`
              : `cannot write ${out}: ${e.message}`,
          );
        });
        process.stderr.write(
          `wrote ${out}: ${all.groups.length} questions (${read.groups.length} train, ${read.dev.length} dev), ${report.rationalesKept} rationales\n`,
        );
      }
    }
  } catch (err) {
    // A refused file still shows what was read before the one-line reason.
    if (err instanceof DataError && err.report) process.stdout.write(`${JSON.stringify(err.report)}\n`);
    throw err;
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  return 0;
}
