// `mcckd` entry point: train | eval | inspect | score | generate | export | experiment. Machine-readable results go to
// stdout as JSON (one object per line), progress to stderr, and every failure
// exits non-zero with a one-line reason. `mcckd COMMAND --help` prints that
// command's usage on stdout and exits 0.

import { DEFAULT_TRAIN as D, PRETRAINED_LR } from '../core/config';
import { CURATION_DEFAULTS as C } from '../data/defaults';
import { UsageError } from './args';

type Command = 'train' | 'eval' | 'inspect' | 'score' | 'generate' | 'export' | 'experiment';

/** Each command's usage: its synopsis (also listed by the top-level usage)
 * and its options, one line each. Keep in step with each command's flags. */
const COMMANDS: Record<Command, { synopsis: string; options: string }> = {
  train: {
    synopsis: `  mcckd train --data FILE [--eval FILE] [--preset tiny|small|base] [--alpha A] [--temperature T]
              [--k K] [--steps N | --epochs E] [--batch B] [--lr LR] [--seed S]
              [--backend cpu|wasm|webgpu] [--out DIR] [--resume DIR] [--log-every N]
              [--save-every N] [--stop-at N] [--eval-limit N] [--vocab-size V]
              [--max-new-tokens N] [--warmup N] [--weight-decay W] [--recompute]
              [--student DIR [--lora-rank R] [--lora-alpha A] [--lora-targets M,M,...] | --adapter DIR]]
              [--prompt-template T] [--eval-every N [--eval-every-limit Q]]`,
    options: `Trains (or resumes) a student on a teacher file; one JSON object per logged step on stdout.
  --data FILE            teacher file (JSON array or JSON Lines, any supported format)
  --eval FILE            evaluation file; without it a seeded 10% dev split is held out
  --preset NAME          tiny, small or base (default ${D.preset})
  --alpha A              weight of the MCC-KD consistency term (default ${D.alpha}; 0 = plain multi-rationale)
  --temperature T        softmax temperature of the KL term (default ${D.temperature})
  --k K                  rationales kept per question (default ${C.k})
  --steps N              total steps of the run (the cosine schedule spans them; default ${D.steps})
  --epochs E             or: passes over the questions (instead of --steps)
  --batch B              questions per step (default ${D.batchSize})
  --lr LR                peak learning rate (default ${D.lr})
  --warmup N             warm-up steps (default ${D.warmupSteps})
  --weight-decay W       AdamW weight decay (default ${D.weightDecay})
  --seed S               seed of the initial weights, data order and dev split (default ${D.seed})
  --vocab-size V         tokenizer vocabulary size (default: the preset's)
  --backend NAME         cpu, wasm or webgpu (default ${D.backend}; an unusable one is an error)
  --out DIR              run directory to save to
  --resume DIR           continue the run saved in DIR (saves there unless --out)
  --log-every N          log every N steps (default ${D.logEvery})
  --save-every N         also save every N steps
  --stop-at N            save and stop after step N (train a long run in sessions)
  --eval-limit N         evaluate at most N questions after training
  --eval-every N         also evaluate every N steps (greedy, batched) on the first Q held-out questions:
                         a JSON line {"step", "eval": {"accuracy", "correct", "total"}} among the step lines
  --eval-every-limit Q   questions evaluated every N steps (default 32)
  --max-new-tokens N     generation length when evaluating
  --recompute            recompute each block's activations in the backward (less memory, one more forward)
  --unreadable P         keep-labelled (default) or drop: a rationale whose answer can't be read but whose
                         record marks it correct (Mentor-KD's initial_correct) is kept with the answer appended
  --prompt-template T    what the student reads before its rationale; {question} is replaced
                         (default "Q: {question}\\nA: ")
  --student DIR          fine-tune a pretrained Hugging Face model folder (config.json, model.safetensors
                         or shards, tokenizer.json): GPT-2, LLaMA / SmolLM2 / TinyLlama-shaped, Qwen2
  --lora-rank R          LoRA rank with --student (default 8; 0 trains every weight)
  --lora-alpha A         LoRA alpha: the update is scaled by alpha / rank (default 16)
  --lora-targets M,...   projections to adapt (default: the attention projections, c_attn,c_proj for
                         GPT-2, q_proj,k_proj,v_proj,o_proj for LLaMA / Qwen2)
  --adapter DIR          with --student: start the LoRA from this PEFT adapter (its r, alpha, targets
                         and tensors; e.g. one mcckd export --format peft wrote for that base)
  With --student the learning rate defaults to ${PRETRAINED_LR.lora} (LoRA) or ${PRETRAINED_LR.full} (every weight).`,
  },
  eval: {
    synopsis: `  mcckd eval --run DIR --data FILE [--limit N] [--backend cpu|wasm|webgpu] [--max-new-tokens N] [--task T] [--student DIR]
             [--batch B] [--samples M [--temperature T] [--seed S]]`,
    options: `Evaluates a saved run on an evaluation file; one JSON object on stdout.
  --run DIR              run directory written by mcckd train --out
  --data FILE            evaluation file (questions and answers)
  --limit N              evaluate at most N questions
  --backend NAME         cpu, wasm or webgpu (default ${D.backend})
  --max-new-tokens N     generation length
  --task T               number, choice, yesno or text: how answers are compared (default: detected)
  --student DIR          the base folder of a run on a pretrained model (default: the folder its config.json names)
  --batch B              questions decoded together (default 16)
  --samples M            also sample M rationales per question and add "consistency": agreement with the
                         majority answer, majority-vote (self-consistency) accuracy, sample accuracy and the
                         answer KL between two sampled rationales (README "Consistency metrics")
  --temperature T        sampling temperature with --samples (default 1)
  --seed S               seed of the samples (default 1)`,
  },
  inspect: {
    synopsis: '  mcckd inspect --data FILE [--eval] [--k K] [--task T] [curation options] [--write OUT]',
    options: `Reads and curates a file exactly as training would; the data report as JSON on stdout.
  --data FILE            teacher file (or evaluation file with --eval)
  --eval                 read FILE as an evaluation file
  --k K                  rationales kept per question (default ${C.k})
  --task T               number, choice, yesno or text (default: detected)
  --seed S               seed of the dev split (default ${C.seed})
  --dev-fraction F       share of questions held out as dev, in [0, 1) (default ${C.devFraction})
  --ngram N              word n-gram size of the diversity filter (default ${C.ngram})
  --similarity S         drop a rationale this similar to a kept one, in (0, 1] (default ${C.similarityThreshold})
  --no-filter            keep rationales whose answer is wrong
  --unreadable P         a rationale whose answer can't be read: keep-labelled (default: kept when the
                         record marks it correct, e.g. Mentor-KD's initial_correct) or drop
  --write OUT            also write the curated training set to OUT (JSON Lines, one question a line,
                         train and dev; reads back as a teacher file: README "Teacher files")
See docs/data.md for curation.`,
  },
  score: {
    synopsis: '  mcckd score (--student DIR [--adapter DIR] | --run DIR) (--text TEXT | --ids I,J,...) [--backend cpu|wasm|webgpu]',
    options: `Per-token log-probabilities; one JSON object {"ids": [...], "logprobs": [null, ...]} on stdout,
logprobs[i] = log P(ids[i] | ids[0..i-1]).
  --student DIR          a Hugging Face model folder (config.json, model.safetensors or shards, tokenizer.json)
  --adapter DIR          with --student: a PEFT LoRA adapter folder for that model
  --run DIR              a run directory written by mcckd train --out; a run on a pretrained model reads its base
                         from the folder its config.json names, or from --student DIR when given
  --text TEXT            text to score: ids are the tokenizer's encoding of it, without special tokens
  --ids I,J,...          or: token ids to score
  --backend NAME         cpu, wasm or webgpu (default cpu)`,
  },
  generate: {
    synopsis: '  mcckd generate (--student DIR [--adapter DIR] | --run DIR) --prompt TEXT [--max-new-tokens N] [--backend cpu|wasm|webgpu]',
    options: `Greedy continuation of a prompt; one JSON object {"promptIds", "ids", "text"} on stdout.
The prompt is read as training reads it (a pretrained tokenizer drops its trailing spaces:
they begin the continuation). Stops at the end token or after N new tokens.
  --student DIR          a Hugging Face model folder
  --adapter DIR          with --student: a PEFT LoRA adapter folder for that model
  --run DIR              a run directory written by mcckd train --out
  --prompt TEXT          the text to continue
  --max-new-tokens N     at most N new tokens (default 32)
  --backend NAME         cpu, wasm or webgpu (default cpu)`,
  },
  export: {
    synopsis: '  mcckd export --run DIR --format hf|peft|gguf --out PATH [--student DIR] [--dtype F32|F16]',
    options: `Exports a saved run with a model card (README.md); one JSON object {"format", "out", "files", "bytes"} on stdout.
  --run DIR              a run directory written by mcckd train --out
  --format F             hf: a Hugging Face model folder (config.json, model.safetensors with any LoRA merged,
                             generation_config.json, tokenizer.json, tokenizer_config.json), loadable by
                             transformers and by mcckd train/score --student
                         peft: a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) for
                             the run's base (LoRA runs only)
                         gguf: one GGUF file for llama.cpp
  --out PATH             the folder to create (hf, peft: absent or empty) or the file (gguf: absent)
  --student DIR          the base folder of a run on a pretrained model (default: the folder its config.json names)
  --dtype F32|F16        how hf and gguf store the weights (default: the base's dtype, F32 from scratch)`,
  },
  experiment: {
    synopsis: `  mcckd experiment --data FILE --eval FILE [--eval-ood FILE] --alphas A,A,... --seeds S,S,...
              [--steps N] [--preset P] [--backend B] [--samples M] [--out DIR] [train options]`,
    options: `Trains every (alpha, seed) with the same budget (as mcckd train does), evaluates each run on the
in-distribution and out-of-distribution files (as mcckd eval --samples does) and writes DIR/report.json,
DIR/report.md (mean ± sd over seeds per alpha; alpha minus the first alpha, paired by seed) and
DIR/curves.svg (loss per step, and accuracy while training with --eval-every). A run whose result
exists in DIR/runs is kept; an interrupted one resumes from its checkpoint.
  --data FILE            teacher file; every run trains on all of it
  --eval FILE            in-distribution evaluation file
  --eval-ood FILE        out-of-distribution evaluation file
  --alphas A,A,...       consistency weights to compare; the first is the baseline of the paired differences
  --seeds S,S,...        seeds (initial weights and data order), the same for every alpha
  --out DIR              where runs and reports go (default experiment)
  --samples M            rationales sampled per question for the consistency metrics (default 4)
  --sample-temperature T sampling temperature (default 1)
  --sample-seed S        seed of the samples (default 1)
  --eval-limit N         evaluate the first N questions of each file
  --steps N              steps of every run (default ${D.steps})
  --preset NAME          tiny, small or base (default ${D.preset})
  --backend NAME         cpu, wasm or webgpu (default ${D.backend})
  --batch B              questions per step (default ${D.batchSize})
  --lr LR                peak learning rate (default ${D.lr})
  --k K                  rationales kept per question (default ${C.k})
  --temperature T        softmax temperature of the KL term (default ${D.temperature})
  --warmup N             warm-up steps (default ${D.warmupSteps})
  --weight-decay W       AdamW weight decay (default ${D.weightDecay})
  --vocab-size V         tokenizer vocabulary size (default: the preset's)
  --log-every N          log the loss every N steps (default ${D.logEvery})
  --max-new-tokens N     generation length when evaluating
  --eval-every N         evaluate every N steps while training (accuracy curves)
  --eval-every-limit Q   questions evaluated every N steps (default 32)
  --prompt-template T    what the student reads before its rationale; {question} is replaced`,
  },
};

