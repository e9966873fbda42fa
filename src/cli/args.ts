// Small, strict flag parsing: unknown flags and bad numbers are errors with a
// one-line reason, never silently ignored.

import type { TaskType, UnreadablePolicy } from '../data/types';

export class UsageError extends Error {}

export type FlagSpec = Record<string, 'string' | 'number' | 'boolean'>;
export type Flags = Record<string, string | number | boolean | undefined>;

export function parseFlags(argv: string[], spec: FlagSpec): Flags {
  const out: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'boolean') {
      out[name] = value === undefined ? true : value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    if (kind === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  return out;
}

export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function num(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  return typeof v === 'number' ? v : undefined;
}

const TASKS: readonly TaskType[] = ['number', 'choice', 'yesno', 'text'];

/** --task: overrides the task type detected from the gold answers. */
export function taskType(flags: Flags): TaskType | undefined {
  const task = str(flags, 'task');
  if (task !== undefined && !TASKS.includes(task as TaskType)) throw new UsageError(`--task must be one of ${TASKS.join(', ')}, got "${task}"`);
  return task as TaskType | undefined;
}

/** --unreadable: curation's policy for a rationale whose answer can't be read. */
export function unreadableOf(flags: Flags): UnreadablePolicy | undefined {
  const p = str(flags, 'unreadable');
  if (p !== undefined && p !== 'drop' && p !== 'keep-labelled') throw new UsageError(`--unreadable must be keep-labelled or drop, got "${p}"`);
  return p;
}

export function positiveInt(flags: Flags, name: string): number | undefined {
  const v = num(flags, name);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return v;
}
