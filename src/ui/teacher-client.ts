// The page's handle on the teacher worker. Its script is opened with
// ?connect=<the endpoint's origin>: the server answers that script with
// connect-src 'self' <origin> (vite.config.ts, README "Hosting"), so each
// endpoint origin gets its own worker, and the page itself keeps 'self'.

import * as Comlink from 'comlink';
import teacherWorkerUrl from '../worker/teacher-worker.ts?worker&url';
import { CONNECT_PARAM } from '../shared/connect-origin';
import type { TeacherApi } from '../worker/teacher-worker';

export type TeacherRemote = Comlink.Remote<TeacherApi>;

interface Held {
  connect: string | undefined;
  worker: Worker;
  api: TeacherRemote;
}

let held: Held | undefined;

/** The teacher worker allowed to reach `connect` (an origin checked by
 * connectOrigin; undefined: this origin only, e.g. the GGUF teacher). An
 * idle worker for another origin is ended first. */
export function teacherWorker(connect: string | undefined, onFailure: (message: string) => void): TeacherRemote {
  if (held && held.connect === connect) return held.api;
  held?.api[Comlink.releaseProxy]();
  held?.worker.terminate();
  const url = new URL(teacherWorkerUrl, location.href);
  if (connect) url.searchParams.set(CONNECT_PARAM, connect);
  const worker = new Worker(url, { type: 'module', name: 'mcckd-teacher' });
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    onFailure(e.message || 'the teacher worker could not start (see the browser console)');
  });
  worker.addEventListener('messageerror', () => onFailure('a message from the teacher worker could not be read'));
  held = { connect, worker, api: Comlink.wrap<TeacherApi>(worker) };
  return held.api;
}

/** The worker started last (the one a run uses now), or one for this
 * origin only when none was. */
export function currentTeacher(onFailure: (message: string) => void): TeacherRemote {
  return held?.api ?? teacherWorker(undefined, onFailure);
}