const isCommand = (c: string | undefined): c is Command => c !== undefined && Object.hasOwn(COMMANDS, c);

const USAGE = `usage:
${Object.values(COMMANDS).map((c) => c.synopsis).join('\n')}
  mcckd COMMAND --help   a command's options`;

/** The usage of `command` (with its options when `full`), or the top-level usage. */
function usage(command: string | undefined, full = true): string {
  if (!isCommand(command)) return USAGE;
  const c = COMMANDS[command];
  return full ? `usage:\n${c.synopsis}\n\n${c.options}` : `usage:\n${c.synopsis}\n  (mcckd ${command} --help lists the options)`;
}

const wantsHelp = (args: string[]): boolean => args.some((a) => a === '--help' || a === '-h');

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (isCommand(command) && wantsHelp(rest)) {
    process.stdout.write(`${usage(command)}\n`);
    return 0;
  }
  switch (command) {
    case 'train':
      return (await import('./train')).runTrain(rest);
    case 'eval':
      return (await import('./evaluate')).runEval(rest);
    case 'inspect':
      return (await import('./inspect')).runInspect(rest);
    case 'score':
      return (await import('./student')).runScore(rest);
    case 'generate':
      return (await import('./student')).runGenerate(rest);
    case 'export':
      return (await import('./export')).runExport(rest);
    case 'experiment':
      return (await import('./experiment')).runExperiment(rest);
    case undefined:
      process.stderr.write(`${USAGE}\n`);
      return 2;
    case '--help':
    case '-h':
    case 'help':
      // `mcckd help train` is `mcckd train --help`
      process.stdout.write(`${usage(rest[0])}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}" (expected train, eval, inspect, score, generate, export or experiment)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`mcckd: ${msg.split('\n')[0]}\n`);
    if (err instanceof UsageError) process.stderr.write(`${usage(process.argv[2], false)}\n`);
    if (process.env.MCCKD_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
