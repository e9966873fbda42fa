// The folder `mcckd train --out` saves to (issue 22, defect 1): a model
// folder or an earlier run given as --out once lost its files; two train
// processes on one folder mixed theirs; an eval.json of an earlier
// checkpoint was shown on a later model's card. Now a run folder is new,
// empty or the run resumed, one process holds it, and eval.json names its
// checkpoint.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRun, runFacts, saveRunDir, saveRunEval } from '../../src/checkpoint/runDir';
import { LOCK_FILE, lockRunDir } from '../../src/checkpoint/runLock';
import { lastLine, mcckd, writePensData } from '../../support/cli';
import { tinyState } from './ckpt-fixtures';

const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-run-folder-'));
const at = (...p: string[]): string => path.join(dir, ...p);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const data = at('pens.jsonl');
writePensData(data);
const TINY = ['--data', data, '--preset', 'tiny', '--vocab-size', '300', '--batch', '2', '--backend', 'cpu'];

/** Every file under `d`, name → bytes (to see that a refusal changed nothing). */
const snapshot = (d: string): Map<string, string> =>
  new Map(readdirSync(d).map((n) => [n, readFileSync(path.join(d, n)).toString('base64')]));

const lockError = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'taken',
    (e: unknown) => (e as Error).message,
  );

describe('the run folder lock', () => {
  it('keeps a second holder out while the first lives, and takes over the lock of a process that is gone', async () => {
    const d = at('locked');
    const first = await lockRunDir(d, { create: true });
    expect(await lockError(lockRunDir(d, { create: true }))).toBe(
      `${d} is in use by another mcckd train (pid ${process.pid}): wait for it to end, or give another folder (if no such process runs, delete ${path.join(d, LOCK_FILE)})`,
    );
    await first.release();
    expect(existsSync(d)).toBe(false); // made by the lock, nothing saved: gone again

    // a process that has exited: its lock is stale
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    mkdirSync(d);
    writeFileSync(path.join(d, LOCK_FILE), JSON.stringify({ pid: gone, host: (await import('node:os')).hostname() }));
    const again = await lockRunDir(d, { create: true });
    expect(JSON.parse(readFileSync(path.join(d, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await again.release();
    expect(readdirSync(d)).toEqual([]); // the folder was there before: kept, without the lock

    writeFileSync(path.join(d, LOCK_FILE), 'garbage');
    expect(await lockError(lockRunDir(d, { create: true }))).toMatch(
      /train\.lock is not a lock mcckd wrote: delete it if no mcckd train uses/,
    );
    expect(await lockError(lockRunDir(at('missing'), { create: false }))).toBe(`run directory ${at('missing')} does not exist`);
  });
});

describe('eval.json', () => {
  it('belongs to the checkpoint it measured: a model card of a later checkpoint leaves it out', async () => {
    const d = at('evaluated');
    const saved = await saveRunDir(d, tinyState({ step: 5 }));
    await saveRunEval(d, { accuracy: 0.99, correct: 99, total: 100, file: 'test.jsonl' }, saved);
    const { checkpoint } = await loadRun(d);
    expect(checkpoint).toEqual({ step: 5, checksum: saved.checksum });
    expect((await runFacts(d, checkpoint)).evaluation).toEqual({ accuracy: 0.99, correct: 99, total: 100, file: 'test.jsonl' });

    // a new checkpoint (trained on, or another run's step 5): the old result is not its
    for (const later of [tinyState({ step: 6 }), tinyState({ step: 5, seed: 2 })]) {
      await saveRunDir(d, later);
      expect((await runFacts(d, (await loadRun(d)).checkpoint)).evaluation).toBeUndefined();
    }
    // an eval.json that names no checkpoint (written before it did) proves nothing either
    writeFileSync(path.join(d, 'eval.json'), JSON.stringify({ accuracy: 0.99, correct: 99, total: 100 }));
    expect((await runFacts(d, (await loadRun(d)).checkpoint)).evaluation).toBeUndefined();
  });
});

describe('mcckd train --out', () => {
  it('refuses the --student folder, a folder with other files and an earlier run, naming the path and changing nothing', async () => {
    const model = at('model');
    mkdirSync(model);
    writeFileSync(path.join(model, 'config.json'), '{"architectures": ["LlamaForCausalLM"]}');
    writeFileSync(path.join(model, 'model.safetensors'), 'weights');
    const before = snapshot(model);
    const asStudent = await mcckd(['train', ...TINY, '--student', model, '--out', `${model}/`]);
    expect(asStudent.code).toBe(2);
    expect(lastLine(asStudent.stderr)).toBe(
      `mcckd: --out ${model}/ is the --student folder: a run saved there would replace its files; give a new folder for the run`,
    );
    const other = await mcckd(['train', ...TINY, '--out', model]);
    expect(other.code).toBe(2);
    expect(lastLine(other.stderr)).toBe(
      `mcckd: --out ${model} is not empty (it holds config.json, model.safetensors): a run folder must be new or empty; give a new folder`,
    );
    expect(snapshot(model)).toEqual(before);

    const run = at('earlier');
    await saveRunDir(run, tinyState());
    const saved = snapshot(run);
    const over = await mcckd(['train', ...TINY, '--steps', '1', '--out', run]);
    expect(over.code).toBe(2);
    expect(lastLine(over.stderr)).toBe(
      `mcckd: --out ${run} holds a saved run: continue it with --resume ${run}, or give a new folder (a new run never replaces a saved one)`,
    );
    expect(snapshot(run)).toEqual(saved);
  });

  it('refuses a folder that another live process holds', async () => {
    const d = at('busy');
    const held = await lockRunDir(d, { create: true });
    try {
      const r = await mcckd(['train', ...TINY, '--steps', '1', '--out', d]);
      expect(r.code).toBe(1);
      expect(lastLine(r.stderr)).toMatch(`mcckd: ${d} is in use by another mcckd train (pid ${process.pid})`);
      expect(readdirSync(d)).toEqual([LOCK_FILE]);
    } finally {
      await held.release();
    }
  });

  it('trains into a new folder; eval.json names the checkpoint it measured; the lock is gone after', async () => {
    const run = at('new', 'run');
    const r = await mcckd(['train', ...TINY, '--steps', '1', '--out', run, '--eval-limit', '1', '--max-new-tokens', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(run).sort()).toEqual(['checkpoint.safetensors', 'config.json', 'eval.json', 'metrics.jsonl']);
    const { checkpoint } = await loadRun(run);
    const ev = JSON.parse(readFileSync(path.join(run, 'eval.json'), 'utf8')) as { checkpoint: unknown; total: number };
    expect(ev.checkpoint).toEqual({ file: 'checkpoint.safetensors', ...checkpoint });
    expect((await runFacts(run, checkpoint)).evaluation?.total).toBe(ev.total);
  });
});
