// Node only: give tfjs a navigator.gpu from Dawn (the `webgpu` npm package).
// Works with a real GPU driver and with Chromium's SwiftShader Vulkan ICD when
// the environment points the Vulkan loader at it (swiftShaderEnv, see README).

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

/** Debian's chromium ships SwiftShader (a Vulkan driver on the CPU) and a
 * Vulkan loader here. */
export const CHROMIUM_LIB = '/usr/lib/chromium';
export const SWIFTSHADER_ICD = `${CHROMIUM_LIB}/vk_swiftshader_icd.json`;

/** The variables that point Dawn at Chromium's SwiftShader and nothing else,
 * whatever Vulkan the system has. Pointing at the ICD is not enough where
 * Mesa's Vulkan drivers are installed: the Vulkan loader still loads their
 * implicit layer (VK_LAYER_MESA_device_select), which tries to reach a
 * display server ("XDG_RUNTIME_DIR is invalid or not set") and, with no GPU,
 * leaves Dawn noisy or without an adapter. So implicit layers are off too. */
function swiftShaderVars(ldLibraryPath?: string): Record<string, string> {
  return {
    // Chromium's own Vulkan loader, found before a system one
    LD_LIBRARY_PATH: [CHROMIUM_LIB, ldLibraryPath].filter((p) => p).join(':'),
    // the only driver: the old name, and the one loaders since 1.3.207 prefer
    VK_ICD_FILENAMES: SWIFTSHADER_ICD,
    VK_DRIVER_FILES: SWIFTSHADER_ICD,
    VK_ADD_DRIVER_FILES: '',
    // no implicit layers (Mesa's device_select, overlays, ...): the switch of
    // loaders since 1.3.234, and the Mesa layer's own switch for older ones
    VK_LOADER_LAYERS_DISABLE: '~implicit~',
    NODEVICE_SELECT: '1',
  };
}

/** Environment for a child process (tests, the bench) whose Dawn must run on
 * SwiftShader; undefined without Debian's chromium. Dawn reads it at process
 * start, hence a child. `base` is the environment the child would otherwise
 * get: its LD_LIBRARY_PATH is kept, after Chromium's. */
export function swiftShaderEnv(base: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  if (!existsSync(SWIFTSHADER_ICD)) return undefined;
  return swiftShaderVars(base.LD_LIBRARY_PATH);
}

/** The same settings as a shell prefix, for messages that tell a user how
 * to run on SwiftShader. */
export function swiftShaderCommandPrefix(): string {
  return Object.entries(swiftShaderVars())
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}=${/^[\w/.:-]+$/.test(v) ? v : `'${v}'`}`)
    .join(' ');
}

// ---- which Vulkan a Dawn process gets (the bench spawns one per backend) ----

/** Which Vulkan a WebGPU process used: the system's (Dawn finds the driver
 * itself), the one VK_ICD_FILENAMES / VK_DRIVER_FILES name in the bench's
 * environment, or Chromium's SwiftShader (swiftShaderEnv). */
export type Vulkan = 'system' | 'as-set' | 'swiftshader';

/** Whether the machine has a Vulkan loader of its own. */
export const systemVulkan = (): boolean =>
  [
    '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
    '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
    '/usr/lib64/libvulkan.so.1',
    '/usr/lib/libvulkan.so.1',
  ].some((f) => existsSync(f));

/** The Vulkan of each try of a WebGPU row, in order: the one the user set,
 * else the system's (where there is a loader), then SwiftShader when an
 * earlier try got no adapter. */
export function vulkanTries(env: NodeJS.ProcessEnv, o: { systemVulkan: boolean; swiftShader: boolean }): Vulkan[] {
  const set = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  if (set === SWIFTSHADER_ICD && o.swiftShader) return ['swiftshader'];
  const first: Vulkan | undefined = set ? 'as-set' : o.systemVulkan ? 'system' : undefined;
  if (!o.swiftShader) return [first ?? 'system'];
  return first ? [first, 'swiftshader'] : ['swiftshader'];
}

/** What the report says about how a WebGPU row ran, when it is not simply
 * the system's driver. */
export function vulkanNote(used: Vulkan, failed?: { vulkan: Vulkan; error: string }): string | undefined {
  if (failed) {
    const where = failed.vulkan === 'as-set' ? 'the Vulkan driver set in VK_DRIVER_FILES / VK_ICD_FILENAMES' : 'the system Vulkan';
    return `no WebGPU adapter from ${where} (${failed.error}); retried in a second process on Chromium's SwiftShader${used === 'swiftshader' ? '' : ' (failed too)'}`;
  }
  if (used === 'swiftshader') return "no system Vulkan: on Chromium's SwiftShader";
  return undefined;
}
