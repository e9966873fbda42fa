// Backend setup for the CLI: Dawn's navigator.gpu for webgpu, the wasm binary
// from node_modules, and no silent fallback (an explicit choice that can't be
// honoured is an error).

import type { BackendName } from '../core/config';
import { BackendUnavailableError, setBackend, type BackendInfo } from '../core/backend';
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
  const unavailable = async (reason: string): Promise<Error> => {
    const hint =
      name === 'webgpu'
        ? `without a usable GPU driver, run on Chromium's SwiftShader: ${(await import('./node-gpu')).swiftShaderCommandPrefix()} mcckd ...`
        : 'pick another --backend';
    return new Error(`backend ${name} is not available here (${reason}); ${hint}`);
  };
  let info: BackendInfo;
  try {
    info = await setBackend(name, { fallback: false });
  } catch (e) {
    throw e instanceof BackendUnavailableError ? await unavailable(e.reason) : e;
  }
  if (info.fellBackFrom) throw await unavailable(info.reason ?? 'unknown reason');
  process.stderr.write(`backend: ${info.backend}${info.adapter ? ` (${info.adapter})` : ''}\n`);
  return info;
}
