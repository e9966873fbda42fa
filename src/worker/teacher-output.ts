// What the page shows and gives out of a teach run: T1's curation report
// (src/teach/report.ts) as plain rows, and the native teacher JSONL
// (src/teach/records.ts) as bytes.

import type { TeachRunRecord, TeachSampleRecord } from '../checkpoint/schema';
import { nativeJsonl } from '../teach/records';
import { teachReport as report } from '../teach/report';
import type { TeachReportView } from './teacher-protocol';

export function teachReport(r: TeachRunRecord, samples: TeachSampleRecord[]): TeachReportView {
  const t = report(r.questions, samples, [], r.settings.taskType ? { taskType: r.settings.taskType } : {});
  const text = new Map(r.questions.map((q) => [q.id, q.question]));
  return {
    rows: t.questions.map((q) => ({
      questionId: q.id,
      question: text.get(q.id) ?? '',
      generated: q.generated,
      correct: q.correct,
      diverse: q.diverse,
      kept: q.kept,
      dropped: Object.fromEntries(Object.entries(q.dropped).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0)),
    })),
    fewKept: t.reask,
    totals: {
      questions: t.questions.length,
      generated: t.totals.generated,
      correct: t.totals.correct,
      diverse: t.totals.diverse,
      kept: t.totals.kept,
    },
  };
}

export function teachJsonl(r: TeachRunRecord, samples: TeachSampleRecord[]): Uint8Array {
  return new TextEncoder().encode(nativeJsonl(r.questions, samples));
}
