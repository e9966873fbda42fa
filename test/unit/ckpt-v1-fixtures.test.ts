// Files written before pretrained students (test/fixtures/v1-run, by commit
// b96d5b8: a run directory, a weights-only file, an IndexedDB store dumped
// as JSON) load in today's code and resume exactly: a model config without
// `arch` is our GPT-2, a tokenizer is our BPE, no base is named.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRunDir, runBaseFolder } from '../../src/checkpoint/runDir';
import { safetensorsToState } from '../../src/checkpoint/format';
import { CheckpointStore } from '../../src/checkpoint/store';
import { Trainer } from '../../src/core/trainer';
import { fingerprintGroups } from '../../src/core/fingerprint';
import { readTeacherFile } from '../../src/data';
import type { TrainState } from '../../src/core/state';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/v1-run');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Restores `state` on the fixture's data (the same questions: same
 * fingerprint), trains 3 steps and compares with the losses the old code
 * computed right after saving. */
async function resumesAsTheOldCodeDid(state: TrainState): Promise<void> {
  const data = await readTeacherFile(createReadStream(path.join(DIR, 'teacher.jsonl')), { k: 3, seed: 1337, devFraction: 0 });
  expect(fingerprintGroups(data.groups)).toBe(state.datasetFingerprint);
  const t = await Trainer.restore(state, data.groups);
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) losses.push((await t.trainStep())!.loss);
  const { next } = JSON.parse(readFileSync(path.join(DIR, 'next-losses.json'), 'utf8')) as { next: number[] };
  losses.forEach((l, i) => expect(l).toBeCloseTo(next[i], 6));
  t.dispose();
}

describe('checkpoints written before pretrained students', () => {
  it('a v1 run directory loads, names no base, and resumes with the losses the old code computed', async () => {
    const state = await loadRunDir(path.join(DIR, 'rundir'));
    expect(state.modelConfig.arch).toBeUndefined();
    expect(state.base).toBeUndefined();
    expect(state.step).toBe(3);
    expect(state.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(await runBaseFolder(path.join(DIR, 'rundir'))).toBeUndefined();
    await resumesAsTheOldCodeDid(state);
  });

  it('a v1 weights-only file loads to the same weights', async () => {
    const full = await loadRunDir(path.join(DIR, 'rundir'));
    const { state, weightsOnly } = safetensorsToState(new Uint8Array(readFileSync(path.join(DIR, 'checkpoint-weights.safetensors'))));
    expect(weightsOnly).toBe(true);
    expect(Object.keys(state.params).sort()).toEqual(Object.keys(full.params).sort());
    for (const [n, p] of Object.entries(state.params)) expect(Array.from(p.data)).toEqual(Array.from(full.params[n].data));
    expect(state.tokenizer).toEqual(full.tokenizer);
  });
});

/** Recreates the dumped store as the old code laid it out (version 2: its
 * object stores, key paths and indexes), with its records. */
async function restoreDump(name: string): Promise<void> {
  const dump = JSON.parse(readFileSync(path.join(DIR, 'indexeddb.json'), 'utf8'), (_k, v: unknown) =>
    v && typeof v === 'object' && '$base64' in v ? new Uint8Array(Buffer.from((v as { $base64: string }).$base64, 'base64')).buffer : v,
  ) as { version: number; stores: Record<string, unknown[]> };
  expect(dump.version).toBe(2);
  const db: IDBDatabase = await new Promise((resolve, reject) => {
    const r = indexedDB.open(name, dump.version);
    r.onupgradeneeded = () => {
      const d = r.result;
      d.createObjectStore('runs', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
      d.createObjectStore('checkpoints', { keyPath: 'id' }).createIndex('byRun', 'runId');
      d.createObjectStore('blobs', { keyPath: 'checkpointId' });
      d.createObjectStore('metrics', { keyPath: ['runId', 'step'] });
      d.createObjectStore('datasets', { keyPath: 'fingerprint' });
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const tx = db.transaction(Object.keys(dump.stores), 'readwrite');
  for (const [store, rows] of Object.entries(dump.stores)) for (const row of rows) tx.objectStore(store).put(row);
  await new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}

describe('an IndexedDB store written before pretrained students', () => {
  it('opens, lists the run, and its checkpoint resumes with the losses the old code computed', async () => {
    await restoreDump('mcckd-v1-fixture');
    const store = await CheckpointStore.open('mcckd-v1-fixture');
    const runs = await store.listRuns();
    expect(runs.map((r) => r.name)).toEqual(['v1 fixture run']);
    // the dump stores the old word 'created'; it reads in today's words
    expect(runs[0].status).toBe('stopped');
    const [meta] = await store.listCheckpoints(runs[0].id);
    expect(meta.step).toBe(3);
    const state = await store.loadCheckpoint(meta.id);
    expect(state.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(state.base).toBeUndefined();
    await resumesAsTheOldCodeDid(state);
    store.close();
  });
});
