// The module Web Worker that owns tfjs, the trainer and the checkpoint store.
// The page drives it through Comlink; only plain data crosses (see
// protocol.ts), progress comes back through Comlink.proxy callbacks, and
// pause/stop only set flags that the training loop checks between steps.

import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import './wasm-assets';
import {
  checkModelRanges,
  countParams,
  DEFAULT_TRAIN,
  modelConfigFor,
  PRESETS,
  withLora,
  type BackendName,
  type LoraConfig,
  type PresetName,
  type TrainConfig,
} from '../core/config';
import { defaultLora, filesFolder, studentFromFiles } from './students';
import { readPeftAdapter } from '../hf/peft';
import { stepPlan } from '../core/run';
import { checkPageBaseDtype, type BaseDtype } from '../core/base-dtype-choice';
import { fusedOn } from '../core/plan';
import { exportCheckpoint } from './exports';
import { listRuns, storageUsage, checkpointView } from './checkpoints';
import type {
  AccuracyCheck,
  BackendInfo,
  CheckpointView,
  CompareOptions,
  CompareResult,
  DataSource,
  DataSummary,
  EvalDataSummary,
  EvalOptions,
  EvalPhase,
  EvalResultView,
  ExportFormat,
  LoadProgress,
  RunResult,
  RunView,
  StorageUsage,
  StudentSummary,
  TrainListener,
} from './protocol';
import { loseDeviceForTest, setWasmThreads } from '../core/backend';
import * as runs from './runs';
import { compare as compareRuns } from './compare';
import { classroom as classroomRun } from './classroom';
import type { Phase } from './state';
import {
  assertIdle,
  curatedDownload,
  readEval,
  readTeacher,
  Session,
  settledBackend,
  summarizeData,
  summarizeEval,
  switchBackend,
  type ChosenStudent,
} from './session';

