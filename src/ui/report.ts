// The curation report: counts, why records were dropped, errors with their
// line numbers, and one question with its kept rationales, the answer span
// marked. All of it is text from the user's file, so it goes in as text nodes.

import type { DataSummary, EvalDataSummary, QuestionGroup, DataReport } from '../worker/protocol';
import { whereText } from '../data/report';
import { formatBytes } from '../shared/format';
import { h } from './dom';

const KNOWN = new Set([
  'format',
  'records',
  'questions',
  'rationalesIn',
  'rationalesKept',
  'keptOnLabel',
  'dropped',
  'droppedExamples',
  'errors',
]);
const MAX_ERRORS = 50;

/** Plain words for curation's drop reasons (the codes stay: they are what
 * the CLI prints and what to search for). */
const DROP_REASONS: Record<string, string> = {
  'no-gold-answer': 'the question has no correct answer to check against',
  'bad-gold-answer': 'the correct answer could not be read',
  'conflicting-answer': 'records of the same question give different correct answers',
  'marked-incorrect': 'the file marks the rationale as wrong',
  'answer-not-found': 'no final answer could be found in the rationale',
  'wrong-answer': 'the rationale reaches a different answer than the correct one',
  'no-reasoning': 'the rationale is only the answer, with no reasoning',
  'duplicate-rationale': 'the same rationale appears twice for a question',
  'too-similar': 'almost the same as a rationale already kept',
  'over-k': 'the question already has K rationales (the setting in step 4); the rest are not needed',
  'no-rationale-left': 'none of the question’s rationales survived the checks above',
  'unusable-record': 'the record could not be read as a question with rationales',
  'over-rationale-limit': 'more rationales than the reader keeps per question',
};

const TASK_TYPES: Record<string, string> = {
  number: 'compared as numbers',
  choice: 'multiple choice',
  yesno: 'yes or no answers',
  text: 'compared as text',
};

/** A size worth showing: a gzip-compressed download (the demo) reports no
 * length, and "0 B" would be wrong. */
function sizeText(bytes: number): string {
  return bytes > 0 ? ` (${formatBytes(bytes)})` : '';
}

function counts(rows: [string, string | number][]): HTMLTableElement {
  return h(
    'table',
    { class: 'counts' },
    h(
      'tbody',
      {},
      ...rows.map(([k, v]) =>
        h(
          'tr',
          {},
          h('th', { attrs: { scope: 'row' }, text: k }),
          h('td', { text: String(v), class: typeof v === 'number' ? 'num' : undefined }),
        ),
      ),
    ),
  );
}

function short(value: unknown, max = 300): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return s === undefined ? String(value) : s.length > max ? `${s.slice(0, max)}…` : s;
}

function errorList(errors: DataReport['errors']): HTMLElement {
  if (errors.length === 0) return h('p', { class: 'ok', text: 'No errors.' });
  const items = errors.slice(0, MAX_ERRORS).map((e) => {
    const w = whereText(e);
    return h('li', {}, w ? h('span', { class: 'where', text: `${w}: ` }) : null, e.message);
  });
  return h(
    'div',
    {},
    h('h3', { text: `Errors (${errors.length})` }),
    h('ul', { class: 'errors', testid: 'report-errors' }, ...items),
    errors.length > MAX_ERRORS ? h('p', { text: `… and ${errors.length - MAX_ERRORS} more.` }) : null,
  );
}

/** The rationale with the gold answer span in a <mark>. */
function highlighted(text: string, start: number, end: number): HTMLElement {
  const ok = Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= text.length;
  if (!ok) return h('span', { text });
  return h('span', {}, text.slice(0, start), h('mark', { text: text.slice(start, end) }), text.slice(end));
}

function sampleView(g: QuestionGroup): HTMLElement {
  return h(
    'div',
    { class: 'sample', testid: 'report-sample' },
    h('h3', { text: 'One question and its kept rationales' }),
    h('p', { class: 'question' }, h('strong', { text: 'Q: ' }), g.question),
    g.choices?.length ? h('p', { text: `Choices: ${g.choices.join(' | ')}` }) : null,
    h('p', {}, h('strong', { text: 'Gold answer: ' }), g.answer),
    h(
      'ol',
      { class: 'rationales' },
      ...g.rationales.map((r) => h('li', {}, h('p', { class: 'rationale' }, highlighted(r.text, r.answerStart, r.answerEnd)))),
    ),
  );
}

export function reportView(d: DataSummary): HTMLElement {
  const r = d.report;
  const dropped = Object.entries(r.dropped ?? {}).filter(([, n]) => n > 0);
  const extra = Object.entries(r).filter(([k]) => !KNOWN.has(k));
  return h(
    'div',
    { class: 'report' },
    // The report is long and Start is three screens below it: one link to
    // the next thing to do.
    d.groups > 0
      ? h(
          'p',
          { class: 'next-step' },
          h('a', { attrs: { href: '#section-training' }, testid: 'next-step', text: 'Next: start training (step 5) ↓' }),
          ' — or check the settings (step 4) first.',
        )
      : null,
    h(
      'p',
      { class: 'summary' },
      `${d.name}${sizeText(d.bytes)}: format `,
      h('code', { text: r.format }),
      `, answers `,
      h('code', { text: d.taskType }),
      ` (${TASK_TYPES[d.taskType] ?? 'how answers are compared'})`,
    ),
    counts([
      ['Records read', r.records],
      ['Questions', r.questions],
      ['Rationales in the file', r.rationalesIn],
      ['Rationales kept', r.rationalesKept],
      ...(r.keptOnLabel
        ? [["Kept on the teacher's label (answer not readable; answer sentence appended)", r.keptOnLabel] as [string, number]]
        : []),
      ['Questions for training', d.groups],
      ['Questions held out for evaluation (dev split)', d.dev],
    ]),
    h('h3', { text: 'Dropped' }),
    dropped.length === 0
      ? h('p', { class: 'ok', text: 'Nothing was dropped.' })
      : h(
          'ul',
          { testid: 'report-dropped' },
          ...dropped.map(([reason, n]) =>
            h(
              'li',
              {},
              h('code', { text: reason }),
              `: ${n}`,
              DROP_REASONS[reason] ? h('span', { class: 'muted', text: ` — ${DROP_REASONS[reason]}` }) : null,
            ),
          ),
        ),
    Array.isArray(r.droppedExamples) && r.droppedExamples.length > 0
      ? h(
          'details',
          {},
          h('summary', { text: `Examples of dropped rationales (${r.droppedExamples.length})` }),
          ...r.droppedExamples.slice(0, 10).map((x) => h('pre', { text: short(x, 600) })),
        )
      : null,
    errorList(r.errors ?? []),
    extra.length > 0 ? h('details', {}, h('summary', { text: 'More details' }), counts(extra.map(([k, v]) => [k, short(v)]))) : null,
    d.sample ? sampleView(d.sample) : h('p', { text: 'No question was kept, so there is nothing to train on.' }),
  );
}

export function evalReportView(e: EvalDataSummary): HTMLElement {
  const r = e.report;
  return h(
    'div',
    { class: 'report eval-report', testid: 'eval-report' },
    h(
      'p',
      { class: 'summary' },
      `Evaluation file ${e.name}${sizeText(e.bytes)}: ${e.items} questions, format `,
      h('code', { text: r.format }),
      ', answers ',
      h('code', { text: e.taskType }),
      ` (${TASK_TYPES[e.taskType] ?? 'how answers are compared'})`,
    ),
    errorList(r.errors ?? []),
  );
}
