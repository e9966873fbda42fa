// Property-based fuzzing of the run-directory reader (src/checkpoint/runDir:
// loadRunDir, parseMetricsJsonl, runFacts, runBaseFolder), fast-check,
// seeded: run folders whose checkpoint is valid, damaged, cut short, random
// bytes, missing, a folder or a FIFO; whose metrics.jsonl, config.json and
// eval.json hold anything. Every input gives a run (with the good metric
// lines up to its step) or a RunDirError, never another exception and never
// a hang (a FIFO is refused, not waited on); the facts of a model card are
// well-typed or absent; the work is counted (metric lines handled once,
// parameter-table entries within the file's bytes), never timed.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type * as ConfigModule from '../../src/core/config';
import type { ModelConfig } from '../../src/core/config';
import { stateToSafetensors } from '../../src/checkpoint/format';
import {
  CHECKPOINT_FILE,
  EVAL_FILE,
  RunDirError,
  loadRun,
  type CheckpointId,
  parseMetricsJsonl,
  runBaseFolder,
  runFacts,
} from '../../src/checkpoint/runDir';
import { metric, tinyState } from './ckpt-fixtures';

// Counts the entries of every parameter table built (as ckpt-fuzz does).
const work = vi.hoisted(() => ({ entries: 0 }));
vi.mock('../../src/core/config', async (importOriginal) => {
  const orig = await importOriginal<typeof ConfigModule>();
  return {
    ...orig,
    paramShapes: (c: ModelConfig) => {
      const table = orig.paramShapes(c);
      work.entries += table.length;
      return table;
    },
  };
});

const SEED = Number(process.env.FUZZ_SEED ?? 0x72756e64); // "rund"
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
// timeout: a run that waits (a FIFO opened for reading) fails, instead of hanging the file
const params = { seed: SEED, numRuns: RUNS, timeout: 10_000 };

const root = mkdtempSync(path.join(tmpdir(), 'mcckd-rundir-fuzz-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const hasMkfifo = spawnSync('mkfifo', ['--version'], { stdio: 'ignore' }).status === 0;

const GOOD = stateToSafetensors(tinyState({ step: 4 }));

const metricLine = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 8 }).map((s) => JSON.stringify(metric(s))) },
  fc.integer({ min: 0, max: 8 }).map((s) => JSON.stringify({ ...metric(s), loss: null })),
  fc.constantFrom(
    '',
    '   ',
    '{',
    '{"step":1}',
    '{"step":"2","loss":1}',
    '{"step":1e400}',
    '[]',
    'null',
    '{"__proto__":{"step":1}}',
    '\u0000',
  ),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 30 }),
);
const metricsText = fc
  .tuple(fc.array(metricLine, { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
  .map(([lines, nl, end]) => lines.join(nl) + (end ? nl : ''));

/** What a file of the folder is: text, bytes, nothing, a folder, a FIFO. */
type Entry = { kind: 'text'; text: string } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'missing' | 'folder' | 'fifo' };
const special = fc.constantFrom<Entry>({ kind: 'missing' }, { kind: 'folder' }, ...(hasMkfifo ? [{ kind: 'fifo' } as const] : []));
const jsonFile = (inner: fc.Arbitrary<unknown>): fc.Arbitrary<Entry> =>
  fc.oneof(
    { weight: 4, arbitrary: inner.map((v) => ({ kind: 'text', text: JSON.stringify(v) }) as Entry) },
    inner.map((v) => ({ kind: 'text', text: JSON.stringify(v).slice(0, 7) }) as Entry),
    fc.string({ maxLength: 20 }).map((text) => ({ kind: 'text', text }) as Entry),
    special,
  );
const count = fc.oneof(fc.nat(100), fc.constantFrom(-1, 1.5, '3', null, 2 ** 60));
const configJson = jsonFile(
  fc.record(
    {
      base: fc.oneof(
        fc.record({ folder: fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })) }),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      data: fc.oneof(
        fc.record(
          {
            file: fc.oneof(fc.string({ maxLength: 8 }), fc.nat()),
            questions: count,
            rationales: count,
            trainQuestions: count,
            devQuestions: count,
          },
          { requiredKeys: [] },
        ),
        fc.jsonValue({ maxDepth: 1 }),
      ),
    },
    { requiredKeys: [] },
  ),
);
const evalJson = jsonFile(
  fc.record(
    {
      accuracy: fc.oneof(fc.double({ min: 0, max: 1 }), fc.jsonValue({ maxDepth: 0 })),
      correct: count,
      total: count,
      file: fc.oneof(fc.string({ maxLength: 8 }), fc.nat()),
    },
    { requiredKeys: [] },
  ),
);
const checkpoint: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Entry>({ kind: 'bytes', bytes: GOOD }) },
  fc.tuple(fc.nat(GOOD.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
    const b = GOOD.slice();
    b[at] ^= x;
    return { kind: 'bytes', bytes: b } as Entry;
  }),
  fc.nat(GOOD.length - 1).map((n) => ({ kind: 'bytes', bytes: GOOD.subarray(0, n) }) as Entry),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => ({ kind: 'bytes', bytes }) as Entry),
  special,
);

