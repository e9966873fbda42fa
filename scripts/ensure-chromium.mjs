#!/usr/bin/env node
// `npm test`'s pretest: the browser tests drive Debian's Chromium at
// /usr/bin/chromium (support/browser.ts). When it is missing, install
// Debian's package where we can (root, or password-less sudo, with apt-get):
// `apt-get update` then `apt-get install -y chromium`, non-interactive. When
// it is still missing, say loudly what to run; the unit tests still run and
// the browser tests skip with a message, except under CI (CI=true), where
// skipping them silently is not allowed: exit 1.
//
// MCCKD_CHROMIUM overrides the path checked (for tests of this script, or to
// check another layout); MCCKD_NO_INSTALL=1 never installs.
// Plain Node (no tsx, no dependencies): it runs before anything else.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** The path the browser tests use (overridable for tests). */
export function chromiumPath(env) {
  return env.MCCKD_CHROMIUM || DEFAULT_CHROMIUM;
}

/** CI=true (or any value but "", "0", "false"). */
export function isCI(env) {
  const v = (env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

/** An executable `name` on env.PATH, or undefined. */
export function which(name, env) {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const f = path.join(dir, name);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** How we could install: the command prefix ([] as root, ['sudo', '-n']
 * with password-less sudo), or undefined when we can't. */
export function installPrefix(env, o) {
  if (env.MCCKD_NO_INSTALL === '1' || o.platform !== 'linux' || !o.aptGet) return undefined;
  if (o.root) return [];
  return o.sudo ? ['sudo', '-n'] : undefined;
}

/**
 * The decision, a pure function of what we know:
 * - 'ready': Chromium is there;
 * - 'install': missing, and we can install (not tried yet);
 * - 'skip-browser': missing, can't (or tried): warn, run the unit tests;
 * - 'fail': missing under CI after whatever we could try: exit 1.
 */
export function decide({ present, canInstall, attempted, ci }) {
  if (present) return 'ready';
  if (canInstall && !attempted) return 'install';
  return ci ? 'fail' : 'skip-browser';
}

/** What to tell a person to run, as lines. */
export function advice(chromium, o) {
  return [
    `Chromium is missing (${chromium}): the browser tests (test/e2e) need Debian's chromium.`,
    !o.attempted
      ? 'It could not be installed from here (this needs apt-get, and root or password-less sudo).'
      : o.installed
        ? `apt-get installed chromium, but ${chromium} is still missing.`
        : "Installing it did not work (see apt-get's output above).",
    'Install it with:',
    '',
    '    sudo apt-get update && sudo apt-get install -y chromium',
    '',
    'then run `npm test` again.',
    o.ci
      ? 'CI=true: failing, because CI must not skip the browser tests.'
      : 'Meanwhile the unit tests run and the browser tests are skipped.',
  ];
}

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '#'.repeat(width);
  process.stderr.write(`\n${bar}\n${lines.map((l) => `# ${l.padEnd(width - 4)} #`).join('\n')}\n${bar}\n\n`);
}

function install(prefix, env) {
  const run = (args) => {
    const [cmd, ...rest] = [...prefix, ...args];
    process.stderr.write(`ensure-chromium: ${[cmd, ...rest].join(' ')}\n`);
    const r = spawnSync(cmd, rest, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
    return r.status === 0;
  };
  return run(['apt-get', 'update', '-q']) && run(['apt-get', 'install', '-y', '-q', 'chromium']);
}

export function main(env = process.env) {
  const chromium = chromiumPath(env);
  if (existsSync(chromium)) return 0; // the usual case: nothing to look up
  const ci = isCI(env);
  const aptGet = which('apt-get', env);
  const root = process.getuid?.() === 0;
  const sudo = !root && !!which('sudo', env) && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', env }).status === 0;
  const prefix = installPrefix(env, { platform: process.platform, aptGet, root, sudo });
  let attempted = false;
  let installed = false;
  for (;;) {
    const step = decide({ present: existsSync(chromium), canInstall: prefix !== undefined, attempted, ci });
    if (step === 'ready') {
      if (attempted) process.stderr.write(`ensure-chromium: ${chromium} installed\n`);
      return 0;
    }
    if (step === 'install') {
      process.stderr.write(`ensure-chromium: ${chromium} is missing; installing Debian's chromium for the browser tests\n`);
      installed = install(prefix, env);
      attempted = true;
      continue;
    }
    banner(advice(chromium, { attempted, installed, ci }));
    return step === 'fail' ? 1 : 0;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
