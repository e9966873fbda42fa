// Fixtures made once and kept, keyed by the code that makes them: a folder
// under the system's temp dir named by the SHA-256 of the maker's source
// files and its arguments. Change a maker (or its arguments) and the key
// changes, so a stale fixture is never used. Test files that need the same
// fixture (the tiny Hugging Face models of scripts/hf) copy it instead of
// making it again, each into a folder of its own (a test may write there).
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const CACHE = path.join(tmpdir(), 'mcckd-test-fixtures');
const COMPLETE = '.complete';

/** The key of a fixture: its makers' sources (files) and its arguments. */
export function fixtureKey(files: string[], args: unknown): string {
  const h = createHash('sha256');
  for (const f of files) h.update(path.basename(f)).update('\0').update(readFileSync(f)).update('\0');
  h.update(JSON.stringify(args));
  return h.digest('hex').slice(0, 24);
}

/** Copies the fixture `key` into `dest`, making it first with `make(dir)`
 * (into a folder that does not exist yet) when it is not kept. Processes
 * that make it at the same time all succeed; the first one's is kept. */
export function cachedFixture(key: string, dest: string, make: (dir: string) => void): void {
  const kept = path.join(CACHE, key);
  if (!existsSync(path.join(kept, COMPLETE))) {
    mkdirSync(CACHE, { recursive: true });
    const work = mkdtempSync(path.join(CACHE, `${key}.making-`)); // beside it: rename is atomic
    try {
      const out = path.join(work, 'out');
      make(out);
      writeFileSync(path.join(out, COMPLETE), key);
      try {
        renameSync(out, kept); // only complete folders are ever renamed there
      } catch {
        // another process kept its copy first
      }
      if (!existsSync(path.join(kept, COMPLETE))) {
        cpSync(out, dest, { recursive: true, filter: (src) => path.basename(src) !== COMPLETE });
        return;
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  cpSync(kept, dest, { recursive: true, filter: (src) => path.basename(src) !== COMPLETE });
}
