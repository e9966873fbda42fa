// The page's handle on the training worker. The worker's API type comes from
// the worker module itself (type-only import: no tfjs in the page bundle).

import * as Comlink from 'comlink';
import type { Api } from '../worker/worker';

type WorkerApi = Comlink.Remote<Api>;

export function startWorker(onFailure: (message: string) => void): WorkerApi {
  const worker = new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'mcckd-trainer' });
  // A module that fails to load or an error thrown outside any call lands
  // here; errors inside calls reject the call's promise instead.
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    onFailure(e.message || 'the training worker could not start (see the browser console)');
  });
  worker.addEventListener('messageerror', () => onFailure('a message from the training worker could not be read'));
  return Comlink.wrap<Api>(worker);
}

/** Marks a callback to be called from the worker (Comlink proxies it). */
export const callback = Comlink.proxy;
