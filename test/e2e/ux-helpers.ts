// What a person sees, measured in the page: sideways scrolling, the status
// line's history around Start, and axe-core's accessibility report.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const require = createRequire(import.meta.url);
let axeSource: string | undefined;

/** axe-core's violations on the page as it is now, one line each. axe runs
 * through the debugging protocol, which the page's CSP does not cover (an
 * injected <script> would be blocked, and rightly so). */
export async function axeViolations(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(
            ctx: Document,
            o: object,
          ): Promise<{
            violations: { id: string; impact: string; help: string; nodes: { target: string[]; failureSummary?: string }[] }[];
          }>;
        };
      }
    ).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes
          .slice(0, 3)
          .map((n) => `${n.target.join(' ')} [${(n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 160)}]`)
          .join('; ')}`,
    );
  });
  return result;
}

/** How far the page scrolls sideways now: 0 when the document is exactly
 * the viewport's width. On a phone the browser widens the layout viewport
 * to fit content that sticks out (and zooms out), so the document is
 * measured against the device's width, not its own clientWidth. */
export async function sidewaysOverflow(page: Page): Promise<{ overflow: number; widest: string }> {
  const width = page.viewportSize()?.width ?? 0;
  return page.evaluate((vw) => {
    const doc = document.documentElement;
    const overflow = Math.max(doc.scrollWidth, doc.clientWidth) - vw;
    let widest = '';
    if (overflow > 0) {
      // The outermost elements that stick out past the viewport and are not
      // inside a box that clips or scrolls them.
      const clipped = (el: Element): boolean => {
        for (let up = el.parentElement; up && up !== document.body; up = up.parentElement)
          if (getComputedStyle(up).overflowX !== 'visible') return true;
        return false;
      };
      const out: string[] = [];
      for (const el of document.querySelectorAll<HTMLElement>('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.right <= vw + 0.5 || clipped(el)) continue;
        if (el.parentElement && out.length > 0 && el.parentElement.getBoundingClientRect().right > vw + 0.5) continue;
        out.push(`${el.tagName.toLowerCase()}.${el.className}[${el.dataset.testid ?? ''}] ${Math.round(r.left)}..${Math.round(r.right)}`);
        if (out.length >= 6) break;
      }
      widest = out.join('; ');
    }
    return { overflow, widest };
  }, width);
}

/** From now on the page records the widest the document gets, every 100 ms
 * and on every change of the DOM (charts are created and resized on frames). */
export async function watchWidth(page: Page): Promise<void> {
  const width = page.viewportSize()?.width ?? 0;
  await page.evaluate((vw) => {
    const w = window as unknown as { __maxOverflow: number; __widest: string };
    w.__maxOverflow = 0;
    w.__widest = '';
    const check = (): void => {
      const doc = document.documentElement;
      const o = Math.max(doc.scrollWidth, doc.clientWidth) - vw;
      if (o > w.__maxOverflow) {
        w.__maxOverflow = o;
        w.__widest = `${o} px at ${document.querySelector('[data-testid="train-status"]')?.textContent ?? ''}`;
      }
    };
    setInterval(check, 100);
    new MutationObserver(() => requestAnimationFrame(check)).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
  }, width);
}

export async function maxOverflow(page: Page): Promise<{ overflow: number; when: string }> {
  return page.evaluate(() => {
    const w = window as unknown as { __maxOverflow: number; __widest: string };
    return { overflow: w.__maxOverflow, when: w.__widest };
  });
}

export interface StatusRecord {
  t: number;
  status: string;
  step: string;
}

/** From now on the page records the training status and step readouts at
 * every change, with performance.now(), and the time of the next click on
 * `testid`. */
export async function recordStatus(page: Page, testid: string): Promise<void> {
  await page.evaluate((id) => {
    const w = window as unknown as { __status: { t: number; status: string; step: string }[]; __clickAt?: number };
    w.__status = [];
    const status = document.querySelector('[data-testid="train-status"]') as HTMLElement;
    const step = document.querySelector('[data-testid="train-step"]') as HTMLElement;
    const take = (): void => {
      const last = w.__status[w.__status.length - 1];
      const now = { t: performance.now(), status: status.textContent ?? '', step: step.textContent ?? '' };
      if (!last || last.status !== now.status || last.step !== now.step) w.__status.push(now);
    };
    take();
    const mo = new MutationObserver(take);
    mo.observe(status, { subtree: true, childList: true, characterData: true });
    mo.observe(step, { subtree: true, childList: true, characterData: true });
    document.addEventListener(
      'click',
      (e) => {
        if ((e.target as HTMLElement).closest(`[data-testid="${id}"]`) && w.__clickAt === undefined) w.__clickAt = performance.now();
      },
      true,
    );
  }, testid);
}

export async function statusHistory(page: Page): Promise<{ clickAt: number | undefined; records: StatusRecord[] }> {
  return page.evaluate(() => {
    const w = window as unknown as { __status: StatusRecord[]; __clickAt?: number };
    return { clickAt: w.__clickAt, records: w.__status };
  });
}

/** The step number a "3 / 5" readout shows. */
export function stepOf(text: string): number {
  const m = /\d+/.exec(text);
  return m ? Number(m[0]) : 0;
}

/** Elements of the settings fields that stick out of their field (a unit
 * select running under the next field, a cut select). */
export async function settingsOverlaps(page: Page): Promise<string[]> {
  return page.getByTestId('section-settings').evaluate((section) => {
    const out: string[] = [];
    for (const field of section.querySelectorAll<HTMLElement>('.field')) {
      const f = field.getBoundingClientRect();
      for (const el of field.querySelectorAll<HTMLElement>('input, select, small, label:not(.visually-hidden)')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0) continue;
        if (r.left < f.left - 0.5 || r.right > f.right + 0.5)
          out.push(
            `${field.querySelector('label')?.textContent}: ${el.tagName.toLowerCase()} ${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(f.left)}..${Math.round(f.right)}`,
          );
        if (el instanceof HTMLSelectElement) {
          // the chosen option's text, plus padding and the arrow, must fit
          const ctx = document.createElement('canvas').getContext('2d') as CanvasRenderingContext2D;
          const cs = getComputedStyle(el);
          ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
          const text = el.selectedOptions[0]?.text ?? '';
          const need = ctx.measureText(text).width + parseFloat(cs.paddingLeft) + 20;
          if (need > el.clientWidth)
            out.push(`${field.querySelector('label')?.textContent}: "${text}" needs ${Math.round(need)} px, has ${el.clientWidth}`);
        }
      }
    }
    return out;
  });
}

/** The elements of `selectors` that are not wholly inside the viewport as
 * it is now (without scrolling), one line each; a selector that matches
 * nothing visible counts as not shown. */
export async function notInView(page: Page, selectors: string[]): Promise<string[]> {
  return page.evaluate((sels) => {
    const out: string[] = [];
    for (const sel of sels) {
      const els = [...document.querySelectorAll<HTMLElement>(sel)].filter((e) => e.getClientRects().length > 0);
      if (els.length === 0) out.push(`${sel}: not shown`);
      for (const el of els) {
        const r = el.getBoundingClientRect();
        if (r.top < -0.5 || r.left < -0.5 || r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5)
          out.push(
            `${sel}: ${Math.round(r.left)},${Math.round(r.top)}..${Math.round(r.right)},${Math.round(r.bottom)} outside ${innerWidth}x${innerHeight} (scrollY ${scrollY})`,
          );
      }
    }
    return out;
  }, selectors);
}
