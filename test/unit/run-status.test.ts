// The one run-status vocabulary (core/run-status.ts) and the mapping of the
// words earlier versions stored (checkpoint/schema.ts).
import { describe, expect, it } from 'vitest';
import {
  RUN_STATUSES,
  checkpointKindFor,
  isRunStatus,
  statusAfterSave,
  type CheckpointKind,
  type RunStatus,
  type SaveReason,
} from '../../src/core/run-status';
import { OLD_RUN_STATUS_WORDS, readRunRecord, runStatusFromStored, type RunRecord } from '../../src/checkpoint/schema';

describe('run status', () => {
  it("today's words read back as themselves", () => {
    for (const s of RUN_STATUSES) {
      expect(isRunStatus(s)).toBe(true);
      expect(runStatusFromStored(s)).toBe(s);
    }
  });

  it("words stored by earlier versions map to today's", () => {
    expect(runStatusFromStored('training')).toBe('running');
    expect(runStatusFromStored('created')).toBe('stopped');
    expect(runStatusFromStored('imported')).toBe('stopped');
    // every old word maps to a word of today, and none is still in use
    for (const [old, now] of Object.entries(OLD_RUN_STATUS_WORDS)) {
      expect(isRunStatus(old), old).toBe(false);
      expect(isRunStatus(now), old).toBe(true);
    }
  });

  it('a word no version wrote, or no word, still loads (as stopped)', () => {
    for (const w of ['bogus', '', undefined, null, 3, 'toString', '__proto__']) expect(runStatusFromStored(w)).toBe('stopped');
  });

  it('readRunRecord rewrites only the status, and leaves a current record as it is', () => {
    const rec = { id: 'r', name: 'n', status: 'training' } as unknown as RunRecord;
    expect(readRunRecord(rec)).toEqual({ id: 'r', name: 'n', status: 'running' });
    const now = { id: 'r', name: 'n', status: 'paused' } as unknown as RunRecord;
    expect(readRunRecord(now)).toBe(now);
  });

  it("the loop's save reasons are stored as checkpoint kinds", () => {
    const kinds: Record<SaveReason, CheckpointKind> = { autosave: 'auto', pause: 'pause', stop: 'stop', done: 'stop' };
    for (const [r, k] of Object.entries(kinds)) expect(checkpointKindFor(r as SaveReason)).toBe(k);
  });

  it("a run's status after a save follows why it was saved", () => {
    const cases: [CheckpointKind, number, RunStatus, RunStatus][] = [
      ['auto', 5, 'running', 'running'],
      ['pause', 5, 'running', 'paused'],
      ['stop', 5, 'running', 'stopped'],
      ['stop', 10, 'running', 'done'],
      ['manual', 5, 'paused', 'paused'],
      ['manual', 5, 'stopped', 'stopped'],
      ['manual', 10, 'stopped', 'done'],
      ['best', 5, 'paused', 'paused'],
      ['best', 10, 'running', 'done'],
    ];
    for (const [kind, step, current, after] of cases) expect(statusAfterSave(kind, step, 10, current), `${kind}@${step}`).toBe(after);
  });
});

describe("the page's controls follow a run's status", () => {
  it('phaseFor: setting up is busy, running and paused are themselves, the ends leave the phase to the call', async () => {
    const { phaseFor } = await import('../../src/ui/training');
    const want: Record<RunStatus, string | undefined> = {
      preparing: 'busy',
      running: 'running',
      paused: 'paused',
      stopped: undefined,
      done: undefined,
      failed: undefined,
    };
    for (const s of RUN_STATUSES) expect(phaseFor(s), s).toBe(want[s]);
  });
});
