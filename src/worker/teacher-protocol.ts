// Plain data between the page and the teacher worker (structured clone):
// types only, so the UI imports them with `import type`.

import type { TaskType } from '../data/types';
import type { TeachRunStatus } from '../checkpoint/schema';
import type { TeachErrorKind, TeachProgress, TeachSettings } from '../teach/types';
import type { DataSource } from './protocol';

export type { TeachProgress, TeachSettings };

/** The endpoint as typed; the API key travels only in TeachSecret. */
export interface EndpointChoice {
  kind: 'endpoint';
  baseUrl: string;
  model: string;
  api: 'chat' | 'completions';
}

export type TeacherChoice = EndpointChoice | { kind: 'gguf' };

/** What the run needs but is never stored: the API key (unless the page
 * keeps it itself, when asked to remember it) and the GGUF File. */
export interface TeachSecret {
  apiKey?: string;
  gguf?: File;
}

export interface TeachStart {
  questions: DataSource;
  /** Ask only the first N questions (blank in the form: all). */
  limit?: number;
  teacher: TeacherChoice;
  /** Without template/taskType: the few-shot default of the file's task type. */
  settings: Partial<TeachSettings>;
}

export interface QuestionsSummary {
  name: string;
  taskType: TaskType;
  count: number;
  /** The default template for that task type (what the form shows). */
  template: string;
}

/** A failure with the words to show; `kind` 'csp' and 'cors' have their own
 * message in the page. */
export interface TeachProblem {
  kind: TeachErrorKind;
  message: string;
  hint?: string;
}

export type PreflightOutcome = { ok: true; models: string[] } | ({ ok: false } & TeachProblem);

export interface TeachRunView {
  id: string;
  status: TeachRunStatus;
  questionsName: string;
  questions: number;
  samples: number;
  stored: number;
  teacher:
    | { kind: 'endpoint'; baseUrl: string; model: string; api: 'chat' | 'completions'; name: string }
    | { kind: 'gguf'; fileName: string; bytes: number; name: string };
  updatedAt: number;
}

export interface QuestionReportRow {
  questionId: string;
  question: string;
  generated: number;
  correct: number;
  diverse: number;
  kept: number;
  /** reason -> count */
  dropped: Record<string, number>;
}

export interface TeachOutcome {
  run: TeachRunView;
  cancelled: boolean;
  failures: number;
  lastError?: TeachProblem;
  progress: TeachProgress;
}

export interface TeachReportView {
  rows: QuestionReportRow[];
  /** Questions with fewer than 2 kept: what "Re-ask" asks again. */
  fewKept: string[];
  totals: { questions: number; generated: number; correct: number; diverse: number; kept: number };
}
