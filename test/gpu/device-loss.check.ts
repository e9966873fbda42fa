// A lost WebGPU device, on WebGPU itself (Dawn in Node): train, keep a
// checkpoint, lose the device on purpose (loseDeviceForTest: device.destroy()),
// see the loss detected and the next step fail, set the backend up again
// (recreateBackend) and resume from the checkpoint. Run in its own process
// (Dawn needs LD_LIBRARY_PATH from process start) by
// test/unit/device-loss.test.ts; prints one JSON Report line.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '../../src/cli/setup';
import {
  BackendLostError,
  backendErrors,
  guardBackendLoss,
  backendLost,
  loseDeviceForTest,
  onBackendLost,
  recreateBackend,
  setBackend,
  waitForBackendLoss,
  type BackendInfo,
  type BackendLoss,
} from '../../src/core/backend';
import { Trainer } from '../../src/core/trainer';
import { toyGroups, tinyConfig } from '../unit/core-helpers';

const MODEL = { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 };

export interface Report {
  backend: string;
  /** Losses of steps 1..3 before the loss of the device. */
  before: number[];
  /** What loseDeviceForTest returned. */
  lostBackend: string;
  /** What onBackendLost's listener got, in order (during the whole run). */
  events: BackendLoss[];
  /** How a trainStep on the lost device fails (unguarded, after the guarded one). */
  stepError: { name: string; ctor: string; message: string; isDOMException: boolean };
  /** backendLost() right after that failure, and after waitForBackendLoss. */
  lostRightAfterFailure?: BackendLoss;
  lostAfterWait?: BackendLoss;
  /** guardBackendLoss(() => trainer.trainStep()), the first step after the
   * loss; cause: what the step itself threw, absent when the loss was
   * reported while the step was still pending. */
  guarded: { name: string; message: string; isBackendLostError: boolean; cause?: ReturnType<typeof errInfo> };
  /** How guardBackendLoss(() => trainer.snapshot()) (a save) fails on the lost device. */
  snapshotError: { name: string; message: string };
  /** Whether disposing the old trainer on the dead backend threw, and the
   * tensor counts: before the first trainer, with it live, after its dispose. */
  disposeError?: string;
  tensors: { baseline: number; live: number; afterDispose: number };
  recreated: BackendInfo;
  lostAfterRecreate?: BackendLoss;
  /** Step 3 again, on the new device, from the step-2 snapshot. */
  replayedStep3: number;
  /** Steps 4..7 after the replay, and tf.memory().numTensors after each. */
  after: number[];
  tensorsAfterSteps: number[];
  /** A validation error provoked on the new device: reported by
   * backendErrors(), not a loss. */
  errors?: { backend: string; first: string; count: number };
  lostAfterError?: BackendLoss;
  /** Deliberate removals (recreateBackend on a healthy device, a switch to
   * cpu and back) must not be reported: the events' count after them. */
  eventsAfterDeliberate: number;
  deliberateBackend: string;
  disposeAfterRecreateError?: string;
  ms: number;
}

const errInfo = (e: unknown): { name: string; ctor: string; message: string; isDOMException: boolean } => ({
  name: (e as Error)?.name ?? typeof e,
  ctor: (e as object)?.constructor?.name ?? typeof e,
  message: String((e as Error)?.message ?? e),
  isDOMException: typeof DOMException !== 'undefined' && e instanceof DOMException,
});

