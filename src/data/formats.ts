// The accepted record formats: detection from a record's keys, and each
// format's adapter to one RawItem (question, gold, rationales), naming the
// field of every problem.

import { parseChoices } from './answer';

export type FormatName = 'native' | 'mcc-kd' | 'mentor-kd' | 'fine-tune-cot' | 'step-by-step' | 'chat';

export const ACCEPTED_FORMATS =
  'accepted: a JSON array or JSON Lines of {question, rationales, answer} (native), ' +
  '{instruction, output, label} (MCC-KD), {input, chain, answer} (Mentor-KD), ' +
  '{sample_index, question, answer, reasoning_completion} (Fine-tune-CoT, also in its {metadata, data} wrapper), ' +
  '{input, label, rationale, llm_label} (distilling step-by-step) or {messages: [user, assistant]} (chat)';

/** Formats with one record per question: a repeated question there is a
 * duplicate to merge and count; elsewhere grouping records is the format. */
export const ONE_RECORD_PER_QUESTION: ReadonlySet<FormatName> = new Set(['native', 'mcc-kd']);

export interface RawRationale {
  text: string;
  field: string;
  /** The teacher's own answer when the format records it (llm_label). */
  teacherAnswer?: string;
  /** The format marks it wrong (Mentor-KD initial_correct: false). */
  markedIncorrect?: boolean;
  /** The format marks it right (Mentor-KD initial_correct: true: the
   * teacher's own answer matched the gold), which curation's `unreadable:
   * 'keep-labelled'` trusts when no answer can be read in the text. */
  markedCorrect?: boolean;
}

export interface RawItem {
  id?: string;
  question: string;
  /** Raw gold; undefined only for chat records without an "answer" field. */
  answer?: string;
  choices?: string[];
  rationales: RawRationale[];
}

interface FieldProblem {
  reason: 'missing-field' | 'wrong-type' | 'empty-question' | 'empty-rationale' | 'text-too-long' | 'imprecise-number';
  field: string;
  message: string;
}

export type Rec = Record<string, unknown>;

export function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function detectFormat(r: Rec): FormatName | null {
  const has = (k: string): boolean => k in r;
  if (has('messages')) return 'chat';
  if (has('sample_index') || has('reasoning_completion')) return 'fine-tune-cot';
  if (has('instruction')) return 'mcc-kd';
  if (has('question')) return 'native';
  if (has('input') && has('chain')) return 'mentor-kd';
  if (has('input') && (has('rationale') || has('llm_label') || has('label'))) return 'step-by-step';
  if (has('input') && has('answer')) return 'mentor-kd';
  return null;
}

/** A finite JSON number as plain decimal digits, never in exponent
 * notation: 1.5e-7 -> "0.00000015", 1e21 -> "1000000000000000000000". The
 * digits are the shortest ones that read back as the same number. */
export function plainNumber(v: number): string {
  const s = String(v);
  const e = s.search(/e/i);
  if (e < 0) return s;
  const neg = s.startsWith('-');
  const mantissa = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const point = (dot < 0 ? mantissa.length : dot) + exp; // digits before the decimal point
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return neg ? `-${out}` : out;
}

/** Collects problems while reading one record's fields. */
class Reader {
  readonly problems: FieldProblem[] = [];
  constructor(
    private readonly r: Rec,
    private readonly maxChars: number,
  ) {}

  problem(reason: FieldProblem['reason'], field: string, message: string): undefined {
    this.problems.push({ reason, field, message: `${field}: ${message}` });
    return undefined;
  }

  private typeName(v: unknown): string {
    return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
  }

  /** A text field (`value` given: a nested one); numbers and booleans are
   * accepted where a label may be written unquoted. With `exact` (answers),
   * an integer beyond 2^53 is refused: JSON.parse keeps only about 16 of
   * its digits, and a gold answer with other digits would be wrong. */
  text(field: string, opts: { optional?: boolean; numeric?: boolean; exact?: boolean; value?: unknown } = {}): string | undefined {
    const v = 'value' in opts ? opts.value : this.r[field];
    if (v === undefined || v === null) return opts.optional ? undefined : this.problem('missing-field', field, 'missing');
    if (typeof v === 'number' && opts.numeric && Number.isFinite(v)) {
      if (opts.exact && !Number.isSafeInteger(v) && Number.isInteger(v)) {
        return this.problem(
          'imprecise-number',
          field,
          `the JSON number ${plainNumber(v)} is beyond 2^53 (9007199254740991), where JSON numbers lose digits when read; write it as a string`,
        );
      }
      return plainNumber(v);
    }
    if (typeof v === 'boolean' && opts.numeric) return v ? 'yes' : 'no';
    if (typeof v !== 'string') return this.problem('wrong-type', field, `must be a string, got ${this.typeName(v)}`);
    if (v.length > this.maxChars) {
      return this.problem('text-too-long', field, `${v.length} characters, over the ${this.maxChars} limit (limits.maxTextChars)`);
    }
    return v;
  }

  question(field: string, value: unknown = this.r[field]): string | undefined {
    const q = this.text(field, { value });
    if (q !== undefined && q.trim() === '') return this.problem('empty-question', field, 'empty question');
    return q?.trim();
  }

  rationale(field: string, value: unknown, extra: Partial<RawRationale> = {}): RawRationale | undefined {
    const t = this.text(field, { value });
    if (t === undefined) return undefined;
    if (t.trim() === '') return this.problem('empty-rationale', field, 'empty rationale');
    return { text: t, field, ...extra };
  }

