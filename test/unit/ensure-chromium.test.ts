// scripts/ensure-chromium.mjs, `npm test`'s pretest: Chromium present is a
// quiet no-op; missing, it is installed where we can (root with apt-get),
// else the unit tests still run with a loud note, except under CI=true,
// which fails rather than skip the browser tests.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = path.join(ROOT, 'scripts/ensure-chromium.mjs');

interface Decision {
  present: boolean;
  canInstall: boolean;
  attempted: boolean;
  ci: boolean;
}
interface Script {
  decide(d: Decision): 'ready' | 'install' | 'skip-browser' | 'fail';
  isCI(env: Record<string, string>): boolean;
  chromiumPath(env: Record<string, string>): string;
  installPrefix(env: Record<string, string>, o: { platform: string; aptGet?: string; root: boolean; sudo: boolean }): string[] | undefined;
}
// a plain .mjs (it runs before anything is built), typed here by hand
const load = async (): Promise<Script> => (await import(pathToFileURL(SCRIPT).href)) as Script;

/** Runs the script with exactly `env` (no inherited PATH: no apt-get unless given). */
function run(env: Record<string, string>): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT], { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr };
}

const emptyBin = (): string => mkdtempSync(path.join(tmpdir(), 'mcckd-bin-'));

describe('ensure-chromium: the decision', () => {
  it('present: ready, whatever else holds', async () => {
    const { decide } = await load();
    for (const ci of [false, true])
      for (const canInstall of [false, true]) expect(decide({ present: true, canInstall, attempted: false, ci })).toBe('ready');
  });

  it("missing: install once when we can; then, or when we can't, skip the browser tests, or fail under CI", async () => {
    const { decide } = await load();
    expect(decide({ present: false, canInstall: true, attempted: false, ci: false })).toBe('install');
    expect(decide({ present: false, canInstall: true, attempted: false, ci: true })).toBe('install');
    expect(decide({ present: false, canInstall: true, attempted: true, ci: false })).toBe('skip-browser');
    expect(decide({ present: false, canInstall: true, attempted: true, ci: true })).toBe('fail');
    expect(decide({ present: false, canInstall: false, attempted: false, ci: false })).toBe('skip-browser');
    expect(decide({ present: false, canInstall: false, attempted: false, ci: true })).toBe('fail');
  });

  it('reads CI, the path override and how it could install', async () => {
    const { isCI, chromiumPath, installPrefix } = await load();
    expect([isCI({}), isCI({ CI: '' }), isCI({ CI: 'false' }), isCI({ CI: '0' }), isCI({ CI: 'true' }), isCI({ CI: '1' })]).toEqual([
      false,
      false,
      false,
      false,
      true,
      true,
    ]);
    expect(chromiumPath({})).toBe('/usr/bin/chromium');
    expect(chromiumPath({ MCCKD_CHROMIUM: '/x/chromium' })).toBe('/x/chromium');
    const linux = { platform: 'linux', aptGet: '/usr/bin/apt-get', root: true, sudo: false };
    expect(installPrefix({}, linux)).toEqual([]);
    expect(installPrefix({}, { ...linux, root: false, sudo: true })).toEqual(['sudo', '-n']);
    expect(installPrefix({}, { ...linux, root: false })).toBeUndefined();
    expect(installPrefix({}, { ...linux, aptGet: undefined })).toBeUndefined();
    expect(installPrefix({}, { ...linux, platform: 'darwin' })).toBeUndefined();
    expect(installPrefix({ MCCKD_NO_INSTALL: '1' }, linux)).toBeUndefined();
  });
});

describe('ensure-chromium: as npm runs it', () => {
  it('present: exits 0 and says nothing', () => {
    const r = run({ PATH: emptyBin(), MCCKD_CHROMIUM: process.execPath });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('missing and no apt-get: exits 0 (the unit tests run) and says what to run', () => {
    const r = run({ PATH: emptyBin(), MCCKD_CHROMIUM: '/nonexistent/chromium' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Chromium is missing (/nonexistent/chromium)');
    expect(r.stderr).toContain('sudo apt-get update && sudo apt-get install -y chromium');
    expect(r.stderr).toContain('the browser tests are skipped');
  });

  it('missing under CI=true: exits 1', () => {
    const r = run({ PATH: emptyBin(), MCCKD_CHROMIUM: '/nonexistent/chromium', CI: 'true' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('sudo apt-get install -y chromium');
    expect(r.stderr).toMatch(/CI=true: failing/);
  });

  // as root, with an apt-get that records its calls and "installs" the file
  it.skipIf(process.getuid?.() !== 0)(
    'missing, as root with apt-get: apt-get update, then install -y chromium, non-interactive; then ready',
    () => {
      const bin = emptyBin();
      const chromium = path.join(bin, 'chromium');
      const calls = path.join(bin, 'calls');
      writeFileSync(
        path.join(bin, 'apt-get'),
        `#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> "${calls}"\nif [ "$1" = install ]; then : > "${chromium}"; fi\n`,
      );
      chmodSync(path.join(bin, 'apt-get'), 0o755);
      const r = run({ PATH: bin, MCCKD_CHROMIUM: chromium, CI: 'true' });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(calls, 'utf8')).toBe('noninteractive update -q\nnoninteractive install -y -q chromium\n');
      expect(existsSync(chromium)).toBe(true);
    },
  );

  it.skipIf(process.getuid?.() !== 0)('an install that does not bring Chromium: under CI exits 1, otherwise 0 with the note', () => {
    const bin = emptyBin();
    writeFileSync(path.join(bin, 'apt-get'), '#!/bin/sh\nexit 100\n');
    chmodSync(path.join(bin, 'apt-get'), 0o755);
    const local = run({ PATH: bin, MCCKD_CHROMIUM: '/nonexistent/chromium' });
    expect(local.code).toBe(0);
    expect(local.stderr).toContain('Installing it did not work');
    const ci = run({ PATH: bin, MCCKD_CHROMIUM: '/nonexistent/chromium', CI: 'true' });
    expect(ci.code).toBe(1);
  });
});
