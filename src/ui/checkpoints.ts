// Saved work: stored runs and their checkpoints (resume, export as our
// .safetensors or as a model other tools open, delete), import of a
// .safetensors file, and storage usage.

import type { CheckpointView, ExportFormat, RunView, StorageUsage } from '../worker/protocol';
import { formatBytes } from '../shared/format';
import { formatPercent, h, nextId } from './dom';

/** Why a checkpoint was saved, in words: the one written when a run ends
 * with all its steps done is its final model, not a "stop". */
function checkpointKindText(c: Pick<CheckpointView, 'kind' | 'step'>, totalSteps: number): string {
  switch (c.kind) {
    case 'stop':
      return c.step >= totalSteps ? 'final' : 'stopped early';
    case 'pause':
      return 'paused';
    case 'auto':
      return 'autosave';
    case 'manual':
      return 'saved by you';
    case 'best':
      return 'best';
  }
}

interface CheckpointHandlers {
  resume(id: string): void;
  /** Resolves when the download has been handed to the browser (or failed). */
  exportFile(id: string, format: ExportFormat): Promise<void>;
  remove(checkpoint: CheckpointView): void;
  removeRun(run: RunView): void;
  importFile(file: File): void;
  refresh(): void;
}

export class CheckpointsView {
  readonly el: HTMLElement;
  private readonly list = h('div', { class: 'checkpoint-list', testid: 'checkpoint-list', attrs: { 'aria-live': 'polite' } });
  private readonly usage = h('p', { class: 'muted', testid: 'storage-usage', text: 'Storage: –' });
  private enabled = true;
  /** Checkpoints found damaged on load (kept marked across refreshes) and the
   * older ones offered instead. */
  private readonly damaged = new Map<string, string>();
  private readonly offered = new Set<string>();
  private lastRuns: RunView[] = [];
  /** The format chosen per checkpoint: the list is rebuilt after every
   * export and save, and must not fall back to the first entry. */
  private readonly chosenFormat = new Map<string, ExportFormat>();

  constructor(private readonly handlers: CheckpointHandlers) {
    const importId = nextId('checkpoint-import');
    // the label is the button: the browser's "No file chosen" beside it said nothing useful
    const importInput = h('input', {
      testid: 'checkpoint-import',
      class: 'visually-hidden',
      attrs: { id: importId, type: 'file', accept: '.safetensors' },
    });
    importInput.addEventListener('change', () => {
      const f = importInput.files?.[0];
      if (f) handlers.importFile(f);
      importInput.value = '';
    });
    this.el = h(
      'div',
      { class: 'checkpoints' },
      h('p', {
        text: 'Checkpoints are saved in this browser (IndexedDB) every few steps and when you pause or stop; they survive a reload.',
      }),
      h(
        'div',
        { class: 'buttons' },
        h('label', { class: 'file-button', attrs: { for: importId } }, 'Import a .safetensors checkpoint…', importInput),
        h('button', { text: 'Refresh', class: 'secondary', attrs: { type: 'button' }, on: { click: handlers.refresh } }),
      ),
      this.usage,
      this.list,
    );
  }

  setEnabled(v: boolean): void {
    this.enabled = v;
    for (const b of this.list.querySelectorAll<HTMLButtonElement>('button[data-needs-idle]')) b.disabled = !v;
  }

  markDamaged(id: string, message: string, offeredId?: string): void {
    this.damaged.set(id, message);
    this.offered.delete(id);
    if (offeredId) this.offered.add(offeredId);
    this.show(this.lastRuns);
  }

  showUsage(u: StorageUsage): void {
    if (!u.available) {
      this.usage.textContent = `Storage: checkpoints use ${formatBytes(u.checkpointBytes)}; this browser does not report its quota.`;
      return;
    }
    const share = u.quota ? ` of ${formatBytes(u.quota)} (${formatPercent((u.usage ?? 0) / u.quota)})` : '';
    this.usage.textContent = `Storage: checkpoints ${formatBytes(u.checkpointBytes)}; this site uses ${formatBytes(u.usage)}${share}${u.persisted ? ', persistent' : ''}.`;
  }