  list(field: string): unknown[] | undefined {
    const v = this.r[field];
    if (v === undefined || v === null) return this.problem('missing-field', field, 'missing');
    if (!Array.isArray(v)) return this.problem('wrong-type', field, `must be an array, got ${this.typeName(v)}`);
    return v;
  }
}

const INDEXED: Record<string, string[]> = { rationales: [], output: [] };

/** "rationales[2]": one shared string per list and index (every rationale
 * keeps its field name; a million records need not hold a million copies). */
function indexed(list: 'rationales' | 'output', i: number): string {
  const names = INDEXED[list];
  if (i >= 256) return `${list}[${i}]`;
  for (let j = names.length; j <= i; j++) names.push(`${list}[${j}]`);
  return names[i];
}

interface AdaptResult {
  /** Undefined when the record is unusable (no question or no gold). */
  item?: RawItem;
  problems: FieldProblem[];
  /** Rationale entries met, good or bad (the report's rationalesIn). */
  rationalesSeen: number;
}

/** One record to one item. With `withRationales` false (evaluation files)
 * rationale fields, such as a test file's own teacher attempt, are ignored. */
export function adapt(format: FormatName, r: Rec, withRationales: boolean, maxChars: number): AdaptResult {
  const rd = new Reader(r, maxChars);
  let question: string | undefined;
  let answer: string | undefined;
  let id: string | undefined;
  let choices: string[] | undefined;
  const rationales: RawRationale[] = [];
  let seen = 0;
  const add = (field: string, value: unknown, extra?: Partial<RawRationale>): void => {
    seen++;
    const x = rd.rationale(field, value, extra);
    if (x) rationales.push(x);
  };

  switch (format) {
    case 'native': {
      question = rd.question('question');
      answer = rd.text('answer', { numeric: true, exact: true });
      id = rd.text('id', { numeric: true, optional: true });
      const c = 'choices' in r ? rd.list('choices') : undefined;
      if (c?.every((x) => typeof x === 'string')) choices = c as string[];
      else if (c) rd.problem('wrong-type', 'choices', 'must be an array of strings');
      // A rationale is a string or, as the teach step writes it, an object
      // whose `text` is the rationale (teacher, seed, prompt beside it).
      if (withRationales)
        for (const [i, x] of (rd.list('rationales') ?? []).entries())
          isRecord(x) ? add(`${indexed('rationales', i)}.text`, x.text) : add(indexed('rationales', i), x);
      break;
    }
    case 'mcc-kd': {
      question = rd.question('instruction');
      answer = rd.text('label', { numeric: true, exact: true });
      const out = r.output;
      // MCC-KD's dev files carry output: "" (no rationale).
      if (!withRationales || out === '' || out === undefined) break;
      if (typeof out === 'string') add('output', out);
      else for (const [i, x] of (rd.list('output') ?? []).entries()) add(indexed('output', i), x);
      break;
    }
    case 'mentor-kd': {
      question = rd.question('input');
      answer = rd.text('answer', { numeric: true, exact: true });
      if (withRationales) {
        const label = r.initial_correct === false ? { markedIncorrect: true } : r.initial_correct === true ? { markedCorrect: true } : {};
        add('chain', r.chain, label);
      }
      break;
    }
    case 'fine-tune-cot': {
      question = rd.question('question');
      answer = rd.text('answer', { numeric: true, exact: true });
      id = rd.text('sample_index', { numeric: true, optional: true });
      const field = 'reasoning_completion' in r || !('completion' in r) ? 'reasoning_completion' : 'completion';
      if (withRationales) add(field, r[field]);
      break;
    }
    case 'step-by-step': {
      question = rd.question('input');
      answer = rd.text('label', { numeric: true, exact: true });
      if (!withRationales) break;
      const llm = rd.text('llm_label', { numeric: true, exact: true, optional: true });
      add('rationale', r.rationale, llm !== undefined ? { teacherAnswer: llm } : {});
      break;
    }
    case 'chat': {
      const msgs = rd.list('messages');
      if (!msgs) break;
      const role = (i: number): unknown => (isRecord(msgs[i]) ? (msgs[i] as Rec).role : undefined);
      const content = (i: number): unknown => (msgs[i] as Rec).content;
      const user = msgs.findIndex((_, i) => role(i) === 'user');
      let asst = -1;
      msgs.forEach((_, i) => {
        if (role(i) === 'assistant') asst = i;
      });
      if (user < 0) {
        rd.problem('missing-field', 'messages', 'no message with role "user"');
        break;
      }
      question = rd.question(`messages[${user}].content`, content(user));
      answer = rd.text('answer', { numeric: true, exact: true, optional: true });
      if (asst < 0) {
        if (withRationales || answer === undefined) rd.problem('missing-field', 'messages', 'no message with role "assistant"');
      } else if (withRationales) add(`messages[${asst}].content`, content(asst));
      // An evaluation chat states the gold as the assistant's reply.
      else if (answer === undefined) answer = rd.text(`messages[${asst}].content`, { value: content(asst) })?.trim();
      break;
    }
  }
  if (question && !choices) choices = parseChoices(question);
  const usable = !!question && (answer !== undefined || (format === 'chat' && withRationales));
  return {
    item: usable && question ? { id, question, answer, choices, rationales } : undefined,
    problems: rd.problems,
    rationalesSeen: seen,
  };
}
