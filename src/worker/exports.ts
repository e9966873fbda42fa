// Exports of a stored checkpoint: our own .safetensors checkpoint, or the
// student in a format other tools open (src/export). The run's record gives
// the model card its facts: the teacher file, what curation kept, the latest
// evaluation of this checkpoint's step.

import { zipSync, type Zippable } from 'fflate';
import { exportDownload, safeName, type ExportKind } from '../export/bundle';
import { baseModelName } from '../export/card';
import { recipeFiles } from '../export/recipe';
import trainScript from '../export/recipe/train_mcckd.py?raw';
import { exportModel, type ExportBase, type ExportModel } from '../export/source';
import type { TrainState } from '../core/state';
import type { CheckpointMeta, RunFacts, RunRecord } from '../checkpoint/schema';
import type { DataReport, ExportFormat } from './protocol';
import type { CheckpointStore } from '../checkpoint/store';
import { readTeacher, type Session, type TeacherData } from './session';
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
  if (format === 'recipe') return recipeDownload(session, state, m, base);
  return exportDownload(m, format as ExportKind);
}

/** The data a run trained on, curated as it was: the loaded data, the demo
 * data or the file kept with the run (none of them replaces what is loaded). */
async function trainedOn(session: Session, state: TrainState): Promise<TeacherData> {
  const curation = { k: state.trainConfig.k, seed: state.trainConfig.seed };
  const fp = state.datasetFingerprint;
  const d = session.data;
  if (d) {
    const same = d.curatedWith.k === curation.k && d.curatedWith.seed === curation.seed;
    const again = same ? d : await readTeacher(d.source, curation).catch(() => undefined);
    if (again?.fingerprint === fp) return again;
  }
  const demo = await readTeacher({ kind: 'demo' }, curation).catch(() => undefined);
  if (demo?.fingerprint === fp) return demo;
  const kept = await (await session.store.open()).getDataset(fp);
  if (kept) {
    const k = await readTeacher({ kind: 'file', file: new File([kept.bytes], kept.name) }, curation);
    if (k.fingerprint === fp) return k;
  }
  throw new Error('the recipe holds the data this run trained on: load its teacher file, then export again');
}

/** The training recipe (src/export/recipe.ts) as one zip whose entries sit in one folder. */
async function recipeDownload(
  session: Session,
  state: TrainState,
  m: ExportModel,
  base: ExportBase | undefined,
): Promise<{ fileName: string; bytes: Uint8Array }> {
  if (!base || !state.modelConfig.lora) throw new Error('a training recipe is made for a LoRA run on a pretrained model');
  const data = await trainedOn(session, state);
  const tokenizer = base.student.tokenizer;
  // the page has no folder path: the Hub id from config.json, or the name (--base DIR then)
  const files = recipeFiles({
    state,
    model: m,
    tokenizer,
    groups: data.groups,
    dev: data.dev,
    baseFolder: baseModelName(m) ?? state.base!.name,
    script: trainScript,
  });
  const dir = `${safeName(m.facts.name)}-step${m.step}-recipe`;
  const entries: Zippable = {};
  for (const [name, bytes] of files) entries[`${dir}/${name}`] = [bytes, { level: name.endsWith('.safetensors') ? 0 : 6 }];
  return { fileName: `${dir}.zip`, bytes: zipSync(entries) };
}