  /** One format menu and one button whose label follows it (two export
   * buttons side by side made "choose GGUF, press the other Export" download
   * a .safetensors); the button says what it is doing while the worker writes. */
  private exportControls(c: CheckpointView, lora: boolean): HTMLElement {
    // [format, menu entry, the button's "Export as …"]
    const formats: [ExportFormat, string, string][] = [
      ['checkpoint', "This page's own checkpoint (.safetensors)", 'checkpoint (.safetensors)'],
      ['hf', 'Hugging Face folder, for transformers (.zip)', 'Hugging Face (.zip)'],
      ...(lora
        ? [['peft', 'PEFT LoRA adapter, for transformers + PEFT (.zip)', 'PEFT adapter (.zip)'] as [ExportFormat, string, string]]
        : []),
      ['gguf', 'GGUF, for llama.cpp / Ollama (.gguf)', 'GGUF (.gguf)'],
      ['weights', 'Weights only, no optimizer state (.safetensors)', 'weights (.safetensors)'],
      ...(lora ? [['recipe', 'Scale up: the training recipe (.zip)', 'recipe (.zip)'] as [ExportFormat, string, string]] : []),
    ];
    const selectId = nextId('export-format');
    const select = h(
      'select',
      { class: 'small', testid: 'export-format', attrs: { id: selectId } },
      ...formats.map(([v, label]) => h('option', { text: label, attrs: { value: v } })),
    );
    const kept = this.chosenFormat.get(c.id);
    if (kept && formats.some(([v]) => v === kept)) select.value = kept;
    const label = (): string => `Export as ${formats.find(([v]) => v === select.value)?.[2] ?? select.value}`;
    const button: HTMLButtonElement = h('button', {
      text: label(),
      class: 'small',
      testid: 'export-as',
      attrs: { type: 'button' },
      on: {
        click: async () => {
          button.disabled = true;
          button.textContent = 'Exporting…';
          try {
            await this.handlers.exportFile(c.id, select.value as ExportFormat);
          } finally {
            button.disabled = false;
            button.textContent = label();
          }
        },
      },
    });
    select.addEventListener('change', () => {
      this.chosenFormat.set(c.id, select.value as ExportFormat);
      if (!button.disabled) button.textContent = label();
    });
    return h(
      'span',
      { class: 'export-as' },
      h('label', { class: 'visually-hidden', attrs: { for: selectId }, text: `Export format for the checkpoint at step ${c.step}` }),
      select,
      button,
    );
  }

  private checkpointRow(c: CheckpointView, run: RunView): HTMLElement {
    const lora = run.lora === true;
    const b = (text: string, fn: () => void, needsIdle = false): HTMLButtonElement => {
      const el = h('button', {
        text,
        class: 'small',
        attrs: { type: 'button', 'data-needs-idle': needsIdle || undefined },
        on: { click: fn },
      });
      if (needsIdle) el.disabled = !this.enabled;
      return el;
    };
    const damage = this.damaged.get(c.id);
    const offered = !damage && this.offered.has(c.id);
    return h(
      'li',
      {
        testid: 'checkpoint-item',
        class: damage ? 'damaged' : offered ? 'offered' : undefined,
        attrs: {
          'data-step': c.step,
          'data-kind': c.kind,
          'data-id': c.id,
          'data-damaged': damage ? 'true' : undefined,
          'data-offered': offered ? 'true' : undefined,
        },
      },
      h('span', {
        class: 'ckpt-label',
        text: `step ${c.step} · ${checkpointKindText(c, run.totalSteps)}${c.weightsOnly ? ' · weights only' : ''} · ${formatBytes(c.bytes)} · ${new Date(c.createdAt).toLocaleString()}${
          c.accuracy !== undefined ? ` · accuracy ${formatPercent(c.accuracy)}` : ''
        }`,
      }),
      damage
        ? h('span', { class: 'ckpt-note error', text: `damaged: ${damage}` })
        : offered
          ? h('span', { class: 'ckpt-note', text: 'intact: resume from here' })
          : '',
      h(
        'span',
        { class: 'ckpt-actions' },
        b('Resume', () => this.handlers.resume(c.id), true),
        this.exportControls(c, lora),
        b('Delete', () => this.handlers.remove(c), true),
      ),
    );
  }

  show(runs: RunView[]): void {
    this.lastRuns = runs;
    if (runs.length === 0) {
      this.list.replaceChildren(h('p', { class: 'muted', text: 'No saved runs yet.' }));
      return;
    }
    this.list.replaceChildren(
      ...runs.map((r) =>
        h(
          'article',
          { class: 'run', testid: 'checkpoint-run' },
          h(
            'header',
            {},
            h('strong', { text: r.name }),
            h('span', {
              class: 'muted',
              text: ` · ${r.status} · ${r.preset} (${(r.params / 1e6).toFixed(2)}M) · α=${r.alpha} · ${r.totalSteps} steps${
                r.lastAccuracy !== undefined ? ` · last accuracy ${formatPercent(r.lastAccuracy)}` : ''
              }`,
            }),
          ),
          r.checkpoints.length === 0
            ? h('p', { class: 'muted', text: 'no checkpoints' })
            : h('ul', {}, ...r.checkpoints.map((c) => this.checkpointRow(c, r))),
          // below the checkpoints, apart from their own Delete; asks first (main.ts)
          h(
            'footer',
            { class: 'run-footer' },
            h('button', {
              text: 'Delete run…',
              class: 'small secondary danger',
              testid: 'delete-run',
              attrs: {
                type: 'button',
                'data-needs-idle': true,
                disabled: !this.enabled,
                title: `Delete the run ${r.name} and its ${r.checkpoints.length} checkpoints (asks first)`,
              },
              on: { click: () => this.handlers.removeRun(r) },
            }),
          ),
        ),
      ),
    );
  }
}
