// `mcckd import --adapter DIR --student DIR --out RUN`: the loop back of the
// recipe (issue 27). A PEFT adapter folder, as train_mcckd.py writes it
// (adapter files, metrics.jsonl, recipe.yaml with the settings it used),
// becomes an mcckd run folder on its base: `eval`, `score/generate --run`,
// `export` and `train --resume` read it, and the page imports its
// checkpoint.safetensors. One JSON line on stdout: the run written.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, str, UsageError } from './args';
import { IMPORT_FLAGS } from './flags';
import { adapterFrom, studentFolder } from './student';
import { claimRunFolder } from './run-folder';
import { parseMetricsJsonl, saveRunDir } from '../checkpoint/runDir';
import { recipeRunState } from '../export/recipe';

/** A file of the adapter folder, or undefined when it is not there. */
async function optional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function runImport(argv: string[]): Promise<number> {
  const f = parseFlags(argv, IMPORT_FLAGS);
  const adapterDir = str(f, 'adapter');
  const studentDir = str(f, 'student');
  const out = str(f, 'out');
  if (!adapterDir) throw new UsageError('--adapter DIR is required: the folder train_mcckd.py wrote (--output-dir)');
  if (!studentDir) throw new UsageError('--student DIR is required: the base model folder the adapter was trained on');
  if (!out) throw new UsageError('--out DIR is required: the new run folder');
  const lock = await claimRunFolder({ out, student: studentDir, adapter: adapterDir });
  try {
    const { student } = await studentFolder(studentDir);
    const adapter = await adapterFrom(adapterDir, student);
    const yaml = await optional(path.join(adapterDir, 'recipe.yaml'));
    let settings: Record<string, unknown> = {};
    if (yaml !== undefined) {
      try {
        // JSON (YAML 1.2's subset), as the recipe writes it, after any '#' comment lines
        settings = JSON.parse(
          yaml
            .split('\n')
            .filter((l) => !l.trimStart().startsWith('#'))
            .join('\n'),
        ) as Record<string, unknown>;
      } catch (e) {
        throw new UsageError(`--adapter ${adapterDir}: recipe.yaml is not the recipe's JSON: ${(e as Error).message}`);
      }
    }
    const warnings: string[] = [];
    const text = await optional(path.join(adapterDir, 'metrics.jsonl'));
    const metrics = text === undefined ? [] : parseMetricsJsonl(text, (w) => warnings.push(w));
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    let state: ReturnType<typeof recipeRunState>;
    try {
      state = recipeRunState(student, adapter, settings, metrics);
    } catch (e) {
      throw new UsageError(`--adapter ${adapterDir}: ${(e as Error).message}`);
    }
    // Embedded in the checkpoint as well as in metrics.jsonl: the page's Import
    // takes one file (no second pick of metrics.jsonl, no change to its
    // controls), and the metrics travel with the checkpoint wherever it goes.
    const saved = await saveRunDir(out, state, { baseFolder: path.resolve(studentDir), embedMetrics: true });
    process.stdout.write(
      `${JSON.stringify({ out: path.resolve(out), step: state.step, metrics: metrics.length, settings: yaml !== undefined, checkpoint: saved.checkpointPath })}\n`,
    );
    return 0;
  } finally {
    await lock.release();
  }
}
