// The bench's Node rows, each backend in its own process (WebGPU in Node
// needs Dawn's environment from process start), and for WebGPU the Vulkan
// that process uses: the system's own driver first where there is a Vulkan
// loader, and Chromium's SwiftShader when that gives no adapter. A machine
// with Mesa's Vulkan drivers and no GPU has a loader but no usable adapter
// ("XDG_RUNTIME_DIR is invalid or not set", lavapipe refused by Dawn): the
// WebGPU rows are then measured on SwiftShader in a second process, and the
// row says so.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { swiftShaderEnv, systemVulkan, vulkanNote, vulkanTries, type Vulkan } from '../src/cli/node-gpu';
import type { BackendRows } from './training';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** A row of the report, with how its WebGPU ran. `unavailable`: the
 * backend could not be set up at all (no adapter), as opposed to failing
 * while measuring. */
export type NodeRows = BackendRows & { vulkan?: Vulkan; note?: string; unavailable?: boolean };

export interface MeasureArgs {
  presets: string[];
  steps: number;
  decodeTokens: number;
}

/** bench/measure.ts for one backend in a child process with `env`. */
function child(backend: string, a: MeasureArgs, env: NodeJS.ProcessEnv): Promise<NodeRows> {
  const cmd = [
    path.join(HERE, '../node_modules/tsx/dist/cli.mjs'),
    path.join(HERE, 'measure.ts'),
    '--backend',
    backend,
    '--presets',
    a.presets.join(','),
    '--steps',
    String(a.steps),
    '--decode-tokens',
    String(a.decodeTokens),
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, cmd, { env, maxBuffer: 16 << 20, timeout: 900_000 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as NodeRows);
      else resolve({ backend, error: (stderr.split('\n').filter((l) => /error|mcckd/i.test(l))[0] ?? String(err)).slice(0, 300) });
    });
  });
}

/** One backend's rows, measured in its own process; WebGPU retried on
 * SwiftShader when the first Vulkan gives no adapter. */
export function measureInNode(backend: string, a: MeasureArgs, log: (s: string) => void): Promise<NodeRows> {
  return withVulkanFallback(backend, (env) => child(backend, a, env), log);
}

/** `run` in a child process environment: once as it is for a backend other
 * than WebGPU; for WebGPU with each Vulkan to try until one gives an adapter,
 * the row saying which ran and why. */
export async function withVulkanFallback<R extends { unavailable?: boolean }>(
  backend: string,
  run: (env: NodeJS.ProcessEnv) => Promise<R>,
  log: (s: string) => void,
): Promise<R & { vulkan?: Vulkan; note?: string }> {
  if (!backend.startsWith('webgpu')) return run(process.env);
  const swiftShader = swiftShaderEnv();
  const tries = vulkanTries(process.env, { systemVulkan: systemVulkan(), swiftShader: !!swiftShader });
  let failed: { vulkan: Vulkan; error: string } | undefined;
  for (const [i, vulkan] of tries.entries()) {
    const row = await run(vulkan === 'swiftshader' ? { ...process.env, ...swiftShader } : process.env);
    if (row.unavailable && 'error' in row && i < tries.length - 1) {
      failed = { vulkan, error: String(row.error) };
      log(
        `  ${backend}: no WebGPU adapter from ${vulkan === 'system' ? 'the system Vulkan' : 'the Vulkan set in the environment'}; retrying on Chromium's SwiftShader`,
      );
      continue;
    }
    const note = vulkanNote(vulkan, failed);
    return { ...row, vulkan, ...(note ? { note } : {}) };
  }
  throw new Error('unreachable: no Vulkan to try');
}
