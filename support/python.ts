// The one Python the tests, the bench and CI use for the references
// (support/hf_ref.py, support/hf_transformers_ref.py, support/torch_ref.py,
// scripts/hf/*.py), so that every caller finds the same one:
//   1. MCCKD_PYTHON (e.g. a GPU machine's own PyTorch with CUDA),
//   2. the repository's .venv/bin/python (.ci/run creates it with the torch,
//      transformers and peft wheels; PyTorch's wheel is far faster than
//      Debian's python3-torch 1.13),
//   3. /usr/bin/python3 (Debian's; numpy and perhaps python3-torch).
// What it can import is probed once per process and only when asked, so that
// a test that needs numpy does not pay for importing transformers.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VENV = path.join(ROOT, '.venv/bin/python');

/** Where PY came from, for messages. */
export const PY_SOURCE: 'MCCKD_PYTHON' | '.venv' | 'system' = process.env.MCCKD_PYTHON
  ? 'MCCKD_PYTHON'
  : existsSync(VENV)
    ? '.venv'
    : 'system';
export const PY: string = process.env.MCCKD_PYTHON || (existsSync(VENV) ? VENV : '/usr/bin/python3');
/** The environment to run it in: no .pyc files written into the repository. */
export const PY_ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

export type PythonModule = 'numpy' | 'torch' | 'transformers' | 'peft' | 'tokenizers' | 'yaml' | 'accelerate';

const seen = new Map<string, boolean>();

/** Whether PY imports every module named (each probed once per process). */
export function pythonHas(...modules: string[]): boolean {
  return modules.every((m) => {
    let ok = seen.get(m);
    if (ok === undefined) {
      ok = spawnSync(PY, ['-c', `import ${m}`], { stdio: 'ignore', env: PY_ENV }).status === 0;
      seen.set(m, ok);
    }
    return ok;
  });
}

/** Undefined when PY imports every module named; else the reason a test is
 * skipped, naming the python, where it came from, what is missing and how to get it. */
export function pythonMissing(...modules: PythonModule[]): string | undefined {
  const missing = modules.filter((m) => !pythonHas(m));
  if (!missing.length) return undefined;
  return (
    `${PY} (${PY_SOURCE === 'system' ? 'no MCCKD_PYTHON, no .venv' : PY_SOURCE}) cannot import ${missing.join(', ')}; ` +
    'create .venv as .ci/run does, or set MCCKD_PYTHON to a python that has them'
  );
}

/** Which of the reference's modules PY imports (probes all of them). */
export function pythonCapabilities(): Record<'numpy' | 'torch' | 'transformers' | 'peft', boolean> {
  return { numpy: pythonHas('numpy'), torch: pythonHas('torch'), transformers: pythonHas('transformers'), peft: pythonHas('peft') };
}
