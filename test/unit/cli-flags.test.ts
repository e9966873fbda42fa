// The CLI's flag tables (src/cli/flags.ts) parsed by util.parseArgs
// (src/cli/args.ts): typed values, clear errors, the old parser's behaviours.
import { describe, expect, it } from 'vitest';
import { flagsHelp, num, parseFlags, positiveInt, str, UsageError } from '../../src/cli/args';
import { EXPERIMENT_FLAGS, INSPECT_FLAGS, TRAIN_FLAGS } from '../../src/cli/flags';

describe('parseFlags', () => {
  it('reads values by their table type, in both --name value and --name=value forms', () => {
    const f = parseFlags(['--data', 'a.json', '--alpha=0.5', '--steps', '10', '--recompute'], TRAIN_FLAGS);
    expect(f).toEqual({ data: 'a.json', alpha: 0.5, steps: 10, recompute: true });
    expect(str(f, 'data')).toBe('a.json');
    expect(num(f, 'alpha')).toBe(0.5);
    expect(positiveInt(f, 'steps')).toBe(10);
    expect(str(f, 'out')).toBeUndefined();
  });

  it('takes a value that begins with "-" (a negative number, a template)', () => {
    expect(parseFlags(['--seed', '-3', '--prompt-template', '- {question}'], TRAIN_FLAGS)).toEqual({
      seed: -3,
      'prompt-template': '- {question}',
    });
  });

  it('turns a boolean off with =false', () => {
    expect(parseFlags(['--no-filter=false'], INSPECT_FLAGS)).toEqual({ 'no-filter': false });
    expect(parseFlags(['--no-filter=yes'], INSPECT_FLAGS)).toEqual({ 'no-filter': true });
  });

  it('refuses an unknown flag, a positional, a missing value and a bad number, naming them', () => {
    const err = (argv: string[]): string => {
      try {
        parseFlags(argv, TRAIN_FLAGS);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err(['--lora-rnak', '4'])).toBe('unknown option --lora-rnak');
    expect(err(['stray'])).toBe('unexpected argument "stray"');
    expect(err(['--data'])).toBe('--data needs a value');
    expect(err(['--alpha', 'much'])).toBe('--alpha must be a number, got "much"');
    expect(() => positiveInt(parseFlags(['--steps', '1.5'], TRAIN_FLAGS), 'steps')).toThrow('--steps must be a positive integer, got 1.5');
  });

  it('a misspelt flag name in code does not compile', () => {
    const f = parseFlags([], TRAIN_FLAGS);
    // @ts-expect-error: no such flag
    expect(str(f, 'lora-rnak')).toBeUndefined();
    // @ts-expect-error: --alpha is a number, not a string
    expect(str(f, 'alpha')).toBeUndefined();
    // @ts-expect-error: no such flag
    expect(f.lora_rank).toBeUndefined();
  });

  it('experiment takes the train flags it passes on, with the same help', () => {
    expect(EXPERIMENT_FLAGS['weight-decay']).toBe(TRAIN_FLAGS['weight-decay']);
    expect(flagsHelp({ lr: TRAIN_FLAGS.lr })).toMatch(/^ {2}--lr LR {2,}peak learning rate \(default [\d.]+\)$/);
  });
});
