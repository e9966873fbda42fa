// Data section: drop or pick a teacher file (and optionally an evaluation
// file), or use the demo data. The File object goes to the worker as is; the
// page never reads the file itself.

import { h, nextId, progressBar } from './dom';
import { filePicker, type FilePicker } from './file-picker';

interface DataHandlers {
  teacher(file: File): void;
  evalFile(file: File): void;
  clearEval(): void;
  demo(): void;
  /** Opens the Teacher step (generate rationales instead of uploading). */
  teach?(): void;
}

function fileInput(
  label: string,
  testid: string,
  accept: string,
  none: string,
  onFile: (f: File) => void,
): FilePicker & { input: HTMLInputElement } {
  const id = nextId(testid);
  const input = h('input', { testid, attrs: { id, type: 'file', accept } });
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    if (f) onFile(f);
    input.value = ''; // picking the same file again reloads it
  });
  return { input, ...filePicker(input, { label, button: 'Choose a file…', none, testid: `${testid}-name` }) };
}

export class DataInputView {
  readonly el: HTMLElement;
  readonly progress = progressBar('Reading', 'data-progress');
  private readonly controls: (HTMLInputElement | HTMLButtonElement)[];
  private readonly evalName = h('span', {
    class: 'muted',
    testid: 'eval-name',
    text: 'none (questions held out of the teacher file are used: the dev split)',
  });
  private readonly clearEvalButton: HTMLButtonElement;
  private readonly teacher: FilePicker;
  private readonly evalPicker: FilePicker;

  constructor(handlers: DataHandlers) {
    const accept = '.json,.jsonl,.ndjson,application/json,text/plain';
    const teacher = fileInput(
      'Teacher file (JSON or JSON Lines with rationales)',
      'data-file',
      accept,
      'nothing loaded yet',
      handlers.teacher,
    );
    const evalFile = fileInput('Evaluation file (optional: questions and answers)', 'eval-file', accept, 'none', handlers.evalFile);
    this.teacher = teacher;
    this.evalPicker = evalFile;
    const demo = h('button', {
      text: 'Use demo data',
      testid: 'use-demo',
      class: 'primary',
      attrs: { type: 'button' },
      on: { click: handlers.demo },
    });
    this.clearEvalButton = h('button', {
      text: 'Remove evaluation file',
      class: 'small secondary',
      attrs: { type: 'button', disabled: true },
      on: { click: handlers.clearEval },
    });
    const drop = h(
      'div',
      { class: 'dropzone', testid: 'dropzone', attrs: { tabindex: 0, role: 'group', 'aria-label': 'Teacher and evaluation files' } },
      // dropping needs a mouse (a phone has no files to drag): style.css
      // shows the words that fit the pointer
      h(
        'p',
        { class: 'drop-hint' },
        h('span', {
          class: 'pointer-fine',
          text: 'Drop a teacher file here (or two: the second with “test”/“eval” in its name is the evaluation file), or pick one below.',
        }),
        h('span', { class: 'pointer-coarse', text: 'Pick a teacher file below, or use the demo data.' }),
      ),
      teacher.el,
      evalFile.el,
      h('p', {}, 'Evaluation set: ', this.evalName, ' ', this.clearEvalButton),
      h(
        'div',
        { class: 'buttons' },
        demo,
        h('span', { class: 'muted', text: 'Demo: grade-school arithmetic with several rationales per question, served by this app.' }),
      ),
      handlers.teach
        ? h(
            'div',
            { class: 'buttons' },
            h('button', {
              text: 'Generate rationales with a teacher',
              testid: 'open-teach',
              class: 'secondary',
              attrs: { type: 'button' },
              on: { click: handlers.teach },
            }),
            h('span', {
              class: 'muted',
              text: 'No rationales yet? Ask a local model (Ollama, llama.cpp, vLLM, LM Studio or a GGUF file) for them.',
            }),
          )
        : null,
    );
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const files = [...(e.dataTransfer?.files ?? [])];
      const isEval = (f: File): boolean => /test|eval|dev/i.test(f.name);
      const teacherFile = files.find((f) => !isEval(f)) ?? (files.length === 1 ? files[0] : undefined);
      const evalDropped = files.find((f) => f !== teacherFile && isEval(f));
      if (teacherFile) handlers.teacher(teacherFile);
      if (evalDropped) handlers.evalFile(evalDropped);
    });
    this.controls = [teacher.input, evalFile.input, demo];
    this.el = h('div', { class: 'data' }, drop, this.progress.el);
  }

  setEnabled(v: boolean): void {
    for (const c of this.controls) c.disabled = !v;
  }

  /** What the teacher picker holds: a file's name, or the demo data. */
  setTeacherName(name: string | undefined): void {
    this.teacher.setLoaded(name && `loaded: ${name}`);
  }

  setEvalName(name: string | undefined): void {
    this.evalPicker.setLoaded(name && `loaded: ${name}`);
    this.evalName.textContent = name ?? 'none (questions held out of the teacher file are used: the dev split)';
    this.clearEvalButton.disabled = !name;
  }
}
