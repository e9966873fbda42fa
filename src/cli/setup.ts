// Backend setup for the CLI: Dawn's navigator.gpu for webgpu, the wasm binary
// from node_modules, and no silent fallback (an explicit choice that can't be
// honoured is an error).

import type { BackendName } from '../core/config';
import { setBackend, type BackendInfo } from '../core/backend';
import { registerNodeGradients } from '../node/gradients';

const NAMES: BackendName[] = ['cpu', 'wasm', 'webgpu'];

export function parseBackend(v: string | undefined, fallback: BackendName): BackendName {
  if (v === undefined) return fallback;
  if (!(NAMES as string[]).includes(v)) throw new Error(`--backend must be one of ${NAMES.join(', ')}, got "${v}"`);
  return v as BackendName;
}

export async function setupBackend(name: BackendName): Promise<BackendInfo> {
  registerNodeGradients();
  if (name === 'webgpu') {
    const { installNodeWebGPU } = await import('./node-gpu');
    await installNodeWebGPU();
  }
  const info = await setBackend(name);
  if (info.fellBackFrom) {
    throw new Error(`backend ${name} is not available here (${info.reason ?? 'unknown reason'}); ` +
      (name === 'webgpu' ? 'without a GPU driver, set LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json' : 'pick another --backend'));
  }
  process.stderr.write(`backend: ${info.backend}${info.adapter ? ` (${info.adapter})` : ''}\n`);
  return info;
}
