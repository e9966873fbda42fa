// Every command's flags, one table each: name, type, what --help calls the
// value, the help line and the default it shows. The command parses its argv
// with its table (args.ts parseFlags) and main.ts prints --help from the same
// table, so the two cannot drift apart. Defaults are applied by the commands
// (and core's config): a flag not given reads as undefined.

import { DEFAULT_TRAIN as D, LORA_DEFAULTS, PRETRAINED_LR } from '../core/config';
import { MAX_CONSISTENCY_SAMPLES } from '../core/consistency';
import { ACCURACY_QUESTIONS } from '../core/run-settings';
import { CURATION_DEFAULTS as C } from '../data/defaults';
import { TEACH_DEFAULTS } from '../teach/types';
import { flagTable } from './args';

/** Questions of the held-out set evaluated every --eval-every steps by default (core's one default). */
export const EVAL_EVERY_LIMIT = ACCURACY_QUESTIONS.cli;

export const EXPERIMENT_DEFAULTS = { samples: 4, sampleTemperature: 1, sampleSeed: 1, out: 'experiment' } as const;
/** Seeds of one `mcckd experiment`: each trains a run per alpha, so a long
 * list is a budget mistake rather than a plan. */
export const MAX_EXPERIMENT_SEEDS = 64;

const BACKEND = { type: 'string', arg: 'NAME', help: 'cpu, wasm or webgpu' } as const;
const TASK = { type: 'string', arg: 'T', help: 'number, choice, yesno or text: how answers are compared (default: detected)' } as const;
const UNREADABLE = {
  type: 'string',
  arg: 'P',
  help: "keep-labelled (default) or drop: a rationale whose answer can't be read but whose\nrecord marks it correct (Mentor-KD's initial_correct) is kept with the answer appended",
} as const;
const PROMPT_TEMPLATE = {
  type: 'string',
  arg: 'T',
  help: 'what the student reads before its rationale; {question} is replaced\n(default "Q: {question}\\nA: ")',
} as const;
const BASE_FOLDER = {
  type: 'string',
  arg: 'DIR',
  help: 'the base folder of a run on a pretrained model (default: the folder its config.json names)',
} as const;
const RUN_DIR = { type: 'string', arg: 'DIR', help: 'a run directory written by mcckd train --out' } as const;
const BASE_DTYPE = {
  type: 'string',
  arg: 'D',
  help: "how a pretrained student's frozen base is held on the GPU: f32, f16 or int8\n(per-output-channel scales); f16 and int8 need --backend webgpu (default: f16 on webgpu, f32 elsewhere)",
} as const;

