// Builds the app once for the whole browser run, before any file starts:
// the folders the files serve (test-artifacts/e2e-dist, and e2e-security-dist
// for the files that write into or hold their own build). Each file's
// buildApp() then finds an up-to-date build and reuses it, so files that run
// at the same time never build into the same folder at once.
import { buildApp, chromiumAvailable } from '../../support/browser';

export default async function setup(): Promise<void> {
  if (!chromiumAvailable()) return;
  await buildApp();
  await buildApp({ outDir: 'e2e-security-dist' });
}
