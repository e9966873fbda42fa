// The Teacher step: generate rationales with a teacher (an OpenAI-compatible
// endpoint or a GGUF file run in the page), watch them arrive, read the
// curation report, and load the result into the Data step like an upload.
// The work is in the teacher worker (./teacher-client.ts); every text shown
// here (questions, the teacher's words, server messages) is a text node.

import { callback } from './client';
import { formatDuration, h, nextId, progressBar } from './dom';
import { guard, showError } from './errors';
import { currentTeacher, teacherWorker, type TeacherRemote } from './teacher-client';
import { connectOrigin } from '../shared/connect-origin';
import { ENDPOINT_PRESETS } from '../teach/endpoint';
import { presetTemplate } from '../teach/prompt';
import type {
  TeachOutcome,
  TeachProblem,
  TeachProgress,
  TeachReportView,
  TeachRunView,
  TeachSecret,
  TeachSettings,
  TeachStart,
} from '../worker/teacher-protocol';
import type { DataSource } from '../worker/protocol';

/** Where the API key lives when the person ticks "remember" (never in the
 * teach run's record, and nowhere at all otherwise). */
const KEY_STORE = 'mcckd.teach.apiKey';

/** What a failure's kind is called above its message. */
const PROBLEM_TITLE: Partial<Record<TeachProblem['kind'], string>> = {
  cors: 'The server does not allow this page (CORS)',
  csp: "The page's Content-Security-Policy blocks this endpoint",
  unreachable: 'No server answers',
  auth: 'The server refused the API key',
  'not-found': 'Wrong base URL or model',
};

interface Field<E extends HTMLElement> {
  el: HTMLElement;
  input: E;
}

function field<E extends HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(label: string, input: E, hint?: string): Field<E> {
  const id = nextId('teach');
  input.id = id;
  return {
    input,
    el: h('div', { class: 'field' }, h('label', { attrs: { for: id }, text: label }), input, hint ? h('small', { text: hint }) : null),
  };
}

function numberInput(testid: string, value: string, attrs: Record<string, string | number> = {}): HTMLInputElement {
  return h('input', { testid, attrs: { type: 'number', value, ...attrs } });
}

function radio(name: string, value: string, label: string, testid: string, checked = false): { el: HTMLElement; input: HTMLInputElement } {
  const id = nextId('teach-radio');
  const input = h('input', { testid, attrs: { type: 'radio', name, value, id, checked } });
  return { input, el: h('span', { class: 'choice' }, input, h('label', { attrs: { for: id }, text: label })) };
}

export class TeachView {
  readonly el: HTMLElement;
  readonly progress = progressBar('Samples', 'teach-progress');
  private readonly problemBox = h('div', { class: 'teach-problem', testid: 'teach-problem', attrs: { role: 'alert' } });
  private readonly lastError = h('p', { class: 'muted', testid: 'teach-last-error' });
  /** What the preflight found (the server's models). */
  private readonly serverNote = h('p', { class: 'muted', testid: 'teach-server', attrs: { 'aria-live': 'polite' } });
  private readonly reportBox = h('div', { testid: 'teach-report' });
  private readonly resumeBox = h('div', { testid: 'teach-unfinished' });
  private readonly f;
  private readonly buttons;
  private running = false;
  private paused = false;
  private runId: string | undefined;
  private fewKept: string[] = [];
  private ggufFile: File | undefined;
  private questionsFile: File | undefined;