export const TRAIN_FLAGS = flagTable({
  data: { type: 'string', arg: 'FILE', help: 'teacher file (JSON array or JSON Lines, any supported format)' },
  eval: { type: 'string', arg: 'FILE', help: 'evaluation file; without it a seeded 10% dev split is held out' },
  preset: { type: 'string', arg: 'NAME', help: 'tiny, small or base', default: D.preset },
  alpha: { type: 'number', arg: 'A', help: 'weight of the MCC-KD consistency term; 0 = plain multi-rationale', default: D.alpha },
  temperature: { type: 'number', arg: 'T', help: 'softmax temperature of the KL term', default: D.temperature },
  k: { type: 'number', arg: 'K', help: 'rationales kept per question', default: C.k },
  steps: { type: 'number', arg: 'N', help: 'total steps of the run; the cosine schedule spans them', default: D.steps },
  epochs: { type: 'number', arg: 'E', help: 'or: passes over the questions (instead of --steps)' },
  batch: { type: 'number', arg: 'B', help: 'questions per step', default: D.batchSize },
  lr: { type: 'number', arg: 'LR', help: 'peak learning rate', default: D.lr },
  warmup: { type: 'number', arg: 'N', help: 'warm-up steps', default: D.warmupSteps },
  'weight-decay': { type: 'number', arg: 'W', help: 'AdamW weight decay', default: D.weightDecay },
  seed: { type: 'number', arg: 'S', help: 'seed of the initial weights, data order and dev split', default: D.seed },
  'vocab-size': { type: 'number', arg: 'V', help: "tokenizer vocabulary size (default: the preset's)" },
  backend: { ...BACKEND, help: 'cpu, wasm or webgpu; an unusable one is an error', default: D.backend },
  out: { type: 'string', arg: 'DIR', help: 'run directory to save to (new or empty; an earlier run: --resume)' },
  resume: { type: 'string', arg: 'DIR', help: 'continue the run saved in DIR (saves there unless --out)' },
  'log-every': { type: 'number', arg: 'N', help: 'log every N steps', default: D.logEvery },
  'save-every': { type: 'number', arg: 'N', help: 'also save every N steps' },
  'stop-at': { type: 'number', arg: 'N', help: 'save and stop after step N (train a long run in sessions)' },
  'eval-limit': { type: 'number', arg: 'N', help: 'evaluate at most N questions after training' },
  'eval-every': {
    type: 'number',
    arg: 'N',
    help: 'also evaluate every N steps (greedy, batched) on the first Q held-out questions:\na JSON line {"step", "eval": {"accuracy", "correct", "total"}} among the step lines',
  },
  'eval-every-limit': { type: 'number', arg: 'Q', help: 'questions evaluated every N steps', default: EVAL_EVERY_LIMIT },
  'max-new-tokens': { type: 'number', arg: 'N', help: 'generation length when evaluating' },
  recompute: { type: 'boolean', help: "recompute each block's activations in the backward (less memory, one more forward)" },
  unreadable: UNREADABLE,
  'prompt-template': PROMPT_TEMPLATE,
  student: {
    type: 'string',
    arg: 'DIR',
    help: 'fine-tune a pretrained Hugging Face model folder (config.json, model.safetensors\nor shards, tokenizer.json): GPT-2, LLaMA / SmolLM2 / TinyLlama-shaped, Qwen2, Qwen3, Gemma 3 (text)',
  },
  'lora-rank': { type: 'number', arg: 'R', help: 'LoRA rank with --student; 0 trains every weight', default: LORA_DEFAULTS.rank },
  'lora-alpha': { type: 'number', arg: 'A', help: 'LoRA alpha: the update is scaled by alpha / rank', default: LORA_DEFAULTS.alpha },
  'lora-targets': {
    type: 'string',
    arg: 'M,...',
    help: 'projections to adapt (default: the attention projections, c_attn,c_proj for\nGPT-2, q_proj,k_proj,v_proj,o_proj for LLaMA / Qwen / Gemma 3)',
  },
  'base-dtype': BASE_DTYPE,
  adapter: {
    type: 'string',
    arg: 'DIR',
    help: 'with --student: start the LoRA from this PEFT adapter (its r, alpha, targets\nand tensors; e.g. one mcckd export --format peft wrote for that base)',
  },
});

/** What --help adds after train's flags. */
export const TRAIN_NOTE = `With --student the learning rate defaults to ${PRETRAINED_LR.lora} (LoRA) or ${PRETRAINED_LR.full} (every weight).`;

export const EVAL_FLAGS = flagTable({
  run: { ...RUN_DIR, help: 'run directory written by mcckd train --out' },
  data: { type: 'string', arg: 'FILE', help: 'evaluation file (questions and answers)' },
  limit: { type: 'number', arg: 'N', help: 'evaluate at most N questions' },
  backend: { ...BACKEND, default: D.backend },
  'max-new-tokens': { type: 'number', arg: 'N', help: 'generation length' },
  task: TASK,
  student: BASE_FOLDER,
  'base-dtype': BASE_DTYPE,
  batch: { type: 'number', arg: 'B', help: 'questions decoded together', default: 16 },
  samples: {
    type: 'number',
    arg: 'M',
    help: `also sample M rationales per question (2 to ${MAX_CONSISTENCY_SAMPLES}) and add "consistency": agreement with the\nmajority answer, majority-vote (self-consistency) accuracy, sample accuracy and the\nanswer KL between two sampled rationales (README "Consistency metrics")`,
  },
  temperature: { type: 'number', arg: 'T', help: 'sampling temperature with --samples', default: 1 },
  seed: { type: 'number', arg: 'S', help: 'seed of the samples', default: 1 },
});

