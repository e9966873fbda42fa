// The folder `mcckd train` saves to: new, empty, or the run being resumed,
// and held by one train process at a time (checkpoint/runLock.ts). Anything
// else there (a model folder given as --out, an earlier run without --resume)
// is refused before a file is written.

import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './args';
import { CHECKPOINT_FILE } from '../checkpoint/runDir';
import { lockRunDir, runDirEntries, type RunDirLock } from '../checkpoint/runLock';

/** The same folder, however spelled (trailing slash, "..", a symlink). */
async function samePath(a: string, b: string): Promise<boolean> {
  const real = async (p: string): Promise<string> => realpath(p).catch(() => path.resolve(p));
  return (await real(a)) === (await real(b));
}

interface Claim {
  /** --out, or the --resume folder when no --out is given. */
  out: string;
  resume?: string;
  student?: string;
  adapter?: string;
}

/** Locks the run folder for this process, or refuses it naming the path. */
export async function claimRunFolder(c: Claim): Promise<RunDirLock> {
  for (const [flag, dir] of [
    ['--student', c.student],
    ['--adapter', c.adapter],
  ] as const)
    if (dir !== undefined && (await samePath(c.out, dir)))
      throw new UsageError(
        `--out ${c.out} is the ${flag} folder: a run saved there would replace its files; give a new folder for the run`,
      );
  const resuming = c.resume !== undefined && (await samePath(c.out, c.resume));
  const lock = await lockRunDir(c.out, { create: !resuming });
  try {
    const held = await runDirEntries(c.out);
    if (resuming || held.length === 0) return lock;
    if (held.includes(CHECKPOINT_FILE))
      throw new UsageError(
        `--out ${c.out} holds a saved run: continue it with --resume ${c.out}, or give a new folder (a new run never replaces a saved one)`,
      );
    const shown = held.sort().slice(0, 4).join(', ') + (held.length > 4 ? `, … (${held.length} entries)` : '');
    throw new UsageError(`--out ${c.out} is not empty (it holds ${shown}): a run folder must be new or empty; give a new folder`);
  } catch (e) {
    await lock.release();
    throw e;
  }
}