  constructor(private readonly o: { useRationales(file: File): void }) {
    const demoQ = radio('teach-questions', 'demo', 'The demo’s questions', 'teach-q-demo', true);
    const fileQ = radio('teach-questions', 'file', 'A questions file', 'teach-q-file');
    const qFile = field(
      'Questions file (JSON or JSON Lines: question + answer)',
      h('input', { testid: 'teach-questions-file', attrs: { type: 'file', accept: '.json,.jsonl,.ndjson,application/json,text/plain' } }),
    );
    const limit = field('Ask the first N questions (blank: all)', numberInput('teach-limit', '20', { min: 1, step: 1 }));
    const endpointK = radio('teach-kind', 'endpoint', 'An OpenAI-compatible server', 'teach-kind-endpoint', true);
    const ggufK = radio('teach-kind', 'gguf', 'A GGUF file, run in this page', 'teach-kind-gguf');
    // The server's kind: its default URL, and the CORS fix a refusal names
    // (kept when the URL is edited: a server on another port is the same server)
    const preset = field(
      'Server',
      h(
        'select',
        { testid: 'teach-preset' },
        ...ENDPOINT_PRESETS.map((p) => h('option', { attrs: { value: p.id }, text: `${p.label} (${new URL(p.baseUrl).host})` })),
        h('option', { attrs: { value: '' }, text: 'Other' }),
      ),
      'Picking one fills in its usual address',
    );
    const baseUrl = field(
      'Base URL',
      h('input', {
        testid: 'teach-base-url',
        attrs: { type: 'text', value: ENDPOINT_PRESETS[0].baseUrl, spellcheck: 'false', autocomplete: 'off' },
      }),
      'Usually ends in /v1',
    );
    const model = field(
      'Model',
      h('input', {
        testid: 'teach-model',
        attrs: { type: 'text', value: '', placeholder: 'e.g. qwen2.5:7b', spellcheck: 'false', autocomplete: 'off' },
      }),
    );
    const apiKind = field(
      'API',
      h(
        'select',
        { testid: 'teach-api' },
        h('option', { attrs: { value: 'chat' }, text: 'chat/completions' }),
        h('option', { attrs: { value: 'completions' }, text: 'completions' }),
      ),
    );
    const remembered = localStorage.getItem(KEY_STORE) ?? '';
    const apiKey = field(
      'API key (optional)',
      h('input', { testid: 'teach-api-key', attrs: { type: 'password', value: remembered, autocomplete: 'off' } }),
      'Kept in this page’s memory only, unless you tick “remember”',
    );
    const rememberId = nextId('teach-remember');
    const remember = h('input', { testid: 'teach-remember', attrs: { type: 'checkbox', id: rememberId, checked: remembered !== '' } });
    const gguf = field(
      'GGUF file',
      h('input', { testid: 'teach-gguf', attrs: { type: 'file', accept: '.gguf' } }),
      'Read from your disk by llama.cpp (WebAssembly) in a worker; nothing is uploaded',
    );
    const templatePreset = field(
      'Prompt',
      h(
        'select',
        { testid: 'teach-template-preset' },
        h('option', { attrs: { value: 'few-shot' }, text: 'Few-shot, for the questions’ task type' }),
        h('option', { attrs: { value: 'student' }, text: 'Student format (a GGUF exported from this app)' }),
      ),
    );
    const template = field(
      'Prompt template ({question} is replaced; blank: the default for the questions’ task type)',
      h('textarea', { testid: 'teach-template', attrs: { rows: 6, spellcheck: 'false' } }),
    );
    const samples = field('Samples per question', numberInput('teach-samples', '5', { min: 1, step: 1 }));
    const temperature = field('Temperature', numberInput('teach-temperature', '0.7', { min: 0, max: 2, step: 0.05 }));
    const topP = field('Top-p', numberInput('teach-top-p', '0.95', { min: 0.01, max: 1, step: 0.01 }));
    const maxTokens = field('Max tokens', numberInput('teach-max-tokens', '256', { min: 1, step: 1 }));
    const seed = field('Seed', numberInput('teach-seed', '0', { min: 0, step: 1 }));
    const concurrency = field('Requests at once', numberInput('teach-concurrency', '2', { min: 1, step: 1 }));
    this.f = {
      demoQ,
      fileQ,
      qFile,
      limit,
      endpointK,
      ggufK,
      preset,
      templatePreset,
      baseUrl,
      model,
      apiKind,
      apiKey,
      remember,
      gguf,
      template,
      samples,
      temperature,
      topP,
      maxTokens,
      seed,
      concurrency,
    };

    const button = (text: string, testid: string, onClick: () => void, cls = 'secondary'): HTMLButtonElement =>
      h('button', { text, testid, class: cls, attrs: { type: 'button' }, on: { click: onClick } });
    this.buttons = {
      check: button('Check the server', 'teach-check', () => void this.check()),
      generate: button('Generate rationales', 'teach-generate', () => void this.generate(), 'primary'),
      pause: button('Pause', 'teach-pause', () => void this.pauseOrResume()),
      cancel: button('Cancel', 'teach-cancel', () => void this.cancel()),
      reask: button('Re-ask questions with fewer than 2 kept', 'teach-reask', () => void this.reask()),
      use: button('Use these rationales', 'teach-use', () => void this.use(), 'primary'),
      download: button('Download (.jsonl)', 'teach-download', () => void this.download()),
    };

    qFile.input.addEventListener('change', () => {
      this.questionsFile = qFile.input.files?.[0];
      if (this.questionsFile) fileQ.input.checked = true;
      this.sync();
    });
    gguf.input.addEventListener('change', () => {
      this.ggufFile = gguf.input.files?.[0];
      if (this.ggufFile) ggufK.input.checked = true;
      this.sync();
    });
    preset.input.addEventListener('change', () => {
      const p = ENDPOINT_PRESETS.find((x) => x.id === preset.input.value);
      if (p) baseUrl.input.value = p.baseUrl;
    });
    templatePreset.input.addEventListener('change', () => {
      // blank: the worker picks the few-shot template of the questions' task type
      template.input.value = templatePreset.input.value === 'student' ? presetTemplate('student', 'number') : '';
    });
    remember.addEventListener('change', () => {
      if (!remember.checked) localStorage.removeItem(KEY_STORE);
    });
    for (const r of [demoQ, fileQ, endpointK, ggufK]) r.input.addEventListener('change', () => this.sync());

    const group = (legend: string, ...children: (HTMLElement | null)[]): HTMLElement =>
      h('fieldset', { class: 'teach-group' }, h('legend', { text: legend }), ...children);
    this.endpointFields = h(
      'div',
      { class: 'settings-grid' },
      preset.el,
      baseUrl.el,
      model.el,
      apiKind.el,
      apiKey.el,
      h(
        'div',
        { class: 'field teach-remember' },
        h('label', { attrs: { for: rememberId } }, remember, ' remember the key in this browser'),
      ),
    );
    this.ggufFields = h('div', { class: 'settings-grid' }, gguf.el);
    this.el = h(
      'details',
      { class: 'teach', testid: 'teach' },
      h('summary', { text: 'Generate rationales with a teacher' }),
      h('p', {
        class: 'muted',
        text: 'Ask a teacher model several times per question; every answer is kept in this browser as it arrives (a reload loses only the ones in flight), curated like an uploaded file, and can be loaded into the Data step.',
      }),
      this.resumeBox,
      group('Questions', h('div', { class: 'buttons' }, demoQ.el, fileQ.el), h('div', { class: 'settings-grid' }, qFile.el, limit.el)),
      group('Teacher', h('div', { class: 'buttons' }, endpointK.el, ggufK.el), this.endpointFields, this.ggufFields),
      group(
        'Prompt and sampling',
        h('div', { class: 'settings-grid' }, templatePreset.el),
        template.el,
        h('div', { class: 'settings-grid' }, samples.el, temperature.el, topP.el, maxTokens.el, seed.el, concurrency.el),
      ),
      h('div', { class: 'buttons' }, this.buttons.check, this.buttons.generate, this.buttons.pause, this.buttons.cancel),
      this.serverNote,
      this.problemBox,
      this.progress.el,
      this.lastError,
      this.reportBox,
      h('div', { class: 'buttons' }, this.buttons.reask, this.buttons.use, this.buttons.download),
    );
    this.problemBox.hidden = true;
    this.sync();
  }

