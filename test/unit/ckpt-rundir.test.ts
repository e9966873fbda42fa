import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunDirError, loadRunDir, parseMetricsJsonl, saveRunDir } from '../../src/checkpoint/runDir';
import { dataStart, expectSameTensors, metric, tinyState } from './ckpt-fixtures';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'ckpt-rundir-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
let n = 0;
const dirName = (): string => path.join(root, `run-${++n}`, 'nested');

async function errorOf(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RunDirError);
  return e as Error;
}

describe('run directories', () => {
  it('round-trips a TrainState with its metrics (NaN losses included)', async () => {
    const dir = dirName();
    const state = tinyState({ step: 3, metrics: [metric(1), metric(2, NaN), metric(3)] });
    const { bytes } = await saveRunDir(dir, state);
    expect((await readdir(dir)).sort()).toEqual(['checkpoint.safetensors', 'config.json', 'metrics.jsonl']);
    const warnings: string[] = [];
    const back = await loadRunDir(dir, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    expectSameTensors(back.params, state.params);
    expectSameTensors(back.optimizer.m, state.optimizer.m);
    expect(back.metrics).toHaveLength(3);
    expect(back.metrics[1].loss).toBeNaN();
    expect(back.metrics[2]).toEqual(metric(3));
    expect({ ...back, params: 0, optimizer: 0, metrics: 0 }).toEqual({ ...state, params: 0, optimizer: 0, metrics: 0 });
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      format: 'mcckd-run/1',
      step: 3,
      modelConfig: state.modelConfig,
      checkpoint: { bytes, weightsOnly: false },
    });
  });

  it('overwrites an earlier save and leaves no temporary files', async () => {
    const dir = dirName();
    await saveRunDir(dir, tinyState({ step: 1, seed: 1 }));
    await saveRunDir(dir, tinyState({ step: 2, seed: 2 }));
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const back = await loadRunDir(dir);
    expect(back.step).toBe(2);
    expectSameTensors(back.params, tinyState({ seed: 2 }).params);
  });

  it('a failed write says which file, cleans up, and keeps the files already saved', async () => {
    const dir = dirName();
    await saveRunDir(dir, tinyState({ step: 1 }));
    // config.json replaced by a directory: the rename over it must fail.
    await rm(path.join(dir, 'config.json'));
    await mkdir(path.join(dir, 'config.json', 'blocker'), { recursive: true });
    const e = await errorOf(saveRunDir(dir, tinyState({ step: 2 })));
    expect(e.message).toMatch(/could not write .*config\.json: .*\(the previous version, if any, is unchanged\)/);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect((await loadRunDir(dir)).step).toBe(2);
  });

  it('drops metric points after the checkpoint and keeps good lines around bad ones', async () => {
    const dir = dirName();
    await saveRunDir(dir, tinyState({ step: 3 }));
    const lines = [metric(1), metric(2), metric(3), metric(4)].map((m) => JSON.stringify(m));
    lines.splice(
      1,
      0,
      '{"step": 1.5, "loss": 1}',
      'not json',
      '{"step": 2, "loss": "x", "ce": 1, "kl": 0, "lr": 0, "tokensPerSecond": 0, "time": 0}',
    );
    await writeFile(path.join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n{"step": 5, "lo`);
    const warnings: string[] = [];
    const back = await loadRunDir(dir, { onWarning: (m) => warnings.push(m) });
    expect(back.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatch(/metrics\.jsonl line 2: expected an object with an integer "step"/);
    expect(warnings[1]).toMatch(/line 3: not valid JSON/);
    expect(warnings[2]).toMatch(/line 4: "loss" must be a number/);
    expect(warnings[3]).toMatch(/line 8: not valid JSON/);
    expect(parseMetricsJsonl('', () => undefined)).toEqual([]);
  });

  it('clear errors for missing and damaged directories', async () => {
    const missing = path.join(root, 'nope');
    expect((await errorOf(loadRunDir(missing))).message).toBe(`run directory ${missing} does not exist`);
    const empty = path.join(root, 'empty');
    await mkdir(empty);
    expect((await errorOf(loadRunDir(empty))).message).toMatch(/has no checkpoint\.safetensors: not a run directory/);
    const file = path.join(empty, 'plain.txt');
    await writeFile(file, 'x');
    expect((await errorOf(loadRunDir(file))).message).toMatch(/is not a directory/);

    const dir = dirName();
    await saveRunDir(dir, tinyState());
    const ckpt = path.join(dir, 'checkpoint.safetensors');
    const bytes = new Uint8Array(await readFile(ckpt));
    bytes[dataStart(bytes) + 50] ^= 4;
    await writeFile(ckpt, bytes);
    expect((await errorOf(loadRunDir(dir))).message).toMatch(/checkpoint\.safetensors is damaged: checksum mismatch/);
    await writeFile(ckpt, bytes.subarray(0, 1000));
    expect((await errorOf(loadRunDir(dir))).message).toMatch(/is damaged: .*file truncated/);
  });

  it('a weights-only run dir loads with fresh optimizer state', async () => {
    const dir = dirName();
    await saveRunDir(dir, tinyState({ step: 4 }), { weightsOnly: true });
    const back = await loadRunDir(dir, { onWarning: () => undefined });
    expect(back.step).toBe(4);
    expect(back.optimizer.step).toBe(0);
    expectSameTensors(back.params, tinyState().params);
  });
});
