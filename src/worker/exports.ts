// Exports of a stored checkpoint: our own .safetensors checkpoint, or the
// student in a format other tools open (src/export). The run's record gives
// the model card its facts: the teacher file, what curation kept, the latest
// evaluation of this checkpoint's step.

import { exportDownload, safeName, type ExportKind } from '../export/bundle';
import { exportModel } from '../export/source';
import type { CheckpointMeta, RunFacts, RunRecord } from '../checkpoint/schema';
import type { DataReport, ExportFormat } from './protocol';
import type { CheckpointStore } from '../checkpoint/store';
import type { Session } from './session';
import { baseFolderFor } from './students';

async function factsOf(store: CheckpointStore, run: RunRecord | undefined, meta: CheckpointMeta): Promise<RunFacts> {
  if (!run) return { name: 'run' };
  const dataset = await store.getDataset(run.datasetFingerprint).catch(() => undefined);
  const r = run.reportSummary as Partial<DataReport> | undefined;
  // the newest evaluation of this very checkpoint, else of its step
  const evals = run.evaluations.filter((e) => e.checkpointId === meta.id || e.step === meta.step);
  const ev = evals.sort((a, b) => b.createdAt - a.createdAt)[0];
  return {
    name: run.name,
    ...(dataset && r && typeof r.questions === 'number'
      ? {
          data: {
            file: dataset.name,
            questions: r.questions,
            rationales: r.rationalesKept ?? 0,
            trainQuestions: r.trainQuestions,
            devQuestions: r.devQuestions,
          },
        }
      : {}),
    ...(ev ? { evaluation: { accuracy: ev.accuracy, correct: ev.correct, total: ev.total } } : {}),
  };
}

export async function exportCheckpoint(
  session: Session,
  id: string,
  format: ExportFormat,
): Promise<{ fileName: string; bytes: Uint8Array }> {
  const store = await session.store.open();
  const meta = await store.getCheckpointMeta(id);
  if (!meta) throw new Error(`checkpoint ${id} does not exist`);
  const run = await store.getRun(meta.runId);
  if (format === 'checkpoint' || format === 'weights') {
    const weightsOnly = format === 'weights';
    const raw = await store.exportSafetensors(id, { weightsOnly });
    const bytes = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
    return { fileName: `${safeName(run?.name ?? 'run')}-step${meta.step}${weightsOnly ? '-weights' : ''}.safetensors`, bytes };
  }
  const state = await store.loadCheckpoint(id);
  const base = state.base ? await baseFolderFor(state.base, session.student) : undefined;
  const m = exportModel(state, { ...(base ? { base } : {}), facts: await factsOf(store, run, meta) });
  return exportDownload(m, format as ExportKind);
}
