// `mcckd` entry point: train | eval | inspect | score | generate | export | import | experiment | teach. Machine-readable results go to
// stdout as JSON (one object per line), progress to stderr, and every failure
// exits non-zero with a one-line reason. `mcckd COMMAND --help` prints that
// command's usage on stdout and exits 0.

import { flagsHelp, UsageError, type FlagTable } from './args';
import {
  EVAL_FLAGS,
  EXPERIMENT_FLAGS,
  EXPORT_FLAGS,
  GENERATE_FLAGS,
  IMPORT_FLAGS,
  INSPECT_FLAGS,
  SCORE_FLAGS,
  TEACH_FLAGS,
  TRAIN_FLAGS,
  TRAIN_NOTE,
} from './flags';

type Command = 'train' | 'eval' | 'inspect' | 'score' | 'generate' | 'export' | 'import' | 'experiment' | 'teach';

/** Each command's usage: its synopsis (also listed by the top-level usage),
 * what it does, and its options, printed from the same table it parses with
 * (src/cli/flags.ts). */
const COMMANDS: Record<Command, { synopsis: string; about: string; flags: FlagTable; note?: string }> = {
  train: {
    synopsis: `  mcckd train --data FILE [--eval FILE] [--preset tiny|small|base] [--alpha A] [--temperature T]
              [--k K] [--steps N | --epochs E] [--batch B] [--lr LR] [--seed S]
              [--backend cpu|wasm|webgpu] [--out DIR] [--resume DIR] [--log-every N]
              [--save-every N] [--stop-at N] [--eval-limit N] [--vocab-size V]
              [--max-new-tokens N] [--warmup N] [--weight-decay W] [--recompute]
              [--student DIR [--lora-rank R] [--lora-alpha A] [--lora-targets M,M,...] | --adapter DIR]]
              [--base-dtype f32|f16|int8]
              [--prompt-template T] [--eval-every N [--eval-every-limit Q]]`,
    about: 'Trains (or resumes) a student on a teacher file; one JSON object per logged step on stdout.',
    flags: TRAIN_FLAGS,
    note: TRAIN_NOTE,
  },
  eval: {
    synopsis: `  mcckd eval --run DIR --data FILE [--limit N] [--backend cpu|wasm|webgpu] [--max-new-tokens N] [--task T] [--student DIR]
             [--batch B] [--samples M [--temperature T] [--seed S]] [--base-dtype f32|f16|int8]`,
    about: 'Evaluates a saved run on an evaluation file; one JSON object on stdout.',
    flags: EVAL_FLAGS,
  },
  inspect: {
    synopsis: '  mcckd inspect --data FILE [--eval] [--k K] [--task T] [curation options] [--write OUT]',
    about: 'Reads and curates a file exactly as training would; the data report as JSON on stdout.',
    flags: INSPECT_FLAGS,
    note: 'See docs/data.md for curation.',
  },
  score: {
    synopsis:
      '  mcckd score (--student DIR [--adapter DIR] | --run DIR) (--text TEXT | --ids I,J,...) [--backend cpu|wasm|webgpu]\n              [--base-dtype f32|f16|int8]',
    about: `Per-token log-probabilities; one JSON object {"ids": [...], "logprobs": [null, ...]} on stdout,
logprobs[i] = log P(ids[i] | ids[0..i-1]).`,
    flags: SCORE_FLAGS,
  },
  generate: {
    synopsis:
      '  mcckd generate (--student DIR [--adapter DIR] | --run DIR) --prompt TEXT [--max-new-tokens N] [--backend cpu|wasm|webgpu]\n                 [--base-dtype f32|f16|int8]',
    about: `Greedy continuation of a prompt; one JSON object {"promptIds", "ids", "text"} on stdout.
The prompt is read as training reads it (a pretrained tokenizer drops its trailing spaces:
they begin the continuation). Stops at the end token or after N new tokens.`,
    flags: GENERATE_FLAGS,
  },
  export: {
    synopsis: '  mcckd export --run DIR --format hf|peft|gguf|recipe --out PATH [--student DIR] [--dtype F32|F16] [--data FILE]',
    about: 'Exports a saved run with a model card (README.md); one JSON object {"format", "out", "files", "bytes"} on stdout.',
    flags: EXPORT_FLAGS,
  },
  import: {
    synopsis: '  mcckd import --adapter DIR --student DIR --out RUN',
    about: `Makes what the recipe's train_mcckd.py wrote (PEFT adapter, metrics.jsonl, recipe.yaml) an mcckd run
folder on its base; one JSON object {"out", "step", ...} on stdout. AdamW's moments are not carried over.`,
    flags: IMPORT_FLAGS,
  },
  experiment: {
    synopsis: `  mcckd experiment --data FILE --eval FILE [--eval-ood FILE] --alphas A,A,... --seeds S,S,...
              [--steps N] [--preset P] [--backend B] [--samples M] [--out DIR] [train options]`,
    about: `Trains every (alpha, seed) with the same budget (as mcckd train does), evaluates each run on the
in-distribution and out-of-distribution files (as mcckd eval --samples does) and writes DIR/report.json,
DIR/report.md (mean ± sd over seeds per alpha; alpha minus the first alpha, paired by seed) and
DIR/curves.svg (loss per step, and accuracy while training with --eval-every). A run whose result
exists in DIR/runs is kept; an interrupted one resumes from its checkpoint.`,
    flags: EXPERIMENT_FLAGS,
  },
  teach: {
    synopsis: `  mcckd teach --questions FILE (--endpoint URL --model NAME [--api chat|completions] [--api-key-env VAR] | --gguf FILE)
              --samples K --out FILE [--resume] [--reask] [--temperature T] [--top-p P] [--max-tokens N]
              [--seed S] [--concurrency N] [--template FILE | --template-preset few-shot|student]`,
    about: `Asks a teacher model K rationales per question, keeping each in OUT.samples.jsonl as it arrives
(Ctrl-C keeps them: --resume asks only what is missing), then writes the native teacher JSONL to
--out, prints the curation report on stderr and one JSON object on stdout.`,
    flags: TEACH_FLAGS,
    note: 'Exit 0 when every sample arrived, 1 when some are missing (--resume asks them), 130 on Ctrl-C.',
  },
};

const isCommand = (c: string | undefined): c is Command => c !== undefined && Object.hasOwn(COMMANDS, c);

const USAGE = `usage:
${Object.values(COMMANDS)
  .map((c) => c.synopsis)
  .join('\n')}
  mcckd COMMAND --help   a command's options`;

/** The usage of `command` (with its options when `full`), or the top-level usage. */
function usage(command: string | undefined, full = true): string {
  if (!isCommand(command)) return USAGE;
  const c = COMMANDS[command];
  const options = [c.about, flagsHelp(c.flags), ...(c.note ? [`  ${c.note}`] : [])].join('\n');
  return full ? `usage:\n${c.synopsis}\n\n${options}` : `usage:\n${c.synopsis}\n  (mcckd ${command} --help lists the options)`;
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
    case 'import':
      return (await import('./import')).runImport(rest);
    case 'experiment':
      return (await import('./experiment')).runExperiment(rest);
    case 'teach':
      return (await import('./teach')).runTeach(rest);
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
      throw new UsageError(
        `unknown command "${command}" (expected train, eval, inspect, score, generate, export, import, experiment or teach)`,
      );
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
