// Builds the app once for the whole browser run, before any file starts:
// the folders the files serve (test-artifacts/e2e-dist, and e2e-security-dist
// for the files that write into or hold their own build). Each file's
// buildApp() then finds an up-to-date build and reuses it, so files that run
// at the same time never build into the same folder at once.
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, buildApp, chromiumAvailable } from '../../support/browser';

export default async function setup(): Promise<void> {
  if (!chromiumAvailable()) return;
  const dist = await buildApp();
  // The second folder is the same build, copied afresh (its build stamp is
  // then newer than the sources): a second vite build would cost the whole
  // run its time again, as everything waits for this setup.
  const copy = path.join(ARTIFACTS, 'e2e-security-dist');
  rmSync(copy, { recursive: true, force: true });
  cpSync(dist, copy, { recursive: true });
  await buildApp({ outDir: 'e2e-security-dist' }); // finds the copy up to date
}
