// The recipe as a person runs it (issue 27): a LoRA run trained here on the
// cpu backend, `mcckd export --format recipe`, then the exported
// train_mcckd.py (PyTorch + transformers + PEFT + Accelerate) on the CPU from
// the run's own initial adapter and batches: per-step losses within 1e-4 of
// ours; `accelerate launch --num_processes 2` (DDP on gloo, and 2 accumulation
// micro-batches) within 1e-4 of the single process; the adapter it writes,
// read back by `mcckd score --adapter`, gives transformers + PEFT's log-probs,
// and `mcckd import` makes it a run of ours again (metrics, settings, adapter),
// which the page's Import takes with its metrics.
import 'fake-indexeddb/auto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, mcckd, PY, PY_ENV, ROOT, tinyModels, writePensData } from '../../support/cli';
import { pythonMissing } from '../../support/python';
import { loadRunDir, parseMetricsJsonl } from '../../src/checkpoint/runDir';
import { CheckpointStore } from '../../src/checkpoint/store';
import { unzipSync } from 'fflate';
import '@tensorflow/tfjs-backend-cpu';
import { Session, readTeacher, type ChosenStudent } from '../../src/worker/session';
import { exportCheckpoint } from '../../src/worker/exports';
import { loadStudent } from '../../src/hf/student';
import { nodeFolder } from '../../src/node/folder';

const missing = pythonMissing('numpy', 'torch', 'transformers', 'peft', 'accelerate');
if (missing) console.log(`skipping the recipe's training checks: ${missing}`);
const TOL = 1e-4;

interface Point {
  step: number;
  loss: number;
  ce: number;
  kl: number;
  lr: number;
}

