// A directory on disk as a FolderSource (src/hf/folder.ts), for the CLI's
// --student DIR and for tests. Ranges are read through a file handle, so
// that a weight file of any size (over 2 GiB too) is read one tensor at a time.

import { existsSync, statSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FolderSource } from '../hf/folder';

export function nodeFolder(dir: string): FolderSource {
  const file = (name: string): string => path.join(dir, path.basename(name));
  return {
    has: (name) => existsSync(file(name)) && statSync(file(name)).isFile(),
    size: async (name) => (await stat(file(name))).size,
    async read(name, range) {
      if (range === undefined) {
        const b = await readFile(file(name));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      }
      const fh = await open(file(name), 'r');
      try {
        const buf = new Uint8Array(range.length);
        // a read may return fewer bytes than asked: go on until the range or the file ends
        let got = 0;
        while (got < range.length) {
          const { bytesRead } = await fh.read(buf, got, range.length - got, range.offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    },
  };
}
