// The training recipe of a LoRA run, for PyTorch + PEFT + Accelerate at a
// scale the page cannot reach (issue 27). Plain files, the same bytes from
// the CLI and the worker:
//   recipe.yaml          every setting of the run (JSON, which YAML 1.2 reads)
//   data/train.jsonl     the curated questions as the trainer encodes them
//   data/dev.jsonl       the held-out questions (prompt ids and gold answer)
//   data/order.jsonl     the run's batches, step by step: [question, rationale a, rationale b]
//   init_adapter/        the LoRA the run started from (initLora of its seed), as PEFT saves it
//   train_mcckd.py       the trainer (a static file, src/export/recipe/train_mcckd.py)
//   README.md            the commands: one GPU, several, FSDP / DeepSpeed; the planner's memory

import { initLora } from '../core/model';
import { checkTrainRanges, DEFAULT_TRAIN, withLora, type LoraConfig, type TrainConfig } from '../core/config';
import { adapterState, encodeGroups, DATA_SEED_SALT, type PretrainedStudent } from '../core/trainer';
import { nextPicks, type DataCursor } from '../core/picks';
import { stepPlan } from '../core/run';
import type { MetricPoint, TensorMap, TrainState } from '../core/state';
import type { StudentTokenizer } from '../core/tokenizer';
import { DEFAULT_PROMPT_TEMPLATE, formatPrompt } from '../data/template';
import type { CuratedRationale, EvalItem, QuestionGroup } from '../data/types';
import { Rng } from '../shared/rng';
import { peftAdapterFiles } from './peft';
import { ExportError, type ExportModel } from './source';

/** What the recipe is made of: the run, its export view (base and adapter),
 * the run's tokenizer and the curated data it trained on. */
interface RecipeInput {
  state: TrainState;
  model: ExportModel;
  tokenizer: StudentTokenizer;
  groups: QuestionGroup[];
  dev: EvalItem[];
  /** Where the base model folder is (recipe.yaml's `base`). */
  baseFolder: string;
  /** The text of train_mcckd.py (the CLI reads the file, the worker bundles it). */
  script: string;
}

/** The planner's table for one step of this run, for README.md: a note, so a
 * plan that cannot be made leaves it out rather than refusing the recipe. */
function planText(r: Pick<RecipeInput, 'state' | 'tokenizer' | 'groups'>): string | undefined {
  try {
    return stepPlan(r.state.modelConfig, r.tokenizer, r.groups, r.state.trainConfig, { name: r.state.base?.name }).text;
  } catch {
    return undefined;
  }
}

/** The positions our batch pads a sequence to a multiple of (batch.ts paddedLength). */
const PAD_MULTIPLE = 16;

/** recipe.yaml's settings: flat keys, each also a flag of train_mcckd.py. */
function recipeSettings(r: Pick<RecipeInput, 'state' | 'model' | 'tokenizer' | 'baseFolder'>): Record<string, unknown> {
  const { state, model } = r;
  const lora = state.modelConfig.lora;
  const t = state.trainConfig;
  if (!lora || !state.base) throw new ExportError('--format recipe: only a LoRA run on a pretrained base has a recipe');
  return {
    format: 'mcckd-recipe/1',
    base: r.baseFolder,
    base_name: state.base.name,
    base_arch: state.base.arch,
    base_fingerprint: state.base.fingerprint,
    adapter: 'init_adapter',
    lora_r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: 0,
    lora_targets: [...lora.targets].sort(),
    alpha: t.alpha,
    temperature: t.temperature,
    k: t.k,
    steps: t.steps,
    batch_size: t.batchSize,
    gradient_accumulation_steps: 1,
    lr: t.lr,
    min_lr: t.minLr,
    schedule: 'linear warmup, then cosine to min_lr',
    warmup_steps: t.warmupSteps,
    weight_decay: t.weightDecay,
    beta1: t.beta1,
    beta2: t.beta2,
    eps: t.eps,
    grad_clip: t.gradClip,
    seed: t.seed,
    log_every: t.logEvery,
    block_size: state.modelConfig.blockSize,
    pad_id: r.tokenizer.padId,
    pad_multiple: PAD_MULTIPLE,
    prompt_template: t.promptTemplate ?? DEFAULT_PROMPT_TEMPLATE,
    train_file: 'data/train.jsonl',
    dev_file: 'data/dev.jsonl',
    order_file: 'data/order.jsonl',
    dataset_fingerprint: state.datasetFingerprint,
    trained_steps: state.step,
    metrics_at_export: model.metrics.length ? model.metrics[model.metrics.length - 1] : null,
  };
}

