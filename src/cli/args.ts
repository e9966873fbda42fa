// Strict flag parsing with Node's util.parseArgs, from one table per command
// (src/cli/flags.ts) that also writes that command's --help. Unknown flags and
// bad numbers are errors with a one-line reason, never silently ignored, and
// the values are typed by the table: a misspelt flag name in code does not
// compile.

import { parseArgs } from 'node:util';
import type { TaskType, UnreadablePolicy } from '../data/types';

export class UsageError extends Error {}

interface FlagDef {
  type: 'string' | 'number' | 'boolean';
  /** What the value is called in --help (FILE, N, ...); none for a boolean. */
  arg?: string;
  /** One line for --help; "\n" continues it on the next line. */
  help: string;
  /** Shown in --help only: a flag not given reads as undefined, so a command
   * can tell "not given" (a resumed run keeps its own setting) from a value. */
  default?: string | number;
}

export type FlagTable = Readonly<Record<string, FlagDef>>;

type ValueOf<D extends FlagDef> = D['type'] extends 'number' ? number : D['type'] extends 'boolean' ? boolean : string;

/** What parseFlags returns for `table`: each flag given, by its name. */
export type Flags<T extends FlagTable> = { [K in keyof T]?: ValueOf<T[K]> };

type NamesOf<T extends FlagTable, Type extends FlagDef['type']> = { [K in keyof T]: T[K]['type'] extends Type ? K : never }[keyof T] &
  string;

/** A table with its literal types kept (so Flags<T> knows each flag's type). */
export function flagTable<const T extends FlagTable>(table: T): T {
  return table;
}

export function parseFlags<T extends FlagTable>(argv: string[], table: T): Flags<T> {
  // "--name value" becomes "--name=value" for a flag that takes one, so a
  // value may begin with "-" (--seed -1, --prompt-template "- {question}"),
  // which parseArgs alone would refuse as ambiguous.
  const args: string[] = [];
  const explicitFalse = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq >= 0 ? eq : undefined) : undefined;
    const def = name !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
    if (def && def.type !== 'boolean' && eq < 0) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      args.push(`${arg}=${argv[++i]}`);
    } else if (def?.type === 'boolean' && eq >= 0) {
      // --flag=false turns a boolean off; any other value turns it on
      if (arg.slice(eq + 1) === 'false') explicitFalse.add(name as string);
      else args.push(`--${name}`);
    } else args.push(arg);
  }
  const options = Object.fromEntries(
    Object.entries(table).map(([k, d]) => [k, { type: d.type === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(parseArgsMessage(e));
  }
  const out: Record<string, string | number | boolean> = {};
  for (const name of explicitFalse) if (values[name] === undefined) out[name] = false;
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (table[name]?.type === 'number') {
      const n = Number(value);
      if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n))
        throw new UsageError(`--${name} must be a number, got "${String(value)}"`);
      out[name] = n;
    } else out[name] = value;
  }
  return out as Flags<T>;
}

/** parseArgs's error as our one line: "unknown option --x", "unexpected argument "x"". */
function parseArgsMessage(e: unknown): string {
  const code = (e as { code?: string }).code;
  const msg = e instanceof Error ? e.message : String(e);
  const quoted = /'([^']*)'/.exec(msg)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted) return `unknown option ${quoted}`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && quoted !== undefined) return `unexpected argument "${quoted}"`;
  return msg.split('\n')[0] ?? msg;
}

/** The --help lines of a table: "  --name ARG   help", continuations aligned. */
export function flagsHelp(table: FlagTable): string {
  const col = 25;
  return Object.entries(table)
    .map(([name, d]) => {
      const head = `  --${name}${d.arg ? ` ${d.arg}` : ''}`;
      const [first = '', ...rest] = d.help.split('\n');
      const line = `${head.padEnd(Math.max(col, head.length + 2))}${first}${d.default !== undefined ? ` (default ${d.default})` : ''}`;
      return [line, ...rest.map((r) => `${' '.repeat(col)}${r}`)].join('\n');
    })
    .join('\n');
}

export function str<T extends FlagTable>(flags: Flags<T>, name: NamesOf<T, 'string'>): string | undefined {
  return flags[name] as string | undefined;
}

export function num<T extends FlagTable>(flags: Flags<T>, name: NamesOf<T, 'number'>): number | undefined {
  return flags[name] as number | undefined;
}

export function positiveInt<T extends FlagTable>(flags: Flags<T>, name: NamesOf<T, 'number'>): number | undefined {
  const v = num(flags, name);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return v;
}

const TASKS: readonly TaskType[] = ['number', 'choice', 'yesno', 'text'];

/** --task: overrides the task type detected from the gold answers. */
export function taskType(flags: { task?: string }): TaskType | undefined {
  const task = flags.task;
  if (task !== undefined && !TASKS.includes(task as TaskType))
    throw new UsageError(`--task must be one of ${TASKS.join(', ')}, got "${task}"`);
  return task as TaskType | undefined;
}

/** --unreadable: curation's policy for a rationale whose answer can't be read. */
export function unreadableOf(flags: { unreadable?: string }): UnreadablePolicy | undefined {
  const p = flags.unreadable;
  if (p !== undefined && p !== 'drop' && p !== 'keep-labelled')
    throw new UsageError(`--unreadable must be keep-labelled or drop, got "${p}"`);
  return p;
}
