// `mcckd` entry point: train | eval | inspect. Machine-readable results go to
// stdout as JSON (one object per line), progress to stderr, and every failure
// exits non-zero with a one-line reason.

import { UsageError } from './args';

const USAGE = `usage:
  mcckd train --data FILE [--eval FILE] [--preset tiny|small|base] [--alpha A] [--temperature T]
              [--k K] [--steps N | --epochs E] [--batch B] [--lr LR] [--seed S]
              [--backend cpu|wasm|webgpu] [--out DIR] [--resume DIR] [--log-every N]
              [--save-every N] [--stop-at N] [--eval-limit N] [--vocab-size V]
              [--max-new-tokens N] [--warmup N] [--weight-decay W]
  mcckd eval --run DIR --data FILE [--limit N] [--backend cpu|wasm|webgpu]
  mcckd inspect --data FILE [curation options]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'train':
      return (await import('./train')).runTrain(rest);
    case 'eval':
      return (await import('./evaluate')).runEval(rest);
    case 'inspect':
      return (await import('./inspect')).runInspect(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stderr.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}" (expected train, eval or inspect)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`mcckd: ${msg.split('\n')[0]}\n`);
    if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    if (process.env.MCCKD_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
