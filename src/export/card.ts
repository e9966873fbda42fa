// The README.md that travels with every export, so that a file found later
// explains itself: YAML front matter as the Hub reads it (library_name,
// base_model, tags), what the files are and how to load them, and the run's
// facts (data, MCC-KD settings, steps, final losses, accuracy, base, LoRA).
// Text that comes from the run (file names, model names) is quoted in the
// YAML and escaped in the Markdown, so it can never break either.

import { archOf } from '../core/config';
import type { ExportModel } from './source';

export type ExportFormat = 'hf' | 'peft' | 'gguf';

/** A YAML double-quoted scalar: JSON's string escapes are a subset of YAML's. */
const yamlStr = (s: string): string => JSON.stringify(s);

/** Markdown-inert text on one line, for table cells and the title: the
 * marks that act anywhere in a line (emphasis, code, links, HTML, cell
 * bars) are backslash-escaped, line breaks become spaces. */
export function mdText(s: string): string {
  return s.replace(/[\r\n\u2028\u2029]+/g, ' ').replace(/[\\`*_[\]<>|~&#]/g, (c) => `\\${c}`);
}

const num = (x: number, digits = 4): string => (Number.isFinite(x) ? String(Number(x.toPrecision(digits))) : String(x));

/** The base as the Hub names it: the config's `_name_or_path` when it is a
 * repo id (owner/name), else the folder name the run recorded. */
export function baseModelName(m: ExportModel): string | undefined {
  if (!m.base) return undefined;
  const n = (m.baseConfig as { _name_or_path?: unknown } | undefined)?._name_or_path;
  return typeof n === 'string' && /^[\w.-]+\/[\w.-]+$/.test(n) ? n : m.base.name;
}

function frontMatter(m: ExportModel, format: ExportFormat): string {
  const base = baseModelName(m);
  const tags = [
    'mcckd',
    'knowledge-distillation',
    'chain-of-thought',
    ...(m.adapter ? ['lora'] : []),
    ...(format === 'gguf' ? ['gguf'] : []),
  ];
  const lines = ['---'];
  if (format !== 'gguf') lines.push(`library_name: ${format === 'peft' ? 'peft' : 'transformers'}`);
  if (base) lines.push(`base_model: ${yamlStr(base)}`);
  lines.push('tags:', ...tags.map((t) => `- ${t}`), 'pipeline_tag: text-generation', '---');
  return lines.join('\n');
}

function howToLoad(m: ExportModel, format: ExportFormat, base: string | undefined): string {
  if (format === 'peft') {
    return [
      'A PEFT LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`) for its base model:',
      '',
      '```python',
      'from transformers import AutoModelForCausalLM',
      'from peft import PeftModel',
      `base = AutoModelForCausalLM.from_pretrained(${JSON.stringify(base ?? 'BASE_MODEL')})`,
      'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
      '```',
      '',
      'In mcckd: `mcckd score --student BASE --adapter THIS_FOLDER`, or continue training with `mcckd train --student BASE --adapter THIS_FOLDER`.',
    ].join('\n');
  }
  if (format === 'gguf') return 'One GGUF file for llama.cpp and the tools built on it: `llama-cli -m model.gguf -p "Q: ..."`.';
  return [
    'A Hugging Face model folder (`config.json`, `model.safetensors`, `generation_config.json`, `tokenizer.json`, `tokenizer_config.json`)' +
      (m.adapter ? ', the LoRA adapter merged into the weights:' : ':'),
    '',
    '```python',
    'from transformers import AutoModelForCausalLM, AutoTokenizer',
    'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
    'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
    '```',
    '',
    'In mcckd: `mcckd score --student THIS_FOLDER`, or continue training with `mcckd train --student THIS_FOLDER`.',
  ].join('\n');
}

/** The card of an export of `m` in `format`. */
export function modelCard(m: ExportModel, format: ExportFormat): string {
  const base = baseModelName(m);
  const tc = m.trainConfig;
  const rows: [string, string][] = [];
  const d = m.facts.data;
  if (d) {
    rows.push(['Teacher data', mdText(d.file)]);
    rows.push(['Questions / rationales kept', `${d.questions} / ${d.rationales}`]);
    if (d.trainQuestions !== undefined) rows.push(['Train / dev questions', `${d.trainQuestions} / ${d.devQuestions ?? 0}`]);
  }
  rows.push(
    ['alpha (consistency weight)', num(tc.alpha)],
    ['T (temperature)', num(tc.temperature)],
    ['K (rationales per question)', String(tc.k)],
  );
  rows.push(['Steps', `${m.step} of ${tc.steps}`], ['Batch / peak learning rate', `${tc.batchSize} / ${num(tc.lr)}`]);
  const last = m.metrics.length ? m.metrics[m.metrics.length - 1] : undefined;
  if (last) rows.push([`Final losses (step ${last.step})`, `CE ${num(last.ce)}, KL ${num(last.kl)}, total ${num(last.loss)}`]);
  const ev = m.facts.evaluation;
  if (ev)
    rows.push([
      'Evaluation accuracy',
      `${num(100 * ev.accuracy, 3)}% (${ev.correct} of ${ev.total})${ev.file ? ` on ${mdText(ev.file)}` : ''}`,
    ]);
  if (m.base) rows.push(['Base model', `${mdText(base ?? m.base.name)} (${m.base.arch}, weights ${m.base.fingerprint})`]);
  else
    rows.push([
      'Student',
      `trained from scratch: ${archOf(m.modelConfig)} preset ${tc.preset}, our byte-level BPE (${m.modelConfig.vocabSize} tokens)`,
    ]);
  if (m.base)
    rows.push([
      'Fine-tuning',
      m.adapter
        ? `LoRA r ${m.adapter.lora.rank}, alpha ${num(m.adapter.lora.alpha)}, on ${m.adapter.lora.targets.join(', ')}`
        : 'every weight (no LoRA)',
    ]);
  rows.push(['Parameters', m.parameters.toLocaleString('en')]);
  if (format !== 'peft') rows.push(['Stored as', m.dtype]);
  const title = format === 'peft' ? 'LoRA adapter' : format === 'gguf' ? 'GGUF model' : 'Model';
  return [
    frontMatter(m, format),
    '',
    `# ${mdText(m.facts.name)}: ${title} distilled with MCC-KD`,
    '',
    "A student language model trained by Multi-CoT Consistent Knowledge Distillation (MCC-KD): it learns the teacher's " +
      'rationales (cross-entropy) while a symmetric KL term keeps its answer distributions consistent across different ' +
      'rationales of the same question.',
    '',
    howToLoad(m, format, base),
    '',
    '## The run',
    '',
    '| | |',
    '|---|---|',
    // every value from run text went through mdText; the rest are numbers and names we checked
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    'Written by `mcckd export`.',
    '',
  ].join('\n');
}
