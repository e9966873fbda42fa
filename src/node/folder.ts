// A directory on disk as a FolderSource (src/hf/folder.ts), for the CLI's
// --student DIR and for tests.

import { existsSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FolderSource } from '../hf/folder';

export function nodeFolder(dir: string): FolderSource {
  const file = (name: string): string => path.join(dir, path.basename(name));
  return {
    has: (name) => existsSync(file(name)) && statSync(file(name)).isFile(),
    async read(name, n) {
      if (n === undefined) return new Uint8Array(await readFile(file(name)));
      const fh = await open(file(name), 'r');
      try {
        const buf = new Uint8Array(n);
        const { bytesRead } = await fh.read(buf, 0, n, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    },
  };
}