  private readonly endpointFields: HTMLElement;
  private readonly ggufFields: HTMLElement;

  /** Opens the step and moves the focus into it (the Data step's button). */
  open(): void {
    (this.el as HTMLDetailsElement).open = true;
    this.el.querySelector('summary')?.focus();
  }

  private sync(): void {
    const endpoint = this.f.endpointK.input.checked;
    this.endpointFields.hidden = !endpoint;
    this.ggufFields.hidden = endpoint;
    this.f.qFile.el.hidden = !this.f.fileQ.input.checked;
    const b = this.buttons;
    b.check.disabled = this.running || !endpoint;
    b.generate.disabled = this.running;
    b.pause.disabled = !this.running;
    b.pause.textContent = this.paused ? 'Resume' : 'Pause';
    b.cancel.disabled = !this.running;
    const done = !this.running && this.runId !== undefined;
    b.reask.disabled = !done || this.fewKept.length === 0;
    b.use.disabled = !done;
    b.download.disabled = !done;
    for (const btn of this.resumeBox.querySelectorAll('button')) btn.disabled = this.running;
  }

  // ---- reading the form ----

  private num(
    f: Field<HTMLInputElement>,
    name: string,
    o: { int?: boolean; min?: number; max?: number; optional?: boolean } = {},
  ): number | undefined {
    const raw = f.input.value.trim();
    if (raw === '' && o.optional) return undefined;
    const v = Number(raw);
    const bad =
      raw === '' ||
      !Number.isFinite(v) ||
      (o.int && !Number.isInteger(v)) ||
      (o.min !== undefined && v < o.min) ||
      (o.max !== undefined && v > o.max);
    if (bad) {
      f.input.focus();
      throw new Error(
        `${name}: "${raw}" is not ${o.int ? 'a whole number' : 'a number'}${o.min !== undefined ? ` ≥ ${o.min}` : ''}${o.max !== undefined ? ` and ≤ ${o.max}` : ''}`,
      );
    }
    return v;
  }