export const INSPECT_FLAGS = flagTable({
  data: { type: 'string', arg: 'FILE', help: 'teacher file (or evaluation file with --eval)' },
  eval: { type: 'boolean', help: 'read FILE as an evaluation file' },
  k: { type: 'number', arg: 'K', help: 'rationales kept per question', default: C.k },
  task: { ...TASK, help: 'number, choice, yesno or text (default: detected)' },
  seed: { type: 'number', arg: 'S', help: 'seed of the dev split', default: C.seed },
  'dev-fraction': { type: 'number', arg: 'F', help: 'share of questions held out as dev, in [0, 1)', default: C.devFraction },
  ngram: { type: 'number', arg: 'N', help: 'word n-gram size of the diversity filter', default: C.ngram },
  similarity: { type: 'number', arg: 'S', help: 'drop a rationale this similar to a kept one, in (0, 1]', default: C.similarityThreshold },
  'no-filter': { type: 'boolean', help: 'keep rationales whose answer is wrong' },
  unreadable: {
    ...UNREADABLE,
    help: "a rationale whose answer can't be read: keep-labelled (default: kept when the\nrecord marks it correct, e.g. Mentor-KD's initial_correct) or drop",
  },
  write: {
    type: 'string',
    arg: 'OUT',
    help: 'also write the curated training set to OUT (JSON Lines, one question a line,\ntrain and dev; reads back as a teacher file: README "Teacher files")',
  },
});

const MODEL_FLAGS = {
  student: { type: 'string', arg: 'DIR', help: 'a Hugging Face model folder (config.json, model.safetensors or shards, tokenizer.json)' },
  adapter: { type: 'string', arg: 'DIR', help: 'with --student: a PEFT LoRA adapter folder for that model' },
  run: {
    ...RUN_DIR,
    help: 'a run directory written by mcckd train --out; a run on a pretrained model reads its base\nfrom the folder its config.json names, or from --student DIR when given',
  },
} as const;

export const SCORE_FLAGS = flagTable({
  ...MODEL_FLAGS,
  text: { type: 'string', arg: 'TEXT', help: "text to score: ids are the tokenizer's encoding of it, without special tokens" },
  ids: { type: 'string', arg: 'I,J,...', help: 'or: token ids to score' },
  backend: { ...BACKEND, default: 'cpu' },
  'base-dtype': BASE_DTYPE,
});

export const GENERATE_FLAGS = flagTable({
  ...MODEL_FLAGS,
  student: { ...MODEL_FLAGS.student, help: 'a Hugging Face model folder' },
  run: RUN_DIR,
  prompt: { type: 'string', arg: 'TEXT', help: 'the text to continue' },
  'max-new-tokens': { type: 'number', arg: 'N', help: 'at most N new tokens', default: 32 },
  backend: { ...BACKEND, default: 'cpu' },
  'base-dtype': BASE_DTYPE,
});

export const EXPORT_FLAGS = flagTable({
  run: RUN_DIR,
  format: {
    type: 'string',
    arg: 'F',
    help: [
      'hf: a Hugging Face model folder (config.json, model.safetensors with any LoRA merged,',
      '    generation_config.json, tokenizer.json, tokenizer_config.json), loadable by',
      '    transformers and by mcckd train/score --student',
      'peft: a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) for',
      "    the run's base (LoRA runs only)",
      'gguf: one GGUF file for llama.cpp',
      'recipe: the training recipe for PyTorch + PEFT + Accelerate (LoRA runs; needs --data):',
      '    recipe.yaml, data/*.jsonl, init_adapter/, train_mcckd.py, README.md',
    ].join('\n'),
  },
  out: { type: 'string', arg: 'PATH', help: 'the folder to create (hf, peft: absent or empty) or the file (gguf: absent)' },
  student: BASE_FOLDER,
  dtype: { type: 'string', arg: 'F32|F16', help: "how hf and gguf store the weights (default: the base's dtype, F32 from scratch)" },
  data: { type: 'string', arg: 'FILE', help: 'recipe: the teacher file the run trained on (curated again, checked by its fingerprint)' },
});

export const IMPORT_FLAGS = flagTable({
  adapter: { type: 'string', arg: 'DIR', help: 'the folder train_mcckd.py wrote: the PEFT adapter, metrics.jsonl, recipe.yaml' },
  student: { type: 'string', arg: 'DIR', help: 'the base model folder the adapter was trained on' },
  out: { type: 'string', arg: 'DIR', help: 'the run folder to create (new or empty)' },
});

/** Flags of `mcckd experiment` passed to each run's `mcckd train` unchanged. */
export const EXPERIMENT_TRAIN_FLAGS = [
  'steps',
  'preset',
  'backend',
  'batch',
  'lr',
  'k',
  'temperature',
  'warmup',
  'weight-decay',
  'vocab-size',
  'log-every',
  'max-new-tokens',
  'eval-every',
  'eval-every-limit',
  'prompt-template',
] as const satisfies readonly (keyof typeof TRAIN_FLAGS)[];

const pick = <T extends object, K extends keyof T>(t: T, keys: readonly K[]): Pick<T, K> =>
  Object.fromEntries(keys.map((k) => [k, t[k]])) as Pick<T, K>;

