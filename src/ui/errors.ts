// The error banner: every failure the user should know about lands here (as
// text), not only in the console.

import { h } from './dom';

let list: HTMLUListElement | undefined;
let banner: HTMLElement | undefined;

export function errorBanner(): HTMLElement {
  list = h('ul');
  banner = h(
    'div',
    { class: 'banner', testid: 'error-banner', attrs: { role: 'alert' } },
    h('strong', { text: 'Something went wrong' }),
    list,
    h('button', { class: 'secondary', text: 'Dismiss', on: { click: () => clearErrors() } }),
  );
  banner.hidden = true;
  return banner;
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'object' && e !== null && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

export function showError(context: string, e?: unknown): void {
  const text = e === undefined ? context : `${context}: ${describe(e)}`;
  console.warn(text); // shown in the page; tests check the banner itself
  if (!banner || !list) return;
  list.append(h('li', { text }));
  while (list.children.length > 5) list.firstElementChild?.remove();
  banner.hidden = false;
}

export function clearErrors(): void {
  list?.replaceChildren();
  if (banner) banner.hidden = true;
}

/** Runs an async UI action, showing failures in the banner (and telling
 * `onError`, for views that show the action's state). */
export async function guard<T>(context: string, fn: () => Promise<T>, onError?: (message: string) => void): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    showError(context, e);
    onError?.(describe(e));
    return undefined;
  }
}

export function catchGlobalErrors(): void {
  window.addEventListener('error', (e) => showError('Unexpected error', e.error ?? e.message));
  window.addEventListener('unhandledrejection', (e) => showError('Unexpected error', e.reason));
}
