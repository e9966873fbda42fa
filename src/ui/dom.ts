// Tiny DOM helpers. Every string becomes a text node or an attribute value:
// uploaded text is never parsed as HTML.

type Child = Node | string | number | null | undefined | false;

interface Props {
  class?: string;
  testid?: string;
  text?: string;
  attrs?: Record<string, string | number | boolean | undefined>;
  on?: { [K in keyof HTMLElementEventMap]?: (e: HTMLElementEventMap[K]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.testid) el.dataset.testid = props.testid;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const [type, fn] of Object.entries(props.on ?? {})) el.addEventListener(type, fn as EventListener);
  append(el, ...children);
  return el;
}

function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

let uid = 0;
/** Unique ids to tie labels to inputs. */
export function nextId(prefix: string): string {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A readout; '–' means "not known yet", and a value that went wrong says
 * so (a diverged loss must not look like a missing one). */
export function formatNumber(x: number | undefined, digits = 4): string {
  if (x === undefined) return '–';
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en') : x.toPrecision(digits);
}

export function formatPercent(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** A labelled progress bar (native <progress> is keyboard/AT friendly).
 * Updates that arrive after hide() (late messages from the worker) are
 * ignored until the next begin(). */
export interface ProgressBar {
  el: HTMLElement;
  begin(text?: string): void;
  set(value: number, max: number, text?: string): void;
  /** Something is happening but its length is unknown (shader compilation
   * before the first step): an animated bar instead of an empty one. */
  wait(text: string): void;
  hide(): void;
}

export function progressBar(label: string, testid?: string): ProgressBar {
  const id = nextId('progress');
  const bar = h('progress', { attrs: { id, max: 1, value: 0 } });
  const caption = h('span', { class: 'progress-text', attrs: { 'aria-live': 'polite' } });
  const el = h('div', { class: 'progress', testid }, h('label', { attrs: { for: id }, text: label }), bar, caption);
  el.hidden = true;
  let active = false;
  const show = (value: number, max: number, text?: string): void => {
    el.hidden = false;
    el.classList.remove('waiting');
    bar.max = max > 0 ? max : 1;
    bar.value = Math.min(value, bar.max);
    caption.textContent = text ?? (max > 0 ? formatPercent(value / max) : '');
  };
  return {
    el,
    begin(text = 'starting…') {
      active = true;
      show(0, 0, text);
    },
    set(value, max, text) {
      if (active) show(value, max, text);
    },
    wait(text) {
      if (!active) return;
      el.hidden = false;
      el.classList.add('waiting');
      bar.removeAttribute('value'); // a <progress> without a value is indeterminate (animated, announced as busy)
      caption.textContent = text;
    },
    hide() {
      active = false;
      el.hidden = true;
    },
  };
}

/** `fn` at most once per animation frame, however often the result is
 * called: fast training events must not make the page redraw per event. */
export function perFrame(fn: () => void): () => void {
  let frame = 0;
  return () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      fn();
    });
  };
}

/** A button that disables itself when clicked (Start, Evaluate, Pause)
 * would drop keyboard focus to <body>, sending the next Tab back to the top
 * of the page. Focus moves instead to the nearest enabled control around
 * it, or to its section. */
export function keepFocusWhenDisabled(root: HTMLElement = document.body): void {
  let last: HTMLElement | null = null;
  document.addEventListener('focusin', (e) => {
    last = e.target instanceof HTMLElement ? e.target : null;
  });
  const focusable =
    'button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), a[href], [tabindex="0"]';
  const visible = (el: HTMLElement): boolean => el.getClientRects().length > 0;
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target;
      if (!(el instanceof HTMLButtonElement) || !el.disabled || el !== last) continue;
      const active = document.activeElement;
      if (active !== el && active !== document.body && active !== null) continue;
      let target: HTMLElement | null = null;
      for (let up = el.parentElement; up && !target; up = up.parentElement) {
        target = [...up.querySelectorAll<HTMLElement>(focusable)].find(visible) ?? null;
        if (up.matches('section, main, [role="dialog"]')) {
          if (!target) {
            up.tabIndex = -1;
            target = up;
          }
          break;
        }
      }
      target?.focus({ preventScroll: true });
    }
  }).observe(root, { subtree: true, attributes: true, attributeFilter: ['disabled'] });
}
