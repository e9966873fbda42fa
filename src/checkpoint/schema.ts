// The IndexedDB schema: one typed DBSchema, one version constant, and
// cumulative migrations. Plain records only (they cross the worker boundary).

import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import type { ModelConfig, TrainConfig } from '../core/config';
import type { EvalSample, MetricPoint } from '../core/state';

export const DB_NAME = 'mcckd';
export const DB_VERSION = 1;

export type CheckpointKind = 'auto' | 'pause' | 'stop' | 'best' | 'manual';
export type RunStatus = 'created' | 'training' | 'paused' | 'stopped' | 'done' | 'failed' | 'imported';

export type EvalSampleRecord = EvalSample;

export interface EvalRecord {
  id: string;
  createdAt: number;
  step: number;
  checkpointId?: string;
  accuracy: number;
  correct: number;
  total: number;
  samples: EvalSampleRecord[];
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
  complete: boolean; // written in the same transaction as the blob
  weightsOnly: boolean;
}

export interface BlobRecord {
  checkpointId: string;
  bytes: ArrayBuffer; // the .safetensors file
}

export interface MetricRecord extends MetricPoint {
  runId: string;
}

export interface McckdDB extends DBSchema {
  runs: { key: string; value: RunRecord; indexes: { byUpdated: number } };
  checkpoints: { key: string; value: CheckpointMeta; indexes: { byRun: string } };
  blobs: { key: string; value: BlobRecord };
  // Own store keyed [runId, step]: appending a point is one small put (not a
  // rewrite of the run's whole history), and re-logging a step after a resume
  // overwrites the old point instead of duplicating it.
  metrics: { key: [string, number]; value: MetricRecord };
}

/** Cumulative migrations: a database at any older version runs every step
 * after it. A v2 adds `if (oldVersion < 2) { ... }` below, using `tx` to
 * rewrite existing records where needed. */
export function migrate(db: IDBPDatabase<McckdDB>, oldVersion: number, _tx: IDBPTransaction<McckdDB, StoreNames<McckdDB>[], 'versionchange'>): void {
  if (oldVersion < 1) {
    db.createObjectStore('runs', { keyPath: 'id' }).createIndex('byUpdated', 'updatedAt');
    db.createObjectStore('checkpoints', { keyPath: 'id' }).createIndex('byRun', 'runId');
    db.createObjectStore('blobs', { keyPath: 'checkpointId' });
    db.createObjectStore('metrics', { keyPath: ['runId', 'step'] });
  }
}
