// Node only: give tfjs a navigator.gpu from Dawn (the `webgpu` npm package).
// Works with a real GPU driver and with Chromium's SwiftShader Vulkan ICD when
// LD_LIBRARY_PATH / VK_ICD_FILENAMES point at it (see README).

import { existsSync } from 'node:fs';

export async function installNodeWebGPU(): Promise<void> {
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  const mod = (await import('webgpu')) as unknown as {
    create: (flags: string[]) => unknown;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  if (!g.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
}

/** Environment for SwiftShader when no GPU driver is installed; used by tests
 * and the bench to spawn a child process that can see the ICD. */
export function swiftShaderEnv(): Record<string, string> | undefined {
  const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!existsSync(icd)) return undefined;
  return { LD_LIBRARY_PATH: '/usr/lib/chromium', VK_ICD_FILENAMES: icd };
}