/** The run's batches from step 1 to `steps`: what Trainer.nextPicks draws
 * for a run that starts at step 0 (the seeded order, epoch after epoch). */
function batchOrder(sizes: number[], seed: number, batchSize: number, steps: number): [number, number, number | null][][] {
  const rng = new Rng(seed ^ DATA_SEED_SALT);
  // the trainer shuffles once when it is built, then as each epoch ends
  const cursor: DataCursor = { epoch: 0, position: 0, order: rng.shuffle(sizes.map((_, i) => i)) };
  const out: [number, number, number | null][][] = [];
  for (let s = 0; s < steps; s++) out.push(nextPicks(sizes, cursor, rng, batchSize).map((p) => [p.group, p.a, p.b]));
  return out;
}

const lines = (xs: unknown[]): string => xs.map((x) => `${JSON.stringify(x)}\n`).join('');

/** Every file of the recipe folder, by relative path. */
export function recipeFiles(r: RecipeInput): Map<string, Uint8Array> {
  const settings = recipeSettings(r);
  const { state, tokenizer } = r;
  const mc = state.modelConfig;
  const t = state.trainConfig;
  const enc = encodeGroups(tokenizer, r.groups, mc.blockSize, t.k, t.promptTemplate);
  const byId = new Map(r.groups.map((g) => [g.id, g]));
  const train = enc.groups.map((g) => {
    const src = byId.get(g.id)!;
    const prompt = formatPrompt(src.question, t.promptTemplate);
    // encodeGroups keeps the first k rationales in order, less those too long:
    // walk both lists to give each encoded one its text
    const texts: (CuratedRationale | undefined)[] = [];
    let j = 0;
    for (const x of src.rationales.slice(0, t.k)) {
      if (j < g.rationales.length && tokenizer.example(prompt, x).ids.join() === g.rationales[j].ids.join()) texts[j++] = x;
    }
    const first = g.rationales[0];
    return {
      id: g.id,
      question: src.question,
      answer: src.answer,
      prompt,
      prompt_ids: first.ids.slice(0, first.promptLen),
      // ids: prompt, rationale, end token; the CE covers the tokens
      // ids[ce_start:] (rationale, answer, end), the KL the answer ids[span[0]:span[1]]
      rationales: g.rationales.map((e, i) => {
        const x = texts[i];
        return {
          ...(x ? { text: x.text, answer_chars: [x.answerStart, x.answerEnd] } : {}),
          ids: e.ids,
          ce_start: e.promptLen,
          span: [e.spanStart, e.spanEnd],
        };
      }),
    };
  });
  const dev = r.dev.map((d) => {
    const prompt = formatPrompt(d.question, t.promptTemplate);
    return { id: d.id, question: d.question, answer: d.answer, prompt, prompt_ids: tokenizer.promptIds(prompt) };
  });
  const order = batchOrder(
    enc.groups.map((g) => g.rationales.length),
    t.seed,
    t.batchSize,
    t.steps,
  ).map((picks, i) => ({ step: i + 1, picks }));
  const files = new Map<string, Uint8Array>();
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  files.set('recipe.yaml', text(`${JSON.stringify(settings, null, 2)}\n`));
  files.set('data/train.jsonl', text(lines(train)));
  files.set('data/dev.jsonl', text(lines(dev)));
  files.set('data/order.jsonl', text(lines(order)));
  // the LoRA the run started from: the same seed gives the same A (B is 0)
  const init = initLora(withLora(r.model.modelConfig, mc.lora), t.seed);
  for (const [name, bytes] of peftAdapterFiles({ ...r.model, adapter: { lora: mc.lora!, tensors: init } }))
    if (name !== 'README.md') files.set(`init_adapter/${name}`, bytes);
  files.set('train_mcckd.py', text(r.script));
  files.set(
    'README.md',
    text(recipeReadme(settings, { questions: train.length, dev: dev.length, skipped: enc.skipped, plan: planText(r) })),
  );
  return files;
}