/** The API the page calls (through comlink), over one Session that it owns. */
function createApi(session: Session) {
  return {
    /** Parameters of each from-scratch preset at its default vocabulary (the
     * page's size picker; counting needs the architecture registry, which
     * loads tfjs, so the page asks here). */
    presetParams(): Record<PresetName, number> {
      return Object.fromEntries(
        (Object.keys(PRESETS) as PresetName[]).map((n) => [n, countParams(modelConfigFor(n, PRESETS[n].vocabSize))]),
      ) as Record<PresetName, number>;
    },

    /** Sets up a backend (webgpu falls back to webgl, then wasm, then cpu) and says what
     * it got. A model in memory is moved to the new backend. */
    async setBackend(name: BackendName): Promise<BackendInfo> {
      assertIdle(session, 'switch the backend');
      return switchBackend(session, name);
    },

    /** The wasm backend's thread count (0: one per two cores, 1: the
     * single-threaded build), read when wasm is set up. With wasm in use and
     * nothing running it is set up again now (the model in memory moves) and
     * its report is returned; otherwise it applies at wasm's next set-up. */
    async setWasmThreads(threads: number): Promise<BackendInfo | undefined> {
      setWasmThreads(threads);
      await settledBackend(session); // a switch under way reads the new count, or is restarted below
      const b = session.backend;
      if (b?.backend !== 'wasm' || !session.machine.idle) return undefined;
      return switchBackend(session, (b.fellBackFrom ?? 'wasm') as BackendName, { restart: 'wasm' });
    },

    async loadTeacher(
      source: DataSource,
      curation: { k: number; seed: number },
      onProgress?: (p: LoadProgress) => void,
    ): Promise<DataSummary> {
      session.data = await readTeacher(source, curation, onProgress);
      return summarizeData(session.data);
    },

    async loadEval(source: DataSource, onProgress?: (p: LoadProgress) => void): Promise<EvalDataSummary> {
      session.evalData = await readEval(source, session.data?.taskType, onProgress);
      return summarizeEval(session.evalData);
    },

    clearEval(): void {
      session.evalData = undefined;
    },

    // ---- the student ----

    /** Reads a pretrained model folder picked in the page (its files) and makes
     * it the student of the next runs, with LoRA r 8 on the attention
     * projections until `setLora` says otherwise; its plan holds the frozen
     * base in `baseDtype` (the page's "Base weights on the GPU"). */
    async loadStudent(
      files: File[],
      baseDtype: BaseDtype = 'f32',
    ): Promise<{ summary: StudentSummary; lora: LoraConfig | null; note?: string }> {
      assertIdle(session, 'load a model');
      const dtype = planDtype(session, baseDtype);
      const { student, folder, summary, note } = await studentFromFiles(files);
      const lora = defaultLora(student);
      session.student = { student, folder, summary: { ...summary, baseDtype: dtype }, lora };
      replan(session, session.student);
      return { summary: session.student.summary, lora: session.student.lora, ...(note ? { note } : {}) };
    },

    /** The LoRA setting of the picked student (null: every weight trains);
     * checked against the architecture. */
    setLora(lora: LoraConfig | null): StudentSummary | undefined {
      const s = session.student;
      if (!s) throw new Error('no pretrained model is picked');
      if (lora) checkModelRanges({ ...s.student.modelConfig, lora });
      s.lora = lora ? { ...lora, targets: lora.targets.slice() } : null;
      // another setting than the adapter's: a fresh LoRA, not the adapter
      if (s.adapter && !sameLora(s.adapter.lora, s.lora)) {
        s.adapter = undefined;
        delete s.summary.adapter;
      }
      replan(session, s);
      return s.summary;
    },

    /** The page's "Base weights on the GPU" changed: the picked student's
     * plan holds its frozen base so (undefined without a student). Refused,
     * naming the setting, where this backend cannot hold it. */
    setBaseDtype(baseDtype: BaseDtype): StudentSummary | undefined {
      const dtype = planDtype(session, baseDtype);
      const s = session.student;
      if (!s) return undefined;
      s.summary.baseDtype = dtype;
      replan(session, s);
      return s.summary;
    },

    /** A PEFT adapter folder for the picked base (its files): the next run
     * starts its LoRA from it, with its rank, alpha and targets. Refused when
     * it was trained on another base or does not fit this model. */
    async loadAdapter(files: File[]): Promise<{ summary: StudentSummary; lora: LoraConfig }> {
      assertIdle(session, 'load an adapter');
      const s = session.student;
      if (!s) throw new Error('pick the base model folder first: an adapter is read onto its base');
      const f = filesFolder(files);
      const { lora, weights } = await readPeftAdapter(f.source, s.student.modelConfig, s.student.base);
      s.lora = withLora(s.student.modelConfig, lora).lora!;
      s.adapter = { name: f.name, lora: s.lora, weights };
      s.summary.adapter = f.name;
      replan(session, s);
      return { summary: s.summary, lora: s.lora };
    },

    /** Back to a student trained from scratch. */
    clearStudent(): void {
      assertIdle(session, 'change the student');
      session.student = undefined;
    },

    train(config: Partial<TrainConfig>, opts: runs.RunOptions, listener: TrainListener): Promise<RunResult> {
      return runs.train(session, config, opts, listener);
    },

    continueRun(opts: runs.RunOptions, listener: TrainListener, more?: number): Promise<RunResult> {
      return runs.continueRun(session, opts, listener, more);
    },

    pause(): void {
      session.machine.pause();
    },
    resume(): void {
      session.machine.resume();
    },
    /** Stops the run after the current step (and any evaluation in progress). */
    stop(): void {
      session.machine.stop();
    },

    evaluate(opts: EvalOptions, onProgress?: (done: number, total: number, phase: EvalPhase) => void): Promise<EvalResultView> {
      return runs.evaluate(session, opts, onProgress);
    },
    cancelEvaluation(): void {
      session.machine.cancelEvaluation();
    },

    /** MCC-KD against the alpha = 0 baseline, for each seed of `opts`. */
    compare(config: Partial<TrainConfig>, evalOpts: EvalOptions, listener: TrainListener, opts?: CompareOptions): Promise<CompareResult> {
      return compareRuns(session, config, evalOpts, listener, opts);
    },

    classroom(config: Partial<TrainConfig>, listener: TrainListener, accuracy?: AccuracyCheck): Promise<RunResult> {
      return classroomRun(session, config, listener, accuracy);
    },

    /** The curated training set of the loaded data as a JSONL download. */
    async curatedData(): Promise<{ fileName: string; bytes: Uint8Array }> {
      const out = await curatedDownload(session);
      return Comlink.transfer(out, [out.bytes.buffer as ArrayBuffer]);
    },

    // ---- saved work ----

    listCheckpoints(): Promise<RunView[]> {
      return session.store.open().then(listRuns);
    },

    storageUsage(): Promise<StorageUsage> {
      return session.store.open().then(storageUsage);
    },

    resumeCheckpoint(id: string, opts: runs.RunOptions & { backend?: BackendName }, listener: TrainListener): Promise<RunResult> {
      return runs.resumeCheckpoint(session, id, opts, listener);
    },

    /** Saves the model in memory now (a comparison's or the classroom's model
     * gets a stored run of its own on the first save). */
    saveCheckpoint(): Promise<CheckpointView> {
      return runs.saveNow(session);
    },

    /** A stored checkpoint as a download: our checkpoint (all or weights
     * only), a Hugging Face folder or PEFT adapter (zip), or a GGUF. */
    async exportCheckpoint(id: string, format: ExportFormat): Promise<{ fileName: string; bytes: Uint8Array }> {
      const out = await exportCheckpoint(session, id, format);
      // Transfer, not copy: a checkpoint or model is megabytes to gigabytes
      return Comlink.transfer(out, [out.bytes.buffer as ArrayBuffer]);
    },

    async importCheckpoint(file: File): Promise<CheckpointView> {
      const store = await session.store.open();
      const bytes = new Uint8Array(await file.arrayBuffer());
      const { checkpointId } = await store.importSafetensors(bytes, file.name);
      const meta = await store.getCheckpointMeta(checkpointId);
      if (!meta) throw new Error('the imported checkpoint vanished (deleted in another tab?)');
      return checkpointView(meta);
    },

    async deleteCheckpoint(id: string): Promise<void> {
      await (await session.store.open()).deleteCheckpoint(id);
    },

    async deleteRun(id: string): Promise<void> {
      if (!session.machine.idle && session.live?.recorder?.runId === id)
        throw new Error('this run is in progress; stop it before deleting it');
      await (await session.store.open()).deleteRun(id);
      if (session.live?.recorder?.runId === id) {
        session.live.recorder.close();
        session.live.recorder = undefined;
      }
    },

    // ---- diagnostics (the e2e tests check these) ----

    status(): { state: Phase; paused: boolean; step?: number; totalSteps?: number; backend?: BackendInfo } {
      const t = session.live?.trainer;
      return {
        state: session.machine.state.phase,
        paused: !!session.machine.control?.paused,
        step: t?.step,
        totalSteps: t?.totalSteps,
        backend: session.backend,
      };
    },

    /** Loses the GPU device now, as a driver reset would (the e2e test of
     * recovery; the page offers it only with ?diagnostics in its URL). */
    loseDeviceForTest(): string {
      return loseDeviceForTest();
    },

    memory(): { numTensors: number; numBytes: number; backend: string } {
      const m = tf.memory();
      return { numTensors: m.numTensors, numBytes: m.numBytes, backend: tf.getBackend() };
    },
  };
}

export type Api = ReturnType<typeof createApi>;
Comlink.expose(createApi(new Session()));

/** The picked student's memory plan in its summary, for its LoRA setting and
 * base dtype: the default batch over the loaded data (a run checks its own
 * settings again when it starts: core/run.ts); without fused kernels off
 * WebGPU, where the plain ops keep more. */
function replan(session: Session, s: ChosenStudent): void {
  const c = withLora(s.student.modelConfig, s.lora ?? undefined);
  const fused = fusedOn(session.backend?.backend ?? 'unknown');
  s.summary.plan = stepPlan(c, s.student.tokenizer, session.data?.groups, DEFAULT_TRAIN, { baseDtype: s.summary.baseDtype, fused });
}

/** The page's base dtype, checked against the backend in use. */
function planDtype(session: Session, asked: unknown): BaseDtype {
  return checkPageBaseDtype(asked, session.backend?.backend ?? 'unknown');
}

/** Whether two LoRA settings train the same adapter. */
function sameLora(a: LoraConfig, b: LoraConfig | null): boolean {
  return !!b && a.rank === b.rank && a.alpha === b.alpha && [...a.targets].sort().join() === [...b.targets].sort().join();
}