  private settings(): Partial<TeachSettings> {
    const f = this.f;
    const template = f.template.input.value;
    return {
      samples: this.num(f.samples, 'Samples per question', { int: true, min: 1 }),
      temperature: this.num(f.temperature, 'Temperature', { min: 0, max: 2 }),
      topP: this.num(f.topP, 'Top-p', { min: 0.01, max: 1 }),
      maxTokens: this.num(f.maxTokens, 'Max tokens', { int: true, min: 1 }),
      seed: this.num(f.seed, 'Seed', { int: true, min: 0 }),
      concurrency: this.num(f.concurrency, 'Requests at once', { int: true, min: 1 }),
      ...(template.trim() ? { template } : {}),
    };
  }

  private questions(): DataSource {
    if (this.f.demoQ.input.checked) return { kind: 'demo' };
    if (!this.questionsFile) throw new Error('pick a questions file (or choose the demo’s questions)');
    return { kind: 'file', file: this.questionsFile };
  }

  /** The endpoint's origin (what the worker's policy opens), the API key
   * (kept if asked). */
  private endpoint(): { baseUrl: string; origin: string; model: string; api: 'chat' | 'completions'; apiKey?: string } {
    const f = this.f;
    const baseUrl = f.baseUrl.input.value.trim();
    const origin = connectOrigin(baseUrl);
    if (origin instanceof Error) {
      f.baseUrl.input.focus();
      throw new Error(`Base URL: ${origin.message}`);
    }
    const apiKey = f.apiKey.input.value;
    if (f.remember.checked && apiKey) localStorage.setItem(KEY_STORE, apiKey);
    return {
      baseUrl,
      origin,
      model: f.model.input.value.trim(),
      api: f.apiKind.input.value === 'completions' ? 'completions' : 'chat',
      ...(apiKey ? { apiKey } : {}),
    };
  }

  private worker(origin: string | undefined): TeacherRemote {
    return teacherWorker(origin, (m) => showError('Teacher worker', m));
  }

  // ---- problems ----

  private showProblem(p: TeachProblem | undefined): void {
    this.problemBox.replaceChildren();
    this.problemBox.hidden = !p;
    if (!p) return;
    this.problemBox.dataset.kind = p.kind;
    this.problemBox.append(
      h('strong', { text: PROBLEM_TITLE[p.kind] ?? 'The teacher failed' }),
      h('p', { text: p.message }),
      ...(p.hint && !p.message.includes(p.hint) ? [h('p', {}, h('strong', { text: 'Fix: ' }), p.hint)] : []),
    );
  }

  /** Preflight of the endpoint: false (with the problem shown) when the
   * run must not start. */
  private async preflight(api: TeacherRemote, baseUrl: string, apiKey?: string): Promise<boolean> {
    const r = await api.preflight(baseUrl, apiKey, this.f.preset.input.value || undefined);
    this.showProblem(r.ok ? undefined : r);
    this.serverNote.textContent = r.ok ? `${baseUrl} answers; models: ${r.models.join(', ') || 'none listed'}` : '';
    return r.ok;
  }

