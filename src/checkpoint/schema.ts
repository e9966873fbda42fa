// The IndexedDB schema: one typed DBSchema, one version constant, and
// cumulative migrations. Plain records only (they cross the worker boundary).

import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import type { ModelConfig, TrainConfig } from '../core/config';
import type { MetricPoint } from '../core/state';
import type { EvalSample } from '../data/types';
import type { SampleRecord, TeachQuestion, TeachSettings } from '../teach/types';
import { isRunStatus, type CheckpointKind, type RunStatus } from '../core/run-status';

export type { CheckpointKind, RunStatus };

export const DB_NAME = 'mcckd';
export const DB_VERSION = 3;

/** Run status words that earlier versions stored (before the one vocabulary
 * of core/run-status.ts), and what they mean now. This is the only place
 * that knows them: the store maps every run record it reads through
 * runStatusFromStored, so a record written by any version loads. */
export const OLD_RUN_STATUS_WORDS: Readonly<Record<string, RunStatus>> = {
  // Only the store's own default wrote it (the worker wrote 'training'); a
  // record read back with it is not being set up by anyone now: it can be
  // resumed from its checkpoints, i.e. stopped.
  created: 'stopped',
  training: 'running',
  // a run made from an imported .safetensors file: it is at its step and
  // can be resumed, i.e. stopped (the run's name is the file's name)
  imported: 'stopped',
};

/** The status of a stored run record, whatever version wrote it. A word no
 * version wrote (a damaged record) reads as 'stopped': the run stays
 * listed and resumable instead of failing to load. */
export function runStatusFromStored(word: unknown): RunStatus {
  if (isRunStatus(word)) return word;
  return (typeof word === 'string' && Object.hasOwn(OLD_RUN_STATUS_WORDS, word) && OLD_RUN_STATUS_WORDS[word]) || 'stopped';
}

/** A run record as read from the database, its status in today's words. */
export function readRunRecord(raw: RunRecord): RunRecord {
  const status = runStatusFromStored((raw as { status?: unknown }).status);
  return status === raw.status ? raw : { ...raw, status };
}

/** What a model card says about the run beyond its checkpoint: the CLI reads
 * it from the run directory, the page from the stored run. */
export interface RunFacts {
  name: string;
  /** The teacher file and what curation kept of it. */
  data?: { file: string; questions: number; rationales: number; trainQuestions?: number; devQuestions?: number };
  /** The latest evaluation of this model. */
  evaluation?: { accuracy: number; correct: number; total: number; file?: string };
}

export interface EvalRecord {
  id: string;
  createdAt: number;
  step: number;
  checkpointId?: string;
  accuracy: number;
  correct: number;
  total: number;
  samples: EvalSample[];
}

export interface RunRecord {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  modelConfig: ModelConfig;
  trainConfig: TrainConfig;
  tokenizer: unknown; // Tokenizer.toJSON()
  datasetFingerprint: string;
  reportSummary?: unknown; // the teacher file's DataReport (plain JSON)
  evaluations: EvalRecord[];
  status: RunStatus;
}

export interface CheckpointMeta {
  id: string;
  runId: string;
  step: number;
  createdAt: number; // strictly increasing within a store: orders "latest"
  bytes: number;
  checksum: string; // the file's xxh32, checked again on every load
  accuracy?: number;
  kind: CheckpointKind;
  weightsOnly: boolean;
}

export interface BlobRecord {
  checkpointId: string;
  bytes: ArrayBuffer; // the .safetensors file
}

export interface MetricRecord extends MetricPoint {
  runId: string;
}

export type TeachRunStatus = 'running' | 'paused' | 'done' | 'cancelled' | 'failed';

/** A teach run (v3): what Resume needs to ask the rest. No API key: that
 * stays in the page's memory (or its own storage when the person ticks
 * "remember"). */
export interface TeachRunRecord {
  id: string;
  createdAt: number;
  updatedAt: number;
  status: TeachRunStatus;
  /** The questions file's name, or "demo". */
  questionsName: string;
  questions: TeachQuestion[];
  settings: TeachSettings;
  teacher:
    | { kind: 'endpoint'; baseUrl: string; model: string; api: 'chat' | 'completions'; name: string }
    | { kind: 'gguf'; fileName: string; bytes: number; name: string };
  /** Extra samples asked per question by "Re-ask" (sample numbers K .. K+n-1). */
  extra?: Record<string, number>;
}

export interface TeachSampleRecord extends SampleRecord {
  runId: string;
}

/** The teacher file a run was trained on (v2), so that Resume after a reload
 * does not ask for it again. Keyed by the curated data's fingerprint. */
export interface DatasetRecord {
  fingerprint: string;
  name: string;
  createdAt: number;
  bytes: ArrayBuffer; // the file as uploaded
}

export interface McckdDB extends DBSchema {
  runs: { key: string; value: RunRecord; indexes: { byUpdated: number } };
  checkpoints: { key: string; value: CheckpointMeta; indexes: { byRun: string } };
  blobs: { key: string; value: BlobRecord };
  // Own store keyed [runId, step]: appending a point is one small put (not a
  // rewrite of the run's whole history), and re-logging a step after a resume
  // overwrites the old point instead of duplicating it.
  metrics: { key: [string, number]; value: MetricRecord };
  datasets: { key: string; value: DatasetRecord };
  // v3: the teacher step. A sample is its own record keyed [runId,
  // questionId, sample], written the moment it arrives: a reload loses only
  // the samples in flight, and a resumed run never stores one twice.
  teachRuns: { key: string; value: TeachRunRecord; indexes: { byUpdated: number } };
  teachSamples: { key: [string, string, number]; value: TeachSampleRecord; indexes: { byRun: string } };
}

/** Cumulative migrations: a database at any older version runs every step
 * after it; a step may use `tx` to rewrite existing records. */
export function migrate(
  db: IDBPDatabase<McckdDB>,
  oldVersion: number,
  _tx: IDBPTransaction<McckdDB, StoreNames<McckdDB>[], 'versionchange'>,
): void {
  if (oldVersion < 1) {
    db.createObjectStore('runs', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
    db.createObjectStore('checkpoints', { keyPath: 'id' }).createIndex('byRun', 'runId');
    db.createObjectStore('blobs', { keyPath: 'checkpointId' });
    db.createObjectStore('metrics', { keyPath: ['runId', 'step'] });
  }
  if (oldVersion < 2) {
    // v1 runs have no stored file: their Resume still asks for it
    db.createObjectStore('datasets', { keyPath: 'fingerprint' });
  }
  if (oldVersion < 3) {
    db.createObjectStore('teachRuns', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
    db.createObjectStore('teachSamples', { keyPath: ['runId', 'questionId', 'sample'] }).createIndex('byRun', 'runId');
  }
}
