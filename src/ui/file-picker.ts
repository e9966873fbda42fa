// A file input that says what is loaded. The browser's own input says "No
// file chosen" again as soon as its value is cleared (which lets the same
// file be picked twice), and never knows about the demo data: a newcomer
// read that as nothing loaded. The input stays a real, focusable file input
// (tests and keyboards use it), visually replaced by a button-like label
// and the name of what the page holds.

import { h } from './dom';

export interface FilePicker {
  /** The field: its label, the button and what is loaded. */
  el: HTMLElement;
  /** Says what is loaded (undefined: nothing yet). */
  setLoaded(text: string | undefined): void;
}

export function filePicker(
  input: HTMLInputElement,
  o: { label: string; button: string; none: string; testid: string; class?: string },
): FilePicker {
  input.classList.add('visually-hidden');
  const name = h('span', { class: 'file-name muted', testid: o.testid, attrs: { 'aria-live': 'polite' }, text: o.none });
  return {
    el: h(
      'div',
      { class: o.class ?? 'field' },
      h('label', { attrs: { for: input.id }, text: o.label }),
      h('div', { class: 'file-pick' }, h('label', { class: 'file-button', attrs: { for: input.id }, text: o.button }), input, name),
    ),
    setLoaded(text) {
      name.textContent = text ?? o.none;
      name.classList.toggle('muted', text === undefined);
    },
  };
}