const readMetrics = (dir: string): Point[] => {
  const warnings: string[] = [];
  const points = parseMetricsJsonl(readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'), (w) => warnings.push(w));
  expect(warnings).toEqual([]);
  return points;
};

/** The largest |a - b| over the steps' loss, ce and kl (same steps in both). */
function maxDiff(a: Point[], b: Point[]): number {
  expect(a.map((p) => p.step)).toEqual(b.map((p) => p.step));
  let d = 0;
  a.forEach((p, i) => {
    for (const k of ['loss', 'ce', 'kl'] as const) d = Math.max(d, Math.abs(p[k] - b[i][k]));
    expect(p.lr).toBeCloseTo(b[i].lr, 12);
  });
  return d;
}

/** Runs PY with `args`; returns its stderr. */
function python(args: string[], cwd: string): string {
  const r = spawnSync(PY, args, { cwd, env: { ...PY_ENV, OMP_NUM_THREADS: '1', HF_HUB_OFFLINE: '1' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr.slice(-3000)}`);
  return r.stderr;
}

describe.skipIf(missing)('the training recipe on PyTorch', () => {
  let dir = '';
  const at = (...p: string[]): string => path.join(dir, ...p);
  let ours: Point[] = [];
  let single: Point[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-recipe-'));
    tinyModels(at('m'), [['gpt2-tiny', 'gpt2']]);
    writePensData(at('pens.jsonl'));
    // batch 4 of 11 questions: the 5 steps cross two epoch reshuffles
    await ok([
      'train',
      '--student',
      at('m', 'gpt2-tiny'),
      '--data',
      at('pens.jsonl'),
      '--steps',
      '5',
      '--batch',
      '4',
      '--lr',
      '0.05',
      '--lora-rank',
      '4',
      '--lora-alpha',
      '8',
      '--alpha',
      '0.3',
      '--temperature',
      '1.5',
      '--k',
      '2',
      '--log-every',
      '1',
      '--backend',
      'cpu',
      '--out',
      at('run'),
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '1',
    ]); // prettier-ignore
    ours = readMetrics(at('run'));
    await ok(['export', '--run', at('run'), '--format', 'recipe', '--data', at('pens.jsonl'), '--out', at('recipe')]);
    expect(python([at('recipe', 'train_mcckd.py'), '--cpu', '--output-dir', at('py1')], dir)).toMatch(/training on 1 processes/);
    single = readMetrics(at('py1'));
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('5 steps on the CPU give our per-step losses within 1e-4', () => {
    expect(ours.length).toBe(5);
    const d = maxDiff(single, ours);
    console.log(`recipe (1 process) vs mcckd train --backend cpu: max abs diff over loss/ce/kl of 5 steps ${d.toExponential(2)}`);
    expect(ours[4].loss).toBeLessThan(ours[0].loss - 0.1); // it trained
    expect(d).toBeLessThan(TOL);
  });

  it("refuses an export without the run's data, naming --data", async () => {
    const none = await mcckd(['export', '--run', at('run'), '--format', 'recipe', '--out', at('r2')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--format recipe needs --data FILE: the teacher file the run trained on/);
    const other = at('other.jsonl');
    writeFileSync(other, readFileSync(at('pens.jsonl'), 'utf8').replace('Tom has 2 pens', 'Ann has 2 pens'));
    const wrong = await mcckd(['export', '--run', at('run'), '--format', 'recipe', '--data', other, '--out', at('r2')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--data .*other\.jsonl is not the data the run in .* trained on/);
    expect(existsSync(at('r2'))).toBe(false);
  });

  it("the page's export path (the worker's) writes the CLI's recipe", async () => {
    const session = new Session();
    const picked = await loadStudent(nodeFolder(at('m', 'gpt2-tiny')), 'gpt2-tiny');
    session.student = { ...picked, summary: {} as ChosenStudent['summary'], lora: null };
    // loaded with other curation settings: the export curates again as the run did
    const file = new File([readFileSync(at('pens.jsonl'))], 'pens.jsonl');
    session.data = await readTeacher({ kind: 'file', file }, { k: 1, seed: 5 });
    const store = await session.store.open();
    const { checkpointId } = await store.importSafetensors(readFileSync(at('run', 'checkpoint.safetensors')), 'run');
    const { fileName, bytes } = await exportCheckpoint(session, checkpointId, 'recipe');
    expect(fileName).toBe('run-step5-recipe.zip');
    const zip = unzipSync(bytes);
    const names = Object.keys(zip).map((n) => n.replace(/^run-step5-recipe\//, ''));
    const cli = [
      'recipe.yaml',
      'data/train.jsonl',
      'data/dev.jsonl',
      'data/order.jsonl',
      'init_adapter/adapter_config.json',
      'init_adapter/adapter_model.safetensors',
      'train_mcckd.py',
      'README.md',
    ]; // prettier-ignore
    expect(names.sort()).toEqual(cli.slice().sort());
    for (const n of cli.filter((x) => x !== 'recipe.yaml' && x !== 'README.md'))
      expect(Buffer.from(zip[`run-step5-recipe/${n}`]).equals(readFileSync(at('recipe', n))), n).toBe(true);
    const page = JSON.parse(new TextDecoder().decode(zip['run-step5-recipe/recipe.yaml'])) as Record<string, unknown>;
    const mine = JSON.parse(readFileSync(at('recipe', 'recipe.yaml'), 'utf8')) as Record<string, unknown>;
    // only the base differs (the page has no folder path, it names the base), and
    // the last metrics: an imported checkpoint file carries none
    const differ = Object.keys(mine).filter((k) => JSON.stringify(page[k]) !== JSON.stringify(mine[k]));
    expect(differ.sort()).toEqual(['base', 'metrics_at_export']);
    expect(page.base).toBe('gpt2-tiny');
    store.close();
  });

  it('accelerate launch --num_processes 2 (DDP on gloo, 2 micro-batches) gives the single process losses', () => {
    const port = String(20000 + Math.floor(Math.random() * 20000));
    // accelerate's --cpu launcher starts one process unless mpirun is there;
    // its torchrun launcher (--multi_gpu) starts two, which train on the CPU
    // (train_mcckd.py --cpu) over gloo
    const said = python(
      [
        '-m',
        'accelerate.commands.launch',
        '--multi_gpu',
        '--num_processes',
        '2',
        '--num_machines',
        '1',
        '--mixed_precision',
        'no',
        '--dynamo_backend',
        'no',
        '--main_process_port',
        port,
        at('recipe', 'train_mcckd.py'),
        '--cpu',
        '--gradient_accumulation_steps',
        '2',
        '--output-dir',
        at('py2'),
      ], // prettier-ignore
      dir,
    );
    expect(said).toMatch(/training on 2 processes \(MULTI_CPU\), 2 micro-batches of 1 questions each per process/);
    const d = maxDiff(readMetrics(at('py2')), single);
    console.log(`recipe on 2 processes x 2 micro-batches vs 1 process: max abs diff ${d.toExponential(2)}`);
    expect(d).toBeLessThan(TOL);
  });

  it("mcckd score --adapter reads the recipe's adapter as transformers + PEFT do", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => (i * 53 + 7) % 300).join(',');
    const r = await mcckd(['score', '--student', at('m', 'gpt2-tiny'), '--adapter', at('py1'), '--ids', ids]);
    expect(r.code, r.stderr).toBe(0);
    const mine = JSON.parse(r.stdout.trim().split('\n').pop()!) as { logprobs: (number | null)[] };
    const ref = spawnSync(
      PY,
      [path.join(ROOT, 'support/hf_transformers_ref.py'), at('m', 'gpt2-tiny'), '--ids', ids, '--adapter', at('py1')],
      { env: { ...PY_ENV, HF_HUB_OFFLINE: '1' }, encoding: 'utf8' },
    );
    expect(ref.status, ref.stderr).toBe(0);
    const theirs = JSON.parse(ref.stdout.trim().split('\n').pop()!) as { logprobs: (number | null)[] };
    expect(mine.logprobs.length).toBe(20);
    let d = 0;
    for (let i = 1; i < 20; i++) d = Math.max(d, Math.abs((mine.logprobs[i] as number) - (theirs.logprobs[i] as number)));
    // and the adapter moved the model: the base alone scores otherwise
    const base = await mcckd(['score', '--student', at('m', 'gpt2-tiny'), '--ids', ids]);
    const plain = JSON.parse(base.stdout.trim().split('\n').pop()!) as { logprobs: (number | null)[] };
    const moved = Math.max(...mine.logprobs.slice(1).map((x, i) => Math.abs((x as number) - (plain.logprobs[i + 1] as number))));
    console.log(
      `mcckd score --adapter (recipe's adapter) vs transformers + PEFT: max abs log-prob diff ${d.toExponential(2)}; vs the base alone ${moved.toExponential(2)}`,
    );
    expect(moved).toBeGreaterThan(1e-2);
    expect(d).toBeLessThan(TOL);

    // the loop back: `mcckd import` makes it a run of ours, its metrics and its adapter
    const back = await ok(['import', '--adapter', at('py1'), '--student', at('m', 'gpt2-tiny'), '--out', at('back')]);
    expect(back).toMatchObject({ step: 5, metrics: 5, settings: true });
    expect(readMetrics(at('back'))).toEqual(single);
    const cfg = JSON.parse(readFileSync(at('back', 'config.json'), 'utf8')) as {
      trainConfig: Record<string, unknown>;
      datasetFingerprint: string;
    };
    const runCfg = JSON.parse(readFileSync(at('run', 'config.json'), 'utf8')) as typeof cfg;
    expect(cfg.datasetFingerprint).toBe(runCfg.datasetFingerprint);
    for (const k of ['alpha', 'temperature', 'k', 'steps', 'batchSize', 'lr', 'minLr', 'warmupSteps', 'weightDecay', 'seed'])
      expect(cfg.trainConfig[k], k).toBe(runCfg.trainConfig[k]);
    const asRun = await ok(['score', '--run', at('back'), '--ids', ids]);
    expect(asRun.logprobs).toEqual(mine.logprobs);
    // the page's Import takes its checkpoint as a run on its base (the store on
    // fake-indexeddb), with the script's metrics, which `mcckd import` embeds
    // in the file: the run is charted as any run (the store's metrics)
    const store = await CheckpointStore.open(`mcckd-recipe-${process.pid}`);
    try {
      const { runId, checkpointId } = await store.importSafetensors(readFileSync(at('back', 'checkpoint.safetensors')), 'recipe run');
      const loaded = await store.loadCheckpoint(checkpointId);
      expect(loaded.step).toBe(5);
      expect(loaded.base?.name).toBe('gpt2-tiny');
      expect(loaded.params).toEqual((await loadRunDir(at('back'))).params);
      expect(await store.getMetrics(runId)).toEqual(single);
      expect(loaded.metrics).toEqual(single);
    } finally {
      store.close();
    }
  });
});