function recipeReadme(
  s: Record<string, unknown>,
  o: { questions: number; dev: number; skipped: { rationales: number; groups: number }; plan?: string },
): string {
  const plan = o.plan
    ? [
        "The memory our planner expects for one step of this run in mcckd (float32, WebGPU). PyTorch's differs: on a GPU",
        'the frozen base is held in bfloat16 (half the weights row) and the activations depend on its kernels.',
        '',
        '```',
        o.plan,
        '```',
      ]
    : ['(No memory plan was given.)'];
  return [
    `# MCC-KD training recipe: ${s.base_name}`,
    '',
    `The run's recipe as exported by \`mcckd export --format recipe\`: ${o.questions} questions (${o.dev} held out),`,
    `LoRA r ${s.lora_r}, alpha ${s.lora_alpha} on ${(s.lora_targets as string[]).join(', ')}; MCC-KD alpha ${s.alpha}, T ${s.temperature}, K ${s.k}; ${s.steps} steps of ${s.batch_size} questions.`,
    o.skipped.rationales
      ? `${o.skipped.rationales} rationales (${o.skipped.groups} questions) did not fit the model's ${s.block_size} positions and are left out.`
      : '',
    '',
    'The loss is ours exactly: the mean cross-entropy over the rationale, answer and end tokens of both',
    'rationales of each question, plus alpha * 0.5 * (KL(P||Q) + KL(Q||P)) at temperature T between the',
    "answer-token distributions after the two rationales (mean over a pair's answer tokens, then over the",
    "pairs). The batches are the run's own (`data/order.jsonl`), the LoRA starts where the run started",
    '(`init_adapter/`), AdamW and the warmup-cosine schedule are the same.',
    '',
    '## Run it',
    '',
    '```sh',
    'pip install torch transformers peft accelerate safetensors',
    'python train_mcckd.py --cpu --max-steps 5 --output-dir out-test   # a quick check on the CPU',
    'python train_mcckd.py --output-dir out                            # one GPU (bf16 autocast)',
    'accelerate launch --multi_gpu --num_processes 4 train_mcckd.py --output-dir out   # 4 GPUs, DDP: the same global batch',
    'accelerate launch --multi_gpu --num_processes 2 train_mcckd.py --cpu --output-dir out-ddp   # DDP on the CPU (gloo)',
    '```',
    '',
    '(`accelerate launch --cpu --num_processes 2` starts one process unless mpirun is installed: `--multi_gpu` is',
    "accelerate's torchrun launcher, and the script's `--cpu` keeps it on the CPU.)",
    '',
    'Every setting of `recipe.yaml` is a flag of the same name (`--lr 1e-4`, `--batch_size 32`, `--base DIR-or-hub-id`).',
    'The global batch (`batch_size` questions) is split over processes and `gradient_accumulation_steps`;',
    'the loss is normalized over the whole global batch, so the numbers do not depend on the split.',
    '`--adapter ""` starts a fresh PEFT LoRA instead of the run\'s initial one; `--adapter DIR` continues any PEFT adapter',
    '(a run that mcckd started from a PEFT adapter, `train --adapter DIR`, started there: give the same DIR to match it)',
    '(e.g. `mcckd export --format peft` of the run). Past the steps in `data/order.jsonl` the batches come from',
    'a seeded shuffle of its own.',
    '',
    'A student that does not fit one GPU: shard it with FSDP or DeepSpeed ZeRO-3 through an Accelerate config:',
    '',
    '```sh',
    'accelerate config                # pick FSDP (FULL_SHARD) or DeepSpeed (zero_stage 3)',
    'accelerate launch --config_file fsdp.yaml train_mcckd.py --output-dir out',
    '```',
    '',
    'With DeepSpeed keep `gradient_accumulation_steps` at 1 (DeepSpeed accumulates by its own config): raise',
    'the number of processes instead. On a GPU the frozen base is held in bfloat16 and the step runs under',
    'bf16 autocast (`--dtype float32` for full precision); the LoRA weights and AdamW stay in float32.',
    '',
    ...plan,
    '',
    '## Back to mcckd',
    '',
    '`out/` holds the PEFT adapter (`adapter_config.json`, `adapter_model.safetensors`) and `metrics.jsonl` in the',
    'run-folder format:',
    '',
    '```sh',
    `mcckd score --student ${s.base} --adapter out --text "..."`,
    `mcckd train --student ${s.base} --adapter out --data teacher.jsonl   # go on training here`,
    '```',
    '',
  ]
    .filter((l, i, a) => !(l === '' && a[i - 1] === ''))
    .join('\n');
}

