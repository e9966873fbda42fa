// `mcckd` entry point: train | eval | inspect | score | generate. Machine-readable results go to
// stdout as JSON (one object per line), progress to stderr, and every failure
// exits non-zero with a one-line reason. `mcckd COMMAND --help` prints that
// command's usage on stdout and exits 0.

import { DEFAULT_TRAIN as D, PRETRAINED_LR } from '../core/config';
import { CURATION_DEFAULTS as C } from '../data/defaults';
import { UsageError } from './args';

type Command = 'train' | 'eval' | 'inspect' | 'score' | 'generate';

/** Each command's usage: its synopsis (also listed by the top-level usage)
 * and its options, one line each. Keep in step with each command's flags. */
const COMMANDS: Record<Command, { synopsis: string; options: string }> = {
  train: {
    synopsis: `  mcckd train --data FILE [--eval FILE] [--preset tiny|small|base] [--alpha A] [--temperature T]
              [--k K] [--steps N | --epochs E] [--batch B] [--lr LR] [--seed S]
              [--backend cpu|wasm|webgpu] [--out DIR] [--resume DIR] [--log-every N]
              [--save-every N] [--stop-at N] [--eval-limit N] [--vocab-size V]
              [--max-new-tokens N] [--warmup N] [--weight-decay W] [--recompute]
              [--student DIR [--lora-rank R] [--lora-alpha A] [--lora-targets M,M,...]]
              [--prompt-template T]`,
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
  --max-new-tokens N     generation length when evaluating
  --recompute            recompute each block's activations in the backward (less memory, one more forward)
  --prompt-template T    what the student reads before its rationale; {question} is replaced
                         (default "Q: {question}\\nA: ")
  --student DIR          fine-tune a pretrained Hugging Face model folder (config.json, model.safetensors
                         or shards, tokenizer.json): GPT-2, LLaMA / SmolLM2 / TinyLlama-shaped, Qwen2
  --lora-rank R          LoRA rank with --student (default 8; 0 trains every weight)
  --lora-alpha A         LoRA alpha: the update is scaled by alpha / rank (default 16)
  --lora-targets M,...   projections to adapt (default: the attention projections, c_attn,c_proj for
                         GPT-2, q_proj,k_proj,v_proj,o_proj for LLaMA / Qwen2)
  With --student the learning rate defaults to ${PRETRAINED_LR.lora} (LoRA) or ${PRETRAINED_LR.full} (every weight).`,
  },
  eval: {
    synopsis: '  mcckd eval --run DIR --data FILE [--limit N] [--backend cpu|wasm|webgpu] [--max-new-tokens N] [--task T] [--student DIR]',
    options: `Evaluates a saved run on an evaluation file; one JSON object on stdout.
  --run DIR              run directory written by mcckd train --out
  --data FILE            evaluation file (questions and answers)
  --limit N              evaluate at most N questions
  --backend NAME         cpu, wasm or webgpu (default ${D.backend})
  --max-new-tokens N     generation length
  --task T               number, choice, yesno or text: how answers are compared (default: detected)
  --student DIR          the base folder of a run on a pretrained model (default: the folder its config.json names)`,
  },
  inspect: {
    synopsis: '  mcckd inspect --data FILE [--eval] [--k K] [--task T] [curation options]',
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
See docs/data.md for curation.`,
  },
  score: {
    synopsis: '  mcckd score (--student DIR | --run DIR) (--text TEXT | --ids I,J,...) [--backend cpu|wasm|webgpu]',
    options: `Per-token log-probabilities; one JSON object {"ids": [...], "logprobs": [null, ...]} on stdout,
logprobs[i] = log P(ids[i] | ids[0..i-1]).
  --student DIR          a Hugging Face model folder (config.json, model.safetensors or shards, tokenizer.json)
  --run DIR              a run directory written by mcckd train --out; a run on a pretrained model reads its base
                         from the folder its config.json names, or from --student DIR when given
  --text TEXT            text to score: ids are the tokenizer's encoding of it, without special tokens
  --ids I,J,...          or: token ids to score
  --backend NAME         cpu, wasm or webgpu (default cpu)`,
  },
  generate: {
    synopsis: '  mcckd generate (--student DIR | --run DIR) --prompt TEXT [--max-new-tokens N] [--backend cpu|wasm|webgpu]',
    options: `Greedy continuation of a prompt; one JSON object {"promptIds", "ids", "text"} on stdout.
The prompt is read as training reads it (a pretrained tokenizer drops its trailing spaces:
they begin the continuation). Stops at the end token or after N new tokens.
  --student DIR          a Hugging Face model folder
  --run DIR              a run directory written by mcckd train --out
  --prompt TEXT          the text to continue
  --max-new-tokens N     at most N new tokens (default 32)
  --backend NAME         cpu, wasm or webgpu (default cpu)`,
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
      throw new UsageError(`unknown command "${command}" (expected train, eval, inspect, score or generate)`);
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