function put(file: string, e: Entry): void {
  if (e.kind === 'text') writeFileSync(file, e.text);
  else if (e.kind === 'bytes') writeFileSync(file, e.bytes);
  else if (e.kind === 'folder') mkdirSync(file);
  else if (e.kind === 'fifo') spawnSync('mkfifo', [file]);
}

const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;

describe('fuzz: metrics.jsonl', () => {
  it('every non-blank line is kept or reported once, never thrown; kept points are well-typed', () => {
    fc.assert(
      fc.property(metricsText, (text) => {
        const warnings: string[] = [];
        const kept = parseMetricsJsonl(text, (m) => warnings.push(m));
        const lines = text.split('\n').filter((l) => l.trim() !== '').length;
        expect(kept.length + warnings.length).toBe(lines);
        for (const p of kept) {
          expect(Number.isSafeInteger(p.step)).toBe(true);
          for (const k of ['loss', 'ce', 'kl', 'lr', 'tokensPerSecond', 'time'] as const) expect(typeof p[k]).toBe('number');
        }
        for (const w of warnings) expect(w).toMatch(/^metrics\.jsonl line \d+: /);
      }),
      params,
    );
  });
});

describe('fuzz: run folders', () => {
  it('loadRunDir gives a run or a RunDirError (never hangs on a FIFO); runFacts and runBaseFolder never throw', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        checkpoint,
        fc.oneof(
          metricsText.map((text) => ({ kind: 'text', text }) as Entry),
          special,
        ),
        configJson,
        evalJson,
        async (ck, ml, cfg, ev) => {
          const dir = path.join(root, `r${dirs++}`);
          mkdirSync(dir);
          put(path.join(dir, CHECKPOINT_FILE), ck);
          put(path.join(dir, 'metrics.jsonl'), ml);
          put(path.join(dir, 'config.json'), cfg);
          put(path.join(dir, EVAL_FILE), ev);
          try {
            work.entries = 0;
            const warnings: string[] = [];
            let outcome: string;
            // the checkpoint the facts are read for: the one loaded, else any
            let of: CheckpointId = { step: 0, checksum: '00000000' };
            try {
              const { state, checkpoint } = await loadRun(dir, { onWarning: (m) => warnings.push(m) });
              of = checkpoint;
              outcome = 'ok';
              expect(state.metrics.every((m) => m.step <= state.step)).toBe(true);
            } catch (e) {
              if (!(e instanceof RunDirError)) throw new Error(`not a RunDirError: ${String(e)}`);
              expect(e.message).toContain(dir);
              outcome = e.message.includes('damaged') ? 'damaged' : e.message.includes('regular file') ? 'not a file' : 'no checkpoint';
            }
            const bytes = ck.kind === 'bytes' ? ck.bytes.length : 0;
            expect(work.entries).toBeLessThanOrEqual(bytes);
            seen.set(outcome, (seen.get(outcome) ?? 0) + 1);

            const folder = await runBaseFolder(dir);
            expect(folder === undefined || typeof folder === 'string').toBe(true);
            const facts = await runFacts(dir, of);
            expect(typeof facts.name).toBe('string');
            if (facts.data) {
              expect(typeof facts.data.file).toBe('string');
              for (const k of ['questions', 'rationales', 'trainQuestions', 'devQuestions'] as const)
                if (k in facts.data) expect(isCount(facts.data[k]), k).toBe(true);
            }
            if (facts.evaluation) {
              expect(typeof facts.evaluation.accuracy).toBe('number');
              expect(isCount(facts.evaluation.correct) && isCount(facts.evaluation.total)).toBe(true);
            }
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      params,
    );
    expect(seen.get('ok') ?? 0, JSON.stringify([...seen])).toBeGreaterThan(RUNS / 10);
    expect(seen.size, JSON.stringify([...seen])).toBeGreaterThanOrEqual(3);
    console.log(JSON.stringify({ loadRunDir: Object.fromEntries(seen) }));
  }, 60_000);
});
