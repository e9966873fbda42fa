// support/hf_ref.py as one long-lived process (`--serve`) per test file:
// tests make dozens of reference calls, and a fresh python spends ~2 s of CPU
// importing torch for each; the server imports it once. Calls are answered
// in order, one at a time (the reference runs on one thread either way).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PY, PY_ENV } from './python';

const HF_REF = path.join(fileURLToPath(new URL('..', import.meta.url)), 'support/hf_ref.py');

/** What one `hf_ref.py ARGS` run exited with and printed. */
export interface RefRun {
  status: number;
  stdout: string;
  stderr: string;
}

interface Pending {
  resolve(r: RefRun): void;
  reject(e: Error): void;
}

class RefServer {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly pending: Pending[] = [];
  private buffered = '';
  private stderr = '';
  private ended?: Error;

  constructor() {
    this.proc = spawn(PY, [HF_REF, '--serve'], { env: PY_ENV });
    this.proc.stdout.setEncoding('utf8').on('data', (d: string) => this.read(d));
    this.proc.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    const end = (why: string): void => {
      this.ended = new Error(`hf_ref.py --serve ${why}: ${this.stderr}`);
      for (const p of this.pending.splice(0)) p.reject(this.ended);
    };
    this.proc.on('error', (e) => end(`failed to start (${e.message})`));
    this.proc.on('exit', (code, signal) => end(`exited (${signal ?? code})`));
  }

  private read(d: string): void {
    this.buffered += d;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      this.pending.shift()?.resolve(JSON.parse(line) as RefRun);
    }
  }

  run(args: string[]): Promise<RefRun> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.proc.stdin.write(`${JSON.stringify(args)}\n`);
    });
  }

  close(): void {
    this.proc.stdin.end();
  }
}

let server: RefServer | undefined;

/** `hf_ref.py ...args` on this process's reference server (started on the
 * first call; it ends when its stdin closes: closeHfRef, or at exit). */
export function hfRef(args: string[]): Promise<RefRun> {
  server ??= new RefServer();
  return server.run(args);
}

export function closeHfRef(): void {
  server?.close();
  server = undefined;
}