/** recipe.yaml's keys that are TrainConfig settings, under our names. */
const TRAIN_KEYS: [string, keyof TrainConfig][] = [
  ['alpha', 'alpha'],
  ['temperature', 'temperature'],
  ['k', 'k'],
  ['steps', 'steps'],
  ['batch_size', 'batchSize'],
  ['lr', 'lr'],
  ['min_lr', 'minLr'],
  ['warmup_steps', 'warmupSteps'],
  ['weight_decay', 'weightDecay'],
  ['beta1', 'beta1'],
  ['beta2', 'beta2'],
  ['eps', 'eps'],
  ['grad_clip', 'gradClip'],
  ['seed', 'seed'],
  ['log_every', 'logEvery'],
];

/** The loop back: what train_mcckd.py wrote (its adapter on `student`, the
 * settings it trained with, its metrics) as a run at its last step, which
 * mcckd's run folders and the page read. AdamW's moments stay in PyTorch: the
 * run holds zeros, so a resumed run starts them afresh. Bad settings throw
 * naming the key. */
export function recipeRunState(
  student: PretrainedStudent,
  adapter: { lora: LoraConfig; weights: TensorMap },
  settings: Record<string, unknown>,
  metrics: MetricPoint[],
): TrainState {
  const tc: TrainConfig = { ...DEFAULT_TRAIN };
  for (const [key, ours] of TRAIN_KEYS) {
    const v = settings[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ExportError(`recipe.yaml: "${key}" must be a number, got ${JSON.stringify(v)}`);
    (tc as unknown as Record<string, unknown>)[ours] = v;
  }
  if (typeof settings.prompt_template === 'string') tc.promptTemplate = settings.prompt_template;
  try {
    checkTrainRanges(tc);
  } catch (e) {
    throw new ExportError(`recipe.yaml: ${(e as Error).message}`);
  }
  const fp = typeof settings.dataset_fingerprint === 'string' ? settings.dataset_fingerprint : '';
  const state = adapterState(student, adapter, tc, fp);
  const sorted = metrics.slice().sort((a, b) => a.step - b.step);
  const step = sorted.length ? sorted[sorted.length - 1].step : 0;
  if (step > tc.steps) throw new ExportError(`metrics.jsonl reaches step ${step}, past the run's ${tc.steps} steps (recipe.yaml "steps")`);
  // zero moments: a checkpoint holds one per trainable tensor
  const zeros = (): TensorMap =>
    Object.fromEntries(
      Object.entries(adapter.weights).map(([n, t]) => [n, { shape: t.shape.slice(), data: new Float32Array(t.data.length) }]),
    );
  return { ...state, step, metrics: sorted, optimizer: { step, m: zeros(), v: zeros() } };
}
