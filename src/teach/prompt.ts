// The teacher's prompt: a few-shot chain-of-thought template per task type
// whose worked answers end in our canonical answer sentence, so that the
// teacher copies it and curation can read the answer; and the "student"
// template (no few-shot) that a GGUF exported from our own student reads.
// A template is a string with {question} once (validatePromptTemplate); an
// optional {choices} is replaced by the lettered choices of a multiple
// choice question. Pure string code: it runs in the worker and in Node.

import { DEFAULT_PROMPT_TEMPLATE, PromptTemplateError, validatePromptTemplate } from '../data/template';
import { canonicalAnswerSentence, type TaskType } from '../data/types';
import type { ChatMessage, TeachPrompt, TeachQuestion } from './types';

export { PromptTemplateError };

/** The system line of a chat request: what every rationale must end with. */
export const SYSTEM_LINE =
  'You solve problems step by step. Reason briefly, then end with one line of the form "Therefore, the answer is X."';

interface Shot {
  q: string;
  steps: string;
  a: string;
}

// Worked examples: short, each ending in the canonical sentence.
const SHOTS: Record<TaskType, Shot[]> = {
  number: [
    {
      q: 'Tom has 3 boxes with 4 apples in each box. He eats 2 apples. How many apples are left?',
      steps: 'The boxes hold 3 * 4 = 12 apples. After eating 2, 12 - 2 = 10 apples are left.',
      a: '10',
    },
    {
      q: 'A train travels 60 km per hour for 2 hours, then 30 km more. How far does it travel?',
      steps: 'In 2 hours it goes 60 * 2 = 120 km. Adding 30 km gives 120 + 30 = 150 km.',
      a: '150',
    },
  ],
  yesno: [
    {
      q: 'Could a cat fit inside a teacup?',
      steps: 'A grown cat is about 45 cm long, a teacup holds a few centimetres. A cat is far too big.',
      a: 'no',
    },
    {
      q: 'Is water heavier than air?',
      steps: 'A litre of water weighs about 1 kg, a litre of air about 1.2 g. So water is heavier.',
      a: 'yes',
    },
  ],
  choice: [
    {
      q: 'Which of these is a mammal?\nAnswer Choices: (A) shark (B) dolphin (C) trout',
      steps: 'Sharks and trout are fish that breathe through gills; a dolphin breathes air and feeds its young milk.',
      a: 'B',
    },
    {
      q: 'What do plants take in to make sugar?\nAnswer Choices: (A) oxygen (B) salt (C) carbon dioxide',
      steps: 'Photosynthesis turns carbon dioxide and water into sugar, giving off oxygen.',
      a: 'C',
    },
  ],
  text: [
    {
      q: 'Take the last letters of the words in "Elon Musk" and concatenate them.',
      steps: 'The last letter of "Elon" is "n", the last letter of "Musk" is "k". Together: "nk".',
      a: 'nk',
    },
    {
      q: 'Take the last letters of the words in "Larry Page" and concatenate them.',
      steps: 'The last letter of "Larry" is "y", the last letter of "Page" is "e". Together: "ye".',
      a: 'ye',
    },
  ],
};

function fewShot(type: TaskType): string {
  const shots = SHOTS[type].map((s) => `Q: ${s.q}\nA: ${s.steps}\n${canonicalAnswerSentence(s.a)}\n\n`).join('');
  return `${shots}Q: {question}\nA:`;
}

/** The default few-shot template of each task type. */
export const FEW_SHOT_TEMPLATES: Readonly<Record<TaskType, string>> = {
  number: fewShot('number'),
  yesno: fewShot('yesno'),
  choice: fewShot('choice'),
  text: fewShot('text'),
};

/** Template presets by name: `few-shot` (per task type) or `student`, the
 * layout our student trains on (a GGUF exported from it continues it). */
export const TEMPLATE_PRESETS = ['few-shot', 'student'] as const;
export type TemplatePreset = (typeof TEMPLATE_PRESETS)[number];

export function presetTemplate(preset: string, type: TaskType): string {
  if (preset === 'few-shot') return FEW_SHOT_TEMPLATES[type];
  if (preset === 'student') return DEFAULT_PROMPT_TEMPLATE;
  throw new PromptTemplateError(`unknown template preset "${preset}" (expected ${TEMPLATE_PRESETS.join(' or ')})`);
}

/** Stop strings for a template: a few-shot prompt's next "Q:" ends a
 * rationale (the teacher would go on with a question of its own). */
export function defaultStops(template: string): string[] {
  return /^Q:/m.test(template) ? ['\nQ:', '\n\nQ:'] : [];
}

/** "(A) x (B) y" of a multiple-choice question, '' without choices. */
export function choicesLine(choices: string[] | undefined): string {
  if (!choices || choices.length === 0) return '';
  return choices.map((c, i) => `(${String.fromCharCode(65 + i)}) ${c}`).join(' ');
}

/** The question as shown to the teacher: a multiple-choice question whose
 * text does not list its choices gets an "Answer Choices:" line. */
function questionText(q: TeachQuestion, template: string): string {
  const text = q.question.trim();
  const line = choicesLine(q.choices);
  if (!line || template.includes('{choices}') || /\(A\)/.test(text)) return text;
  return `${text}\nAnswer Choices: ${line}`;
}

/** The prompt of one question, in both shapes: `text` for a completions
 * endpoint or a raw model, `messages` (system line + the user turn, the same
 * text) for a chat endpoint. Throws a PromptTemplateError naming the problem. */
export function renderPrompt(template: string, q: TeachQuestion): TeachPrompt {
  const t = validatePromptTemplate(template);
  if (typeof q.question !== 'string' || q.question.trim() === '') throw new PromptTemplateError(`question ${q.id}: empty question`);
  const i = t.indexOf('{question}');
  // {choices} is filled in the template's own text, never inside the
  // question; no String.replace: a `$&` in the question must stay literal.
  const fill = (part: string): string => part.split('{choices}').join(choicesLine(q.choices));
  const text = fill(t.slice(0, i)) + questionText(q, t) + fill(t.slice(i + '{question}'.length));
  const messages: ChatMessage[] = [
    { role: 'system', content: SYSTEM_LINE },
    { role: 'user', content: text },
  ];
  return { messages, text };
}
