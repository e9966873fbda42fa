// The Student step: a model trained from scratch (the preset in Settings) or
// a pretrained Hugging Face model folder, with what it is (architecture,
// size, dtype, the memory plan on this GPU), its LoRA setting and how its
// frozen base is held on the GPU. Thin: the worker reads and checks the
// folder; text from the folder is shown as text.

import type { BaseDtype } from '../core/base-dtype-choice';
import type { LoraConfig } from '../core/records';
import { studentKind, type StudentKind } from '../core/run-settings';
import type { StudentSummary } from '../worker/protocol';
import { DEFAULT_PROMPT_TEMPLATE, validatePromptTemplate } from '../data/template';
import {
  BASE_DTYPE_HELP,
  BASE_DTYPE_LABELS,
  BASE_DTYPE_ORDER,
  baseDtypeChoice,
  baseDtypeApplies,
  keepBaseDtype,
  keptBaseDtype,
  onGpuWords,
  type BaseDtypeChoice,
} from './base-dtype';
import { filePicker, type FilePicker } from './file-picker';
import { h, nextId } from './dom';

interface StudentActions {
  /** Reads the picked folder in the worker (its plan holds the base in `baseDtype`). */
  load(files: File[], baseDtype: BaseDtype): Promise<{ summary: StudentSummary; lora: LoraConfig | null; note?: string }>;
  setLora(lora: LoraConfig | null): Promise<StudentSummary | undefined>;
  /** The base dtype changed: the picked student's plan again. */
  setBaseDtype(baseDtype: BaseDtype): Promise<StudentSummary | undefined>;
  /** Reads a PEFT adapter folder onto the picked base (continue training it). */
  loadAdapter(files: File[]): Promise<{ summary: StudentSummary; lora: LoraConfig }>;
  clear(): Promise<void>;
  /** The student changed: from scratch, LoRA, or every weight of a pretrained one. */
  changed(kind: StudentKind): void;
}

const fmtParams = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n.toLocaleString('en'));

export class StudentView {
  readonly el: HTMLElement;
  private summary?: StudentSummary;
  private readonly scratch: HTMLInputElement;
  private readonly pretrained: HTMLInputElement;
  private readonly folder: HTMLInputElement;
  private readonly info = h('div', { class: 'student-info', testid: 'student-info' });
  private readonly status = h('p', { class: 'muted', testid: 'student-status', attrs: { 'aria-live': 'polite' } });
  private readonly rank: HTMLInputElement;
  private readonly alpha: HTMLInputElement;
  private readonly targets = h('div', { class: 'inline', testid: 'lora-targets' });
  private readonly loraBox: HTMLElement;
  private readonly template: HTMLInputElement;
  private readonly folderRow: HTMLElement;
  private readonly folderPicker: FilePicker;
  private readonly recompute: HTMLInputElement;
  private readonly adapter: HTMLInputElement;
  private readonly adapterStatus = h('small', { testid: 'adapter-status', attrs: { 'aria-live': 'polite' } });
  private readonly baseSelect: HTMLSelectElement;
  /** Why only f32 is offered (off WebGPU); when the choice does not apply. */
  private readonly baseWhy = h('small', { testid: 'base-dtype-why' });
  private readonly baseApplies = h('small', { testid: 'base-dtype-applies', text: baseDtypeApplies('scratch') });
  private backend: string | undefined;
  private lora: LoraConfig | null = null;
  private choice: BaseDtypeChoice = baseDtypeChoice(undefined, keptBaseDtype());

