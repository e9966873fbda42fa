// The prompt a student reads for a question: one template for the
// from-scratch student (the default) and the pretrained ones (a setting).
// Plain string code with no dependency, so that the UI can validate a
// template setting without loading a tokenizer.

/** The placeholder a template must contain exactly once. */
const QUESTION_PLACEHOLDER = '{question}';

/** Default template, the from-scratch student's layout, which also reads
 * naturally to a base model. The trailing space is not a problem for
 * byte-level BPE: `HfTokenizer` encodes the prompt without its trailing
 * spaces and gives them to the rationale (`A:` then ` He`), see
 * `HfTokenizer.encodePrompt`. */
export const DEFAULT_PROMPT_TEMPLATE = 'Q: {question}\nA: ';

export class PromptTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromptTemplateError';
  }
}

/** Checks a template setting; returns it, or throws a PromptTemplateError
 * that says what is wrong. */
export function validatePromptTemplate(template: unknown): string {
  if (typeof template !== 'string')
    throw new PromptTemplateError(`prompt template must be a string, got ${template === null ? 'null' : typeof template}`);
  const n = template.split(QUESTION_PLACEHOLDER).length - 1;
  if (n === 0)
    throw new PromptTemplateError(`prompt template must contain ${QUESTION_PLACEHOLDER} once, e.g. "Question: {question}\\nAnswer:"`);
  if (n > 1) throw new PromptTemplateError(`prompt template contains ${QUESTION_PLACEHOLDER} ${n} times; it must appear once`);
  if (template.length > 10_000) throw new PromptTemplateError(`prompt template is ${template.length} characters long; at most 10000`);
  return template;
}

/** The prompt the student reads for a question: the template with
 * `{question}` replaced by the trimmed question. */
export function formatPrompt(question: string, template: string = DEFAULT_PROMPT_TEMPLATE): string {
  const t = validatePromptTemplate(template);
  const i = t.indexOf(QUESTION_PLACEHOLDER);
  // No String.replace: a `$&` in the question must stay literal.
  return t.slice(0, i) + question.trim() + t.slice(i + QUESTION_PLACEHOLDER.length);
}