export const EXPERIMENT_FLAGS = flagTable({
  data: { type: 'string', arg: 'FILE', help: 'teacher file; every run trains on all of it' },
  eval: { type: 'string', arg: 'FILE', help: 'in-distribution evaluation file' },
  'eval-ood': { type: 'string', arg: 'FILE', help: 'out-of-distribution evaluation file' },
  alphas: { type: 'string', arg: 'A,A,...', help: 'consistency weights to compare; the first is the baseline of the paired differences' },
  seeds: {
    type: 'string',
    arg: 'S,S,...',
    help: `seeds (initial weights and data order), the same for every alpha; at most ${MAX_EXPERIMENT_SEEDS}`,
  },
  out: { type: 'string', arg: 'DIR', help: 'where runs and reports go', default: EXPERIMENT_DEFAULTS.out },
  samples: {
    type: 'number',
    arg: 'M',
    help: `rationales sampled per question for the consistency metrics (2 to ${MAX_CONSISTENCY_SAMPLES})`,
    default: EXPERIMENT_DEFAULTS.samples,
  },
  'sample-temperature': { type: 'number', arg: 'T', help: 'sampling temperature', default: EXPERIMENT_DEFAULTS.sampleTemperature },
  'sample-seed': { type: 'number', arg: 'S', help: 'seed of the samples', default: EXPERIMENT_DEFAULTS.sampleSeed },
  'eval-limit': { type: 'number', arg: 'N', help: 'evaluate the first N questions of each file' },
  // as mcckd train reads them
  ...pick(TRAIN_FLAGS, EXPERIMENT_TRAIN_FLAGS),
});

export const TEACH_FLAGS = flagTable({
  questions: {
    type: 'string',
    arg: 'FILE',
    help: 'questions with gold answers (any teacher or evaluation format; rationales ignored),\nor "demo" for the demo\'s training questions',
  },
  endpoint: { type: 'string', arg: 'URL', help: 'OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 (Ollama)' },
  model: { type: 'string', arg: 'NAME', help: 'model name the endpoint serves' },
  api: { type: 'string', arg: 'A', help: 'chat or completions', default: 'chat' },
  'api-key-env': { type: 'string', arg: 'VAR', help: 'environment variable holding the API key (sent as a Bearer token)' },
  gguf: { type: 'string', arg: 'FILE', help: 'or: a GGUF model run by llama.cpp in this process (CPU)' },
  threads: { type: 'number', arg: 'N', help: 'CPU threads of --gguf (default: the cores, at most 8)' },
  samples: { type: 'number', arg: 'K', help: 'samples per question', default: TEACH_DEFAULTS.samples },
  out: { type: 'string', arg: 'FILE', help: 'native teacher JSONL to write; samples are kept in OUT.samples.jsonl as they arrive' },
  resume: { type: 'boolean', help: 'continue the samples file of --out (asks only the samples it lacks)' },
  reask: { type: 'boolean', help: 'ask K more samples for the questions that kept fewer than 2 rationales' },
  temperature: { type: 'number', arg: 'T', help: 'sampling temperature', default: TEACH_DEFAULTS.temperature },
  'top-p': { type: 'number', arg: 'P', help: 'nucleus sampling', default: TEACH_DEFAULTS.topP },
  'max-tokens': { type: 'number', arg: 'N', help: 'longest rationale, tokens', default: TEACH_DEFAULTS.maxTokens },
  seed: { type: 'number', arg: 'S', help: 'base seed; each sample gets its own from it', default: TEACH_DEFAULTS.seed },
  concurrency: { type: 'number', arg: 'N', help: 'requests in flight', default: TEACH_DEFAULTS.concurrency },
  retries: { type: 'number', arg: 'N', help: 'retries of a sample on 429, 5xx, timeouts', default: TEACH_DEFAULTS.retries },
  timeout: { type: 'number', arg: 'S', help: 'per-request timeout, seconds', default: TEACH_DEFAULTS.timeoutMs / 1000 },
  template: { type: 'string', arg: 'FILE', help: 'prompt template file with {question} (and optionally {choices})' },
  'template-preset': {
    type: 'string',
    arg: 'NAME',
    help: 'few-shot: a chain-of-thought template per task type (default); student: "Q: {question}\\nA: ",\nfor a GGUF exported from our own student',
  },
  task: TASK,
  k: { type: 'number', arg: 'K', help: 'rationales kept per question in the report (curation K)', default: C.k },
});
