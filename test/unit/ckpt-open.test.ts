// Opening the store when another tab holds the database open at an older
// version and never lets go (no versionchange handler): the open request is
// "blocked" for as long as that tab lives. The store gives up after a
// deadline with a clear error (the worker then trains without checkpoints),
// a later open can try again, and our own connections never block others.
import 'fake-indexeddb/auto';
import { openDB, type IDBPDatabase } from 'idb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CheckpointStore, DB_NAME, DB_VERSION, StoreError } from '../../src/checkpoint/store';

const dbName = (): string => `ckpt-open-${Math.random().toString(36).slice(2)}`;

const held: IDBPDatabase[] = [];
const stores: CheckpointStore[] = [];
afterEach(() => {
  vi.useRealTimers();
  for (const d of held.splice(0)) d.close();
  for (const s of stores.splice(0)) s.close();
});

/** "Another tab" of an older app version: a connection at version 1 with no
 * versionchange handler, so it never closes on its own. */
async function oldTab(name: string): Promise<IDBPDatabase> {
  const d = await openDB(name, 1, {
    upgrade: (db) => {
      // version 1 of src/checkpoint/schema.ts
      db.createObjectStore('runs', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
      db.createObjectStore('checkpoints', { keyPath: 'id' }).createIndex('byRun', 'runId');
      db.createObjectStore('blobs', { keyPath: 'checkpointId' });
      db.createObjectStore('metrics', { keyPath: ['runId', 'step'] });
    },
  });
  held.push(d);
  return d;
}

/** Settles `p` or says it did not within `ms` (so a hang fails fast instead of
 * running into the test timeout). */
function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; hung?: true }> {
  return Promise.race([
    p.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    new Promise<{ hung: true }>((r) => setTimeout(() => r({ hung: true }), ms)),
  ]);
}

describe('opening the store while an older version is held open elsewhere', () => {
  it('gives up after the deadline with a clear StoreError, and a later open succeeds once the other tab lets go', async () => {
    const name = dbName();
    const blocker = await oldTab(name);
    const t0 = Date.now();
    const firstClosed: string[] = [];
    const r = await within(CheckpointStore.open(name, { openTimeoutMs: 300, onClose: (why) => firstClosed.push(why) }), 3000);
    const took = Date.now() - t0;
    expect(r.hung, 'the open must not hang while another tab blocks the upgrade').toBeUndefined();
    expect(r.error).toBeInstanceOf(StoreError);
    const e = r.error as StoreError;
    expect(e.code).toBe('version');
    expect(e.message).toMatch(/another tab/);
    expect(e.message).toMatch(/older version/);
    expect(e.message).toMatch(/close/);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2500);

    // The other tab goes away: the next attempt opens (and upgrades) the database.
    blocker.close();
    held.splice(held.indexOf(blocker), 1);
    const again = await within(CheckpointStore.open(name, { openTimeoutMs: 2000 }), 5000);
    expect(again.error).toBeUndefined();
    expect(again.hung).toBeUndefined();
    const store = again.value!;
    stores.push(store);
    expect(await store.listRuns()).toEqual([]);

    // The first, abandoned request also opened once unblocked: it must have
    // closed that connection itself at once (left open, it would be told to
    // close by the next upgrade and report it through onClose).
    store.close();
    let blocked = false;
    const next = await within(openDB(name, DB_VERSION + 1, { blocked: () => void (blocked = true) }), 3000);
    expect(blocked).toBe(false);
    expect(next.hung).toBeUndefined();
    next.value?.close();
    expect(firstClosed).toEqual([]);
  });

  it('once blocked, waits about 2 s however long the deadline (a tab that lets go does so at once), and says how long it waited', async () => {
    const name = dbName();
    await oldTab(name);
    const t0 = Date.now();
    const r = await within(CheckpointStore.open(name, { openTimeoutMs: 60_000 }), 10_000);
    const took = Date.now() - t0;
    expect(r.hung, 'a blocked open gives up after its grace, not the 60 s deadline').toBeUndefined();
    expect((r.error as StoreError).code).toBe('version');
    expect((r.error as StoreError).message).toMatch(/did not let go within 2 s/);
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(8000);
  });

  it('a slow open without a blocked event still ends at the deadline (unavailable, not a hang)', async () => {
    const name = dbName();
    // An upgrade that is itself blocked: a request queued behind it waits
    // without a blocked event of its own.
    const blocker = await oldTab(name);
    const first = CheckpointStore.open(name, { openTimeoutMs: 200 });
    first.catch(() => undefined);
    const second = await within(CheckpointStore.open(name, { openTimeoutMs: 400 }), 3000);
    expect(second.hung).toBeUndefined();
    expect(second.error).toBeInstanceOf(StoreError);
    expect(['version', 'unavailable']).toContain((second.error as StoreError).code);
    expect((second.error as StoreError).message).toMatch(/another tab/);
    await first.catch(() => undefined);
    blocker.close();
  });
});

describe('our own connection never blocks a newer version', () => {
  it('closes itself on versionchange and says why', async () => {
    const name = dbName();
    const reasons: string[] = [];
    const store = await CheckpointStore.open(name, { onClose: (r) => reasons.push(r) });
    stores.push(store);
    let blocked = false;
    const newer = await within(openDB(name, DB_VERSION + 1, { blocked: () => void (blocked = true) }), 3000);
    expect(newer.hung).toBeUndefined();
    expect(blocked).toBe(false);
    newer.value?.close();
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/newer version/);
    await expect(store.listRuns()).rejects.toMatchObject({ name: 'StoreError', code: 'closed' });
  });
});

describe("the worker's store handle (StoreHandle.open)", () => {
  it('rejects 2 s after the open is blocked (the default deadline is 10 s), so a run starts without checkpoints, and tries again on the next call', async () => {
    vi.resetModules();
    const { StoreHandle } = await import('../../src/worker/checkpoints');
    const handle = new StoreHandle();
    const openStore = () => handle.open();
    const blocker = await oldTab(DB_NAME);
    // Only setTimeout is faked: fake-indexeddb schedules with setImmediate.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const first = openStore();
    const settled = first.then(
      () => 'opened',
      (e: unknown) => e,
    );
    // fake time jumps ahead at once: let fake-indexeddb's real tasks (the
    // versionchange and blocked events) run first
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    await vi.advanceTimersByTimeAsync(1_500);
    expect(await Promise.race([settled, Promise.resolve('pending')])).toBe('pending');
    await vi.advanceTimersByTimeAsync(1_000);
    const e = await Promise.race([settled, Promise.resolve('pending')]);
    // a fresh module graph: its own StoreError class, the same name and code
    expect(e).toMatchObject({ name: 'StoreError', code: 'version' });
    // what runs.ts shows: "checkpoints are off for this run: <message>"
    expect((e as Error).message).toMatch(/another tab.*older version.*close/s);
    vi.useRealTimers();

    blocker.close();
    held.splice(held.indexOf(blocker), 1);
    const store = await within(openStore(), 5000);
    expect(store.error).toBeUndefined();
    expect(store.hung).toBeUndefined();
    expect(await store.value!.listRuns()).toEqual([]);
    store.value!.close();
  });
});
