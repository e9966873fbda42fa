// `mcckd COMMAND --help` (and -h) prints that command's usage on stdout and
// exits 0, as a user runs it: `node bin/mcckd.js ...` in a child process.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin/mcckd.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function mcckd(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: process.env }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Flags each command's usage must name (its own), and flags only another
 * command has (so the text is that command's, not the top-level usage). */
const CASES = {
  train: {
    own: ['--data', '--eval', '--preset', '--alpha', '--steps', '--backend', '--out', '--resume', '--stop-at'],
    notOwn: ['--run', '--no-filter'],
  },
  eval: { own: ['--run', '--data', '--limit', '--backend'], notOwn: ['--alpha', '--resume', '--no-filter'] },
  inspect: { own: ['--data', '--eval', '--k', '--task', '--no-filter'], notOwn: ['--run', '--alpha'] },
} as const;

describe('mcckd COMMAND --help', () => {
  for (const [command, { own, notOwn }] of Object.entries(CASES)) {
    for (const flag of ['--help', '-h']) {
      it(`mcckd ${command} ${flag} prints the ${command} usage on stdout and exits 0`, async () => {
        const r = await mcckd([command, flag]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(new RegExp(`^usage:\\n  mcckd ${command} `));
        for (const f of own) expect(r.stdout).toMatch(new RegExp(`${f}\\b`));
        for (const f of notOwn) expect(r.stdout).not.toMatch(new RegExp(`${f}\\b`));
      });
    }
  }

  it('every option a usage lists is one the command accepts', async () => {
    for (const command of Object.keys(CASES)) {
      const help = (await mcckd([command, '--help'])).stdout;
      const options = [...help.matchAll(/^ {2}(--[\w-]+)( [A-Z]+)?\s{2,}/gm)];
      expect(options.length).toBeGreaterThan(3);
      // all at once: parsing refuses the first unknown one before anything runs
      const args = options.flatMap(([, flag, value]) =>
        value ? [flag, flag === '--data' || flag === '--run' ? '/nonexistent/mcckd' : '1'] : [flag],
      );
      const r = await mcckd([command, ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toMatch(/unknown option/);
    }
  });

  it('--help after other options still prints the usage without running the command', async () => {
    const r = await mcckd(['train', '--data', 'no-such-file.json', '--steps', '3', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage:\n {2}mcckd train /);
    expect(r.stderr).toBe('');
  });

  it('mcckd --help and mcckd help eval print usage on stdout and exit 0', async () => {
    const top = await mcckd(['--help']);
    expect(top.code).toBe(0);
    for (const c of Object.keys(CASES)) expect(top.stdout).toContain(`mcckd ${c} `);
    const ev = await mcckd(['help', 'eval']);
    expect(ev.code).toBe(0);
    expect(ev.stdout).toMatch(/^usage:\n {2}mcckd eval .*--run/);
  });

  it('a usage error names the command and still fails', async () => {
    const r = await mcckd(['eval', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mcckd: unknown option --frobnicate\n/);
    expect(r.stderr).toMatch(/mcckd eval --run DIR/);
    expect(r.stderr).toMatch(/mcckd eval --help/);
  });
});
