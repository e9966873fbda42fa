// A FIFO (or another non-regular file) given as --student or --adapter is
// refused by what it is, without opening it: opening a FIFO for reading
// blocks until a writer comes, and the CLI would hang (issue 22, defect 11).
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { refusal } from './refusal';
import { adapterFrom, studentFrom } from '../../src/cli/student';
import type { PretrainedStudent } from '../../src/core/inference';

const tmp = mkdtempSync(path.join(tmpdir(), 'cli-fifo-'));
const fifo = path.join(tmp, 'model.pipe');
const made = spawnSync('mkfifo', [fifo]).status === 0;
if (!made) console.warn('cli-fifo: skipped, mkfifo is not available here');

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Should a reader block on the FIFO (the defect), a writer opened without
// blocking releases it, so that the failing test ends instead of holding a
// thread of the process forever.
afterEach(() => {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // no reader waiting: nothing to release
  }
});

describe.skipIf(!made)('a FIFO as a model or adapter folder', () => {
  it('--student FIFO is refused as not a regular file or folder', { timeout: 10_000 }, async () => {
    const e = await refusal(studentFrom(fifo));
    expect(e.message).toMatch(/--student .*model\.pipe is a FIFO.*not a folder/);
  });

  it('--adapter FIFO is refused as not a regular file or folder', { timeout: 10_000 }, async () => {
    const e = await refusal(adapterFrom(fifo, {} as PretrainedStudent));
    expect(e.message).toMatch(/--adapter .*model\.pipe is a FIFO.*not a folder/);
  });
});