  constructor(private readonly act: StudentActions) {
    const group = nextId('student-kind');
    this.scratch = h('input', { attrs: { type: 'radio', name: group, id: nextId('scratch'), checked: true }, testid: 'student-scratch' });
    this.pretrained = h('input', { attrs: { type: 'radio', name: group, id: nextId('pretrained') }, testid: 'student-pretrained' });
    this.folder = h('input', {
      attrs: { type: 'file', id: nextId('folder'), webkitdirectory: '', multiple: true },
      testid: 'student-folder',
    });
    this.folder.addEventListener('change', () => void this.pick());
    this.folderPicker = filePicker(this.folder, {
      label: 'Model folder: config.json, model.safetensors (or its shards), tokenizer.json',
      button: 'Choose a folder…',
      none: 'no folder loaded',
      testid: 'student-folder-name',
    });
    this.folderRow = this.folderPicker.el;
    this.scratch.addEventListener('change', () => void this.useScratch());
    this.pretrained.addEventListener('change', () => {
      this.folderRow.hidden = false;
      if (!this.summary) this.folder.click();
    });
    this.rank = h('input', {
      attrs: { type: 'number', id: nextId('lora-rank'), min: 0, max: 256, step: 1, value: 8 },
      testid: 'lora-rank',
    });
    this.alpha = h('input', { attrs: { type: 'number', id: nextId('lora-alpha'), min: 0, step: 'any', value: 16 }, testid: 'lora-alpha' });
    for (const el of [this.rank, this.alpha]) el.addEventListener('change', () => void this.applyLora());
    this.template = h('input', {
      attrs: { type: 'text', id: nextId('template'), value: DEFAULT_PROMPT_TEMPLATE.replace('\n', '\\n'), spellcheck: 'false' },
      testid: 'prompt-template',
    });
    this.recompute = h('input', { attrs: { type: 'checkbox', id: nextId('recompute') }, testid: 'recompute' });
    this.adapter = h('input', {
      attrs: { type: 'file', id: nextId('adapter'), webkitdirectory: '', multiple: true },
      testid: 'adapter-folder',
    });
    this.adapter.addEventListener('change', () => void this.pickAdapter());
    this.baseSelect = h('select', { attrs: { id: nextId('base-dtype') }, testid: 'base-dtype' });
    this.baseSelect.append(...BASE_DTYPE_ORDER.map((d) => h('option', { attrs: { value: d }, text: BASE_DTYPE_LABELS[d] })));
    this.baseSelect.addEventListener('change', () => void this.pickBaseDtype());
    const baseBox = h(
      'div',
      { class: 'field' },
      h('label', { attrs: { for: this.baseSelect.id }, text: 'Base weights on the GPU' }),
      this.baseSelect,
      h('small', { text: BASE_DTYPE_HELP }),
      this.baseWhy,
      this.baseApplies,
    );
    this.showChoice();
    this.loraBox = h(
      'fieldset',
      { class: 'lora', attrs: { hidden: true } },
      h('legend', { text: 'LoRA (the base stays frozen; only the adapter trains)' }),
      h(
        'div',
        { class: 'inline' },
        h('label', { attrs: { for: this.rank.id }, text: 'Rank r' }),
        this.rank,
        h('label', { attrs: { for: this.alpha.id }, text: 'Alpha' }),
        this.alpha,
      ),
      h('small', { text: 'The update is scaled by alpha / r. Rank 0 trains every weight instead (full fine-tuning: far more memory).' }),
      h('p', { text: 'Adapted projections:' }),
      this.targets,
      h(
        'div',
        { class: 'field' },
        h('label', {
          attrs: { for: this.adapter.id },
          text: 'Continue a PEFT adapter (optional): its folder, adapter_config.json and adapter_model.safetensors',
        }),
        this.adapter,
        this.adapterStatus,
      ),
    );
    this.el = h(
      'div',
      { class: 'student' },
      h(
        'div',
        { class: 'inline', attrs: { role: 'radiogroup', 'aria-label': 'Student' } },
        this.scratch,
        h('label', { attrs: { for: this.scratch.id }, text: 'From scratch (Model size in Settings)' }),
        this.pretrained,
        h('label', { attrs: { for: this.pretrained.id }, text: 'Pretrained model folder (Hugging Face: GPT-2, LLaMA / SmolLM2, Qwen2)' }),
      ),
      this.folderRow,
      this.status,
      this.info,
      this.loraBox,
      baseBox,
      h(
        'div',
        { class: 'field' },
        h(
          'div',
          { class: 'inline' },
          this.recompute,
          h('label', { attrs: { for: this.recompute.id }, text: 'Recompute activations in the backward' }),
        ),
        h('small', {
          text: "Keeps only each block's input instead of all its activations: far less memory (see the plan), about a third more time a step.",
        }),
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { attrs: { for: this.template.id }, text: 'Prompt template' }),
        this.template,
        h('small', { text: 'What the student reads before its rationale; {question} is replaced by the question, \\n is a new line.' }),
      ),
    );
    this.folderRow.hidden = true;
  }

  /** The template setting, checked (throws naming the problem). */
  promptTemplate(): string | undefined {
    const t = this.template.value.replace(/\\n/g, '\n');
    if (t === DEFAULT_PROMPT_TEMPLATE) return undefined;
    try {
      return validatePromptTemplate(t);
    } catch (e) {
      this.template.focus();
      throw new Error(`Prompt template: ${(e as Error).message}`);
    }
  }

  /** Whether to recompute activations (a training setting of any student). */
  recomputeActivations(): boolean {
    return this.recompute.checked;
  }

  get current(): StudentSummary | undefined {
    return this.pretrained.checked ? this.summary : undefined;
  }

  /** How a run holds a pretrained student's frozen base (sent with every
   * new run and resume; the worker ignores it from scratch). */
  baseDtype(): BaseDtype {
    return this.choice.value;
  }

  /** The worker's backend (from its report): what it can hold decides what
   * is offered; a changed choice re-plans the picked student. */
  setBackend(backend: string): void {
    this.backend = backend;
    const before = this.choice.value;
    this.choice = baseDtypeChoice(backend, keptBaseDtype());
    this.showChoice();
    if (this.choice.value !== before) void this.replan();
  }

  setEnabled(on: boolean): void {
    for (const el of [
      this.scratch,
      this.pretrained,
      this.folder,
      this.rank,
      this.alpha,
      this.template,
      this.recompute,
      this.adapter,
      this.baseSelect,
    ])
      el.disabled = !on;
    for (const c of this.targets.querySelectorAll('input')) (c as HTMLInputElement).disabled = !on;
  }

  private async pick(): Promise<void> {
    const files = [...(this.folder.files ?? [])];
    if (files.length === 0) return;
    this.status.className = 'muted';
    this.status.textContent = `reading ${files.length} files…`;
    try {
      const r = await this.act.load(files, this.choice.value);
      this.pretrained.checked = true;
      this.show(r.summary, r.lora);
      // a success after an error is no alert: polite again
      this.status.setAttribute('role', 'status');
      this.status.textContent =
        r.note ?? (r.summary.kept ? 'kept in this browser: a run on it resumes after a reload without picking it again' : '');
      this.act.changed(studentKind(true, r.lora !== null));
    } catch (e) {
      this.status.className = 'error';
      this.status.setAttribute('role', 'alert');
      this.status.textContent = `This folder cannot be used: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      this.folder.value = '';
    }
  }

  private async pickAdapter(): Promise<void> {
    const files = [...(this.adapter.files ?? [])];
    if (files.length === 0 || !this.summary) return;
    this.adapterStatus.className = 'muted';
    this.adapterStatus.textContent = 'reading the adapter…';
    try {
      const r = await this.act.loadAdapter(files);
      this.show(r.summary, r.lora);
      this.act.changed('lora');
    } catch (e) {
      this.adapterStatus.className = 'error';
      this.adapterStatus.textContent = `This adapter cannot be used: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      this.adapter.value = '';
    }
  }

  private async useScratch(): Promise<void> {
    this.folderRow.hidden = true;
    this.loraBox.hidden = true;
    this.showApplies('scratch');
    this.info.replaceChildren();
    this.status.textContent = '';
    this.status.className = 'muted';
    this.status.setAttribute('role', 'status');
    this.folderPicker.setLoaded(undefined);
    this.summary = undefined;
    await this.act.clear();
    this.act.changed('scratch');
  }

  private show(s: StudentSummary, lora: LoraConfig | null): void {
    this.summary = s;
    this.folderRow.hidden = false;
    this.folderPicker.setLoaded(`loaded: ${s.name}`);
    const heads = s.nKvHead === s.nHead ? `${s.nHead} heads` : `${s.nHead} heads, ${s.nKvHead} key/value heads`;
    const rows: [string, string][] = [
      ['Model', `${s.name} (${s.arch})`],
      ['Parameters', `${fmtParams(s.params)} (${s.nLayer} layers × ${s.hidden}, ${heads})`],
      ['Stored as', `${s.dtypes.join(', ')} (${onGpuWords(s.baseDtype, lora !== null)})`],
      ['Vocabulary', `${s.vocabSize.toLocaleString('en')} tokens; end token ${JSON.stringify(s.eos)}`],
      ['Positions', `${s.blockSize} (longer rationales are skipped)`],
      ['Output head', s.tied ? 'tied to the token embedding' : 'its own matrix'],
    ];
    const table = h(
      'table',
      { class: 'kv' },
      h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', { attrs: { scope: 'row' }, text: k }), h('td', { text: v })))),
    );
    const plan = s.plan
      ? h(
          'div',
          { testid: 'student-plan' },
          h('p', {
            class: s.plan.fits ? 'ok' : 'error',
            text: s.plan.fits ? 'Memory plan: fits this GPU.' : `Memory plan: does not fit this GPU. ${s.plan.reasons.join(' ')}`,
          }),
          h('pre', { class: 'plan', text: s.plan.text }),
        )
      : h('p', { class: 'muted', testid: 'student-plan', text: 'Memory plan: this backend does not report its limits.' });
    this.info.replaceChildren(table, plan);
    this.rank.value = String(lora?.rank ?? 0);
    this.alpha.value = String(lora?.alpha ?? 16);
    const chosen = new Set(lora?.targets ?? s.defaultTargets);
    this.targets.replaceChildren(
      ...s.loraModules.flatMap((m) => {
        const box = h('input', {
          attrs: { type: 'checkbox', id: nextId(`t-${m}`), value: m, checked: chosen.has(m) },
          testid: `lora-target-${m}`,
        });
        box.addEventListener('change', () => void this.applyLora());
        return [box, h('label', { attrs: { for: box.id }, text: m })];
      }),
    );
    this.loraBox.hidden = false;
    this.lora = lora;
    this.showApplies(lora ? 'lora' : 'full');
    this.adapterStatus.className = 'muted';
    this.adapterStatus.textContent = s.adapter
      ? `Training starts from the adapter "${s.adapter}" (r ${lora?.rank}, alpha ${lora?.alpha}); changing the LoRA setting starts a fresh adapter instead.`
      : '';
  }

  private async applyLora(): Promise<void> {
    if (!this.summary) return;
    const rank = Number(this.rank.value);
    const alpha = Number(this.alpha.value);
    const targets = [...this.targets.querySelectorAll('input:checked')].map((c) => (c as HTMLInputElement).value);
    try {
      if (!Number.isInteger(rank) || rank < 0) throw new Error('Rank must be a whole number, 0 or more');
      if (rank > 0 && !(alpha > 0)) throw new Error('Alpha must be above 0');
      if (rank > 0 && targets.length === 0) throw new Error('pick at least one projection to adapt');
      const s = await this.act.setLora(rank === 0 ? null : { rank, alpha, targets });
      if (s) this.show(s, rank === 0 ? null : { rank, alpha, targets });
      this.act.changed(studentKind(true, rank > 0));
      this.status.className = 'muted';
      this.status.setAttribute('role', 'status');
    } catch (e) {
      this.status.className = 'error';
      this.status.setAttribute('role', 'alert');
      this.status.textContent = `LoRA: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  private showApplies(kind: StudentKind): void {
    this.baseApplies.textContent = baseDtypeApplies(kind);
    this.baseApplies.hidden = this.baseApplies.textContent === '';
  }

  /** The select as the choice says: the options this backend cannot hold
   * are off, with the reason. */
  private showChoice(): void {
    for (const o of this.baseSelect.options) o.disabled = !this.choice.offered.includes(o.value as BaseDtype);
    this.baseSelect.value = this.choice.value;
    this.baseWhy.textContent = this.choice.why ?? '';
    this.baseWhy.hidden = this.choice.why === undefined;
  }

  private async pickBaseDtype(): Promise<void> {
    const d = this.baseSelect.value as BaseDtype;
    keepBaseDtype(d); // a choice made by hand is kept across visits
    this.choice = baseDtypeChoice(this.backend, d);
    this.showChoice();
    await this.replan();
  }

  /** The picked student's plan with the base as chosen. */
  private async replan(): Promise<void> {
    if (!this.summary) return;
    try {
      const s = await this.act.setBaseDtype(this.choice.value);
      if (s) this.show(s, this.lora);
    } catch (e) {
      this.status.className = 'error';
      this.status.setAttribute('role', 'alert');
      this.status.textContent = e instanceof Error ? e.message : String(e); // the worker's words name the setting
    }
  }
}