let stage = 'start';
const log = (m: string): void => {
  stage = m;
  if (process.env.DEVICE_LOSS_DEBUG) process.stderr.write(`[device-loss] ${m}\n`);
};
// A promise that never settles (a read-back of a lost device that Dawn never
// answers) would let Node's event loop run empty and exit 0 with no report.
process.on('beforeExit', () => {
  process.stderr.write(`the event loop ran empty (a promise never settled) after: ${stage}\n`);
  process.exit(3);
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const t0 = performance.now();
  const info = await setupBackend('webgpu');
  const events: BackendLoss[] = [];
  onBackendLost((l) => events.push(l));
  const groups = toyGroups(6);
  const baseline = tf.memory().numTensors;
  const t = await Trainer.create({
    groups,
    trainConfig: tinyConfig({ steps: 20, logEvery: 1, backend: 'webgpu' }),
    datasetFingerprint: 'x',
    modelOverrides: MODEL,
  });
  const before: number[] = [];
  for (let i = 0; i < 2; i++) before.push((await t.trainStep())!.loss);
  const snap = await t.snapshot(); // the last checkpoint
  before.push((await t.trainStep())!.loss);
  const live = tf.memory().numTensors;

  log(`trained ${before.join(', ')}`);
  const lostBackend = loseDeviceForTest();
  log('device destroyed');
  // what the worker calls: the next step, guarded (cause: what the step threw)
  const guarded = await guardBackendLoss(() => t.trainStep()).then(
    () => ({ name: 'none', message: 'the guarded step did not fail', isBackendLostError: false }),
    (e: unknown) => {
      const cause = (e as BackendLostError).cause;
      return {
        name: (e as Error).name,
        message: (e as Error).message,
        isBackendLostError: e instanceof BackendLostError,
        ...(cause === undefined ? {} : { cause: errInfo(cause) }),
      };
    },
  );
  log(`guarded step: ${JSON.stringify(guarded)}`);
  let stepError = errInfo(new Error('trainStep did not fail'));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // raced with a deadline: a step that never settles must show as such
    await Promise.race([
      t.trainStep(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('trainStep neither resolved nor failed in 60 s')), 60_000))),
    ]);
  } catch (e) {
    stepError = errInfo(e);
  } finally {
    clearTimeout(timer);
  }
  log(`step failed: ${JSON.stringify(stepError)}`);
  const lostRightAfterFailure = backendLost();
  const lostAfterWait = await waitForBackendLoss(2000);
  log(`lost: ${JSON.stringify(lostAfterWait)}`);
  let snapshotError = { name: 'none', message: 'snapshot did not fail' };
  try {
    await guardBackendLoss(() => t.snapshot());
  } catch (e) {
    snapshotError = { name: (e as Error).name, message: (e as Error).message };
  }
  let disposeError: string | undefined;
  try {
    t.dispose();
  } catch (e) {
    disposeError = String((e as Error).message ?? e);
  }
  const afterDispose = tf.memory().numTensors;

  log('snapshot failed');
  const recreated = await recreateBackend('webgpu', { fallback: false });
  log(`recreated ${JSON.stringify(recreated)}`);
  const lostAfterRecreate = backendLost();
  const t2 = await Trainer.restore(snap, groups);
  const replayedStep3 = (await t2.trainStep())!.loss;
  const after: number[] = [];
  const tensorsAfterSteps: number[] = [];
  for (let i = 0; i < 4; i++) {
    after.push((await t2.trainStep())!.loss);
    tensorsAfterSteps.push(tf.memory().numTensors);
  }

  log(`resumed ${replayedStep3} ${after.join(', ')}`);
  // an uncaptured validation error: recorded, not a loss
  const device = (tf.backend() as unknown as { device: { createBuffer(d: { size: number; usage: number }): unknown } }).device;
  device.createBuffer({ size: 4, usage: 0xffff });
  let errors = backendErrors();
  for (let i = 0; i < 50 && !errors; i++) {
    await sleep(20);
    errors = backendErrors();
  }
  const lostAfterError = backendLost();

  log(`errors ${JSON.stringify(errors)}`);
  // deliberate: a new device while the old one is healthy, a switch away and back
  const eventsBefore = events.length;
  await t2.snapshot(); // still readable before the switch
  await recreateBackend('webgpu', { fallback: false });
  let disposeAfterRecreateError: string | undefined;
  try {
    t2.dispose(); // its tensors belonged to the removed backend
  } catch (e) {
    disposeAfterRecreateError = String((e as Error).message ?? e);
  }
  await setBackend('cpu');
  const back = await setBackend('webgpu', { fallback: false });
  await sleep(300);

  const out: Report = {
    backend: info.backend,
    before,
    lostBackend,
    events,
    stepError,
    guarded,
    lostRightAfterFailure,
    lostAfterWait,
    snapshotError,
    disposeError,
    tensors: { baseline, live, afterDispose },
    recreated,
    lostAfterRecreate,
    replayedStep3,
    after,
    tensorsAfterSteps,
    errors,
    lostAfterError,
    eventsAfterDeliberate: events.length - eventsBefore,
    deliberateBackend: back.backend,
    disposeAfterRecreateError,
    ms: Math.round(performance.now() - t0),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
