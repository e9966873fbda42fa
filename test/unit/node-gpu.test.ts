// swiftShaderEnv() points Dawn (the `webgpu` npm package) at Chromium's
// SwiftShader whatever Vulkan the system has. With Mesa's Vulkan drivers
// installed and no GPU, the loader also loaded Mesa's implicit device_select
// layer, which printed "XDG_RUNTIME_DIR is invalid or not set" (failing the
// CLI's WebGPU test, which refuses such output) and could leave Dawn without
// an adapter. Each check runs in a child process: Dawn reads the environment
// at process start.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { swiftShaderCommandPrefix, swiftShaderEnv } from '../../src/cli/node-gpu';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const gpuEnv = swiftShaderEnv();

/** Asks Dawn for an adapter and prints what it got as JSON. */
const PROBE = `
const mod = await import(${JSON.stringify(path.join(ROOT, 'node_modules/webgpu/index.js'))});
Object.assign(globalThis, mod.globals);
const a = await mod.create([]).requestAdapter();
console.log(JSON.stringify(a ? { vendor: a.info.vendor, architecture: a.info.architecture } : null));
process.exit(0);
`;

function probe(env: NodeJS.ProcessEnv): Promise<{ adapter: { vendor: string; architecture: string } | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{') || l === 'null');
      if (err || !line) reject(new Error(`probe failed: ${String(err)}\n${stderr}`));
      else resolve({ adapter: JSON.parse(line) as { vendor: string; architecture: string } | null, stderr });
    });
  });
}

const MESA_ICDS = '/usr/share/vulkan/icd.d';

describe.skipIf(!gpuEnv)('Dawn on SwiftShader (swiftShaderEnv)', () => {
  it('gets the SwiftShader adapter, and the loader prints nothing', async () => {
    const r = await probe({ ...process.env, ...gpuEnv });
    expect(r.adapter).toEqual({ vendor: 'google', architecture: 'swiftshader' });
    expect(r.stderr).not.toMatch(/XDG_RUNTIME_DIR|error|invalid/i);
  });

  it('whatever drivers the inherited environment names', async () => {
    const other = existsSync(MESA_ICDS) ? path.join(MESA_ICDS, 'lvp_icd.x86_64.json') : '/nonexistent/icd.json';
    const hostile = {
      ...process.env,
      VK_ICD_FILENAMES: other,
      VK_DRIVER_FILES: other,
      VK_ADD_DRIVER_FILES: other,
      LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu',
    };
    const r = await probe({ ...hostile, ...swiftShaderEnv(hostile) });
    expect(r.adapter).toEqual({ vendor: 'google', architecture: 'swiftshader' });
    expect(r.stderr).not.toMatch(/XDG_RUNTIME_DIR|error|invalid/i);
  });
});

describe('swiftShaderEnv', () => {
  it("keeps the inherited LD_LIBRARY_PATH after Chromium's, and the shell prefix names every setting", () => {
    const env = swiftShaderEnv({ LD_LIBRARY_PATH: '/opt/x' });
    if (env) expect(env.LD_LIBRARY_PATH).toBe('/usr/lib/chromium:/opt/x');
    const prefix = swiftShaderCommandPrefix();
    for (const k of [
      'LD_LIBRARY_PATH=/usr/lib/chromium',
      'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json',
      "VK_LOADER_LAYERS_DISABLE='~implicit~'",
    ])
      expect(prefix).toContain(k);
  });
});
