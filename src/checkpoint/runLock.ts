// One writer per CLI run directory (Node only). `mcckd train` holds
// DIR/train.lock while it may save there, so a second train on the same
// folder is refused instead of mixing its files with the first's.
//
// The lock file is made complete under a temporary name and then hard-linked
// to its final name: link() fails if the name exists, so exactly one process
// wins, and a reader never sees a half-written lock. It names its owner (pid,
// host); a lock whose process is gone (killed, machine restarted) is stale
// and is taken over. A lock from another host cannot be checked and is left
// to the person (the message says which file to delete).

import { unlinkSync, readFileSync } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { RunDirError } from './runDir';

export const LOCK_FILE = 'train.lock';

/** A held lock; release() is idempotent. */
export interface RunDirLock {
  readonly dir: string;
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  host: string;
}

function parseOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (Number.isSafeInteger(o.pid) && (o.pid as number) > 0 && typeof o.host === 'string') return { pid: o.pid as number, host: o.host };
  } catch {
    // not ours: reported below
  }
  return undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/** Takes DIR's lock, creating DIR (and its parents) when `create` and it is
 * missing. Refuses (RunDirError) when a live process holds it. */
export async function lockRunDir(dir: string, opts: { create: boolean }): Promise<RunDirLock> {
  const made = await ensureDir(dir, opts.create);
  const lockPath = path.join(dir, LOCK_FILE);
  const token = Math.random().toString(36).slice(2, 10);
  const mine = `${JSON.stringify({ pid: process.pid, host: hostname(), token, started: new Date().toISOString() })}\n`;
  const tmp = `${lockPath}.tmp-${process.pid}-${token}`;
  try {
    await writeFile(tmp, mine, { flag: 'wx' });
    await acquire(tmp, lockPath, mine);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (made) await removeMadeDirs(dir, made);
    throw e instanceof RunDirError ? e : new RunDirError(`cannot lock ${dir}: ${(e as Error).message}`);
  }
  await unlink(tmp).catch(() => undefined);
  // a second Ctrl-C exits at once: the lock must not outlive the process then either
  const onExit = (): void => {
    try {
      if (readFileSync(lockPath, 'utf8') === mine) unlinkSync(lockPath);
    } catch {
      // gone already
    }
  };
  process.on('exit', onExit);
  let held = true;
  return {
    dir,
    async release() {
      if (!held) return;
      held = false;
      process.off('exit', onExit);
      onExit();
      // a folder this lock made and nothing was saved into goes again
      if (made) await removeMadeDirs(dir, made);
    },
  };
}

/** The first folder mkdir made (undefined: DIR was there). */
async function ensureDir(dir: string, create: boolean): Promise<string | undefined> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new RunDirError(`${dir} is a file, not a run directory`);
    return undefined;
  } catch (e) {
    if (e instanceof RunDirError) throw e;
    if (!create) throw new RunDirError(`run directory ${dir} does not exist`);
  }
  try {
    return (await mkdir(dir, { recursive: true })) ?? undefined;
  } catch (e) {
    throw new RunDirError(`cannot create run directory ${dir}: ${(e as Error).message}`);
  }
}

/** Removes DIR and the parents made with it, as far as they are empty. */
async function removeMadeDirs(dir: string, first: string): Promise<void> {
  const stop = path.dirname(path.resolve(first));
  for (let d = path.resolve(dir); d !== stop && d !== path.dirname(d); d = path.dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return; // not empty: something was saved there
    }
  }
}

async function acquire(tmp: string, lockPath: string, mine: string): Promise<void> {
  const dir = path.dirname(lockPath);
  // each round either takes the lock, refuses, or removes one stale lock
  for (let round = 0; round < 8; round++) {
    try {
      await linkOrCreate(tmp, lockPath, mine);
      return;
    } catch (e) {
      if (code(e) !== 'EEXIST') throw e;
    }
    let text: string;
    try {
      text = await readFile(lockPath, 'utf8');
    } catch (e) {
      if (code(e) === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    const owner = parseOwner(text);
    if (!owner) throw new RunDirError(`${lockPath} is not a lock mcckd wrote: delete it if no mcckd train uses ${dir}`);
    if (owner.host !== hostname())
      throw new RunDirError(
        `${dir} is in use by mcckd train (pid ${owner.pid} on ${owner.host}); if that process has ended, delete ${lockPath}`,
      );
    if (processAlive(owner.pid))
      throw new RunDirError(
        `${dir} is in use by another mcckd train (pid ${owner.pid}): wait for it to end, or give another folder` +
          ` (if no such process runs, delete ${lockPath})`,
      );
    // Stale. Move it aside first and check that what moved is the lock we
    // judged: a process that took the stale lock over meanwhile has a new one.
    const aside = `${lockPath}.stale-${process.pid}-${round}`;
    try {
      await rename(lockPath, aside);
    } catch (e) {
      if (code(e) === 'ENOENT') continue;
      throw e;
    }
    const moved = await readFile(aside, 'utf8');
    if (moved !== text) await link(aside, lockPath).catch(() => undefined); // a fresh lock: put it back
    await unlink(aside);
  }
  throw new RunDirError(`could not take ${lockPath}: other processes keep taking it`);
}

/** link() where the file system has hard links; else an exclusive create,
 * whose short empty moment a reader sees as a foreign lock (and refuses). */
async function linkOrCreate(tmp: string, lockPath: string, mine: string): Promise<void> {
  try {
    await link(tmp, lockPath);
  } catch (e) {
    if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EOPNOTSUPP'].includes(code(e) ?? '')) throw e;
    const fh = await open(lockPath, 'wx');
    try {
      await fh.writeFile(mine);
    } finally {
      await fh.close();
    }
  }
}

/** Temporary files that only a writer of this folder makes: with the lock
 * held, any there are left over from a process that was killed. */
const LEFTOVER = /^(checkpoint\.safetensors|metrics\.jsonl|config\.json|eval\.json)\.tmp-\d+-[a-z0-9]+$/;
const LOCK_PART = /^train\.lock\.(tmp|stale)-(\d+)-[a-z0-9]+$/;

/** What DIR holds besides its lock, once the leftovers of killed writers are
 * removed. Call with the lock held. */
export async function runDirEntries(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    if (name === LOCK_FILE) continue;
    const lockPart = LOCK_PART.exec(name);
    if (LEFTOVER.test(name) || (lockPart && !processAlive(Number(lockPart[2])))) {
      await unlink(path.join(dir, name)).catch(() => undefined);
      continue;
    }
    if (lockPart) continue; // another process trying for the lock right now
    out.push(name);
  }
  return out;
}