  private async check(): Promise<void> {
    await guard('Checking the server', async () => {
      const e = this.endpoint();
      const api = this.worker(e.origin);
      await this.preflight(api, e.baseUrl, e.apiKey);
    });
  }

  // ---- the run ----

  private progressCallback() {
    return callback((p: TeachProgress) => {
      const parts = [
        `${p.done} / ${p.total} samples`,
        `${p.tokensPerSecond.toFixed(1)} tokens/s`,
        `ETA ${p.etaSeconds === null ? '–' : formatDuration(p.etaSeconds * 1000)}`,
        `${p.failed} failed`,
      ];
      this.progress.set(p.done, p.total, parts.join(' · '));
      this.progress.el.dataset.done = String(p.done);
      this.progress.el.dataset.total = String(p.total);
      if (p.lastError)
        this.lastError.textContent = `Last error (${p.lastError.questionId}, sample ${p.lastError.sample}): ${p.lastError.message}`;
    });
  }

  private async run(what: string, go: () => Promise<TeachOutcome | undefined>): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.paused = false;
    this.showProblem(undefined);
    this.lastError.textContent = '';
    this.progress.begin();
    this.sync();
    const r = await guard(what, go, () => undefined);
    this.running = false;
    this.paused = false;
    if (r) {
      this.runId = r.run.id;
      this.progress.set(
        r.progress.done,
        r.progress.total,
        `${r.progress.done} / ${r.progress.total} samples${r.cancelled ? ' (cancelled)' : ''} · ${r.progress.tokensPerSecond.toFixed(1)} tokens/s · ${r.failures} failed`,
      );
      this.progress.el.dataset.done = String(r.progress.done);
      if (r.lastError) this.lastError.textContent = `Last error: ${r.lastError.message}`;
      await this.showReport();
    } else this.progress.hide(); // refused before it began, or failed
    this.sync();
    await this.refreshUnfinished();
  }

  private secret(): TeachSecret {
    return this.ggufFile ? { gguf: this.ggufFile } : {};
  }

  private async generate(): Promise<void> {
    await this.run('Generating rationales', async () => {
      const settings = this.settings();
      const limit = this.num(this.f.limit, 'Ask the first N questions', { int: true, min: 1, optional: true });
      const questions = this.questions();
      if (this.f.ggufK.input.checked) {
        if (!this.ggufFile) throw new Error('pick a GGUF file (or choose a server)');
        const start: TeachStart = { questions, ...(limit ? { limit } : {}), teacher: { kind: 'gguf' }, settings };
        return this.worker(undefined).start(start, { gguf: this.ggufFile }, this.progressCallback());
      }
      const e = this.endpoint();
      if (!e.model) {
        this.f.model.input.focus();
        throw new Error('Model: give the name the server knows (e.g. qwen2.5:7b)');
      }
      const api = this.worker(e.origin);
      if (!(await this.preflight(api, e.baseUrl, e.apiKey))) return undefined;
      const start: TeachStart = {
        questions,
        ...(limit ? { limit } : {}),
        teacher: { kind: 'endpoint', baseUrl: e.baseUrl, model: e.model, api: e.api },
        settings,
      };
      return api.start(start, e.apiKey ? { apiKey: e.apiKey } : {}, this.progressCallback());
    });
  }

  /** Resume (or re-ask) a stored run with the same teacher: its endpoint's
   * worker after a preflight, or the GGUF file picked again. */
  private async again(run: TeachRunView, what: 'resume' | 'reask'): Promise<void> {
    await this.run(what === 'resume' ? 'Resuming the teach run' : 'Re-asking', async () => {
      let api: TeacherRemote;
      let secret: TeachSecret;
      if (run.teacher.kind === 'endpoint') {
        const origin = connectOrigin(run.teacher.baseUrl);
        if (origin instanceof Error) throw origin;
        api = this.worker(origin);
        const apiKey = this.f.apiKey.input.value || undefined;
        if (!(await this.preflight(api, run.teacher.baseUrl, apiKey))) return undefined;
        secret = apiKey ? { apiKey } : {};
      } else {
        if (!this.ggufFile) throw new Error(`pick the GGUF file again (${run.teacher.fileName}) under Teacher, then Resume`);
        api = this.worker(undefined);
        secret = this.secret();
      }
      return what === 'resume' ? api.resume(run.id, secret, this.progressCallback()) : api.reask(run.id, secret, this.progressCallback());
    });
  }

  private async pauseOrResume(): Promise<void> {
    if (!this.running) return;
    const api = this.current();
    this.paused = !this.paused;
    this.sync();
    await (this.paused ? api.pause() : api.unpause());
  }

  private async cancel(): Promise<void> {
    if (this.running) await this.current().cancel();
  }

  /** The worker that runs now (the one last started). */
  private current(): TeacherRemote {
    return currentTeacher((m) => showError('Teacher worker', m));
  }

  private async reask(): Promise<void> {
    const id = this.runId;
    if (!id) return;
    const run = await guard('Re-asking', () => this.current().run(id));
    if (run) await this.again(run, 'reask');
  }

  // ---- results ----

  private async showReport(): Promise<void> {
    const id = this.runId;
    if (!id) return;
    const r = await guard('The teach report', () => this.current().report(id));
    if (!r) return;
    this.fewKept = r.fewKept;
    this.reportBox.replaceChildren(reportTable(r));
  }

  private async use(): Promise<void> {
    const id = this.runId;
    if (!id) return;
    await guard('Loading the rationales', async () => {
      const { fileName, bytes } = await this.current().jsonl(id);
      this.o.useRationales(new File([bytes as Uint8Array<ArrayBuffer>], fileName, { type: 'application/jsonl' }));
    });
  }

  private async download(): Promise<void> {
    const id = this.runId;
    if (!id) return;
    await guard('Writing the rationales', async () => {
      const { fileName, bytes } = await this.current().jsonl(id);
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/jsonl' }));
      const a = h('a', { attrs: { href: url, download: fileName } });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  }

  /** Offers Resume for the runs a reload or a closed tab left unfinished. */
  async refreshUnfinished(): Promise<void> {
    // shown here, not in the banner: the saved runs' listing already says
    // there why the database can't be opened
    let runs: TeachRunView[];
    try {
      runs = await this.current().unfinished();
    } catch (e) {
      this.resumeBox.replaceChildren(
        h('p', { class: 'muted', text: `Unfinished teach runs could not be listed: ${e instanceof Error ? e.message : String(e)}` }),
      );
      return;
    }
    this.resumeBox.replaceChildren();
    if (runs.length === 0) return;
    this.resumeBox.append(
      h('p', { text: 'Unfinished teach runs (kept in this browser):' }),
      h(
        'ul',
        { class: 'teach-runs' },
        ...runs.map((r) =>
          h(
            'li',
            {},
            h('span', {
              text: `${r.questionsName}: ${r.stored} of ${r.questions * r.samples} samples from ${r.teacher.name} (${r.status}) `,
            }),
            h('button', {
              text: 'Resume',
              class: 'small',
              testid: 'teach-resume',
              attrs: { type: 'button', 'data-run': r.id },
              on: { click: () => void this.again(r, 'resume') },
            }),
          ),
        ),
      ),
    );
    this.sync();
  }
}

function reportTable(r: TeachReportView): HTMLElement {
  const t = r.totals;
  const cell = (v: string | number): HTMLTableCellElement => h('td', { text: String(v) });
  return h(
    'div',
    { class: 'table-wrap' },
    h('p', {
      testid: 'teach-totals',
      text: `${t.questions} questions: ${t.generated} generated, ${t.correct} correct, ${t.diverse} diverse, ${t.kept} kept; ${r.fewKept.length} with fewer than 2 kept.`,
    }),
    h(
      'table',
      { class: 'samples' },
      h('caption', { text: 'Per question' }),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Question', 'Generated', 'Correct', 'Diverse', 'Kept', 'Dropped'].map((c) => h('th', { attrs: { scope: 'col' }, text: c })),
        ),
      ),
      h(
        'tbody',
        {},
        ...r.rows.map((q) =>
          h(
            'tr',
            { testid: 'teach-row' },
            h('td', { class: 'q', text: q.question }),
            cell(q.generated),
            cell(q.correct),
            cell(q.diverse),
            cell(q.kept),
            cell(
              Object.entries(q.dropped)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ') || '–',
            ),
          ),
        ),
      ),
    ),
  );
}
