// A test fixture: a tiny GGUF teacher that writes demo-style rationales.
// Our from-scratch student (tiny preset, wasm backend) trained a few hundred
// steps on public/demo/train.jsonl by `mcckd train`, written out by
// `mcckd export --format gguf`, i.e. made exactly as a user makes one. It
// answers a share of the demo's questions right and the rest wrong, in the
// demo's words, which is what the teach tests want: real rationales that
// curation keeps or drops.
//
// Kept under test-artifacts/teacher-gguf/ by a key of everything it depends
// on (the data file, the recipe, the sources of the CLI's train and export
// paths), so one test run builds it at most once and later runs reuse it.
// Test files that ask at the same time wait for one builder: a lock file
// made with O_EXCL holds the builder's pid (a dead builder's lock is taken
// over), and the file appears by an atomic rename, whole or not at all.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin/mcckd.js');
const DIR = path.join(ROOT, 'test-artifacts/teacher-gguf');

/** The recipe: measured so that the teacher answers a fair share of the
 * demo's test questions right for little time (see the README's teach note). */
export const TEACHER_RECIPE = {
  data: 'public/demo/train.jsonl',
  args: ['--preset', 'tiny', '--steps', '400', '--batch', '8', '--lr', '0.01', '--backend', 'wasm', '--seed', '1337'],
} as const;

// What the file depends on: the CLI's train and export code and below
// (all of src/cli but the teach command, which the tests that use this
// fixture change most and which neither train nor export runs).
const SOURCE_DIRS = ['src/shared', 'src/data', 'src/core', 'src/checkpoint', 'src/export', 'src/cli'];
const NOT_DEPENDED_ON = new Set(['src/cli/teach.ts']);

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** The key: a hash of the recipe, the data and the sources. */
export function teacherKey(): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(TEACHER_RECIPE));
  const sources = SOURCE_DIRS.flatMap((d) => listFiles(path.join(ROOT, d))).filter((f) => !NOT_DEPENDED_ON.has(path.relative(ROOT, f)));
  const files = [path.join(ROOT, TEACHER_RECIPE.data), BIN, ...sources];
  for (const f of files) h.update(path.relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 20);
}

function mcckd(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20 }, (err, _out, stderr) =>
      err ? reject(new Error(`mcckd ${args.join(' ')} failed: ${stderr.trim().split('\n').slice(-3).join(' / ')}`)) : resolve(),
    );
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes the lock, or returns false when a live process holds it. */
function tryLock(lock: string): boolean {
  try {
    const fd = openSync(lock, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let pid = Number.NaN;
  try {
    pid = Number(readFileSync(lock, 'utf8'));
  } catch {
    return false; // just released: try again on the next poll
  }
  // A lock whose pid is not written yet is young; a dead builder's is stale.
  const young = Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs < 5_000;
  if (Number.isInteger(pid) && pid > 0 ? !alive(pid) : !young) rmSync(lock, { force: true });
  return false;
}

async function build(file: string): Promise<void> {
  const work = mkdtempSync(path.join(DIR, 'build-'));
  try {
    const run = path.join(work, 'run');
    // --eval-limit 1: the final evaluation of the held-out split is not what we want here.
    await mcckd(['train', '--data', TEACHER_RECIPE.data, ...TEACHER_RECIPE.args, '--out', run, '--eval-limit', '1', '--log-every', '1000']);
    await mcckd(['export', '--run', run, '--format', 'gguf', '--out', path.join(work, 'teacher.gguf')]);
    renameSync(path.join(work, 'teacher.gguf'), file); // atomic: the file is whole or absent
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The teacher's GGUF path, built on first use (about a minute and a half
 * of one core; see TEACHER_RECIPE) and reused while its key holds. */
export async function teacherGguf(): Promise<string> {
  mkdirSync(DIR, { recursive: true });
  const key = teacherKey();
  const file = path.join(DIR, `demo-teacher-${key}.gguf`);
  const lock = `${file}.lock`;
  const until = Date.now() + 15 * 60_000;
  while (!existsSync(file)) {
    if (tryLock(lock)) {
      try {
        if (!existsSync(file)) await build(file);
      } finally {
        unlinkSync(lock);
      }
      break;
    }
    if (Date.now() > until) throw new Error(`teacherGguf: waited 15 minutes for ${lock}; remove it if no test is running`);
    await new Promise((r) => setTimeout(r, 300));
  }
  return file;
}
