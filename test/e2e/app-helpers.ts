// What the app's browser tests share (app.test.ts, compare.test.ts,
// app-tabs.test.ts): the teacher file, its upload, the evaluation, the
// training notes and the saved runs as the page lists them.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { teacherFile } from './fixtures';
import { ARTIFACTS } from '../../support/browser';

export const fixture = teacherFile();

/** Writes test-artifacts/<dir>/<name>: each file that runs beside the others
 * writes its inputs into a folder of its own (the same name, so the page
 * shows the same file name). */
export function artifact(dir: string, name: string, text: string | Uint8Array): string {
  const folder = path.join(ARTIFACTS, dir);
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  writeFileSync(file, text);
  return file;
}

export async function dismissErrors(page: Page): Promise<void> {
  const b = page.getByTestId('error-banner');
  if (await b.isVisible()) await b.getByRole('button', { name: 'Dismiss' }).click();
}

export async function uploadTeacher(page: Page, dir = ''): Promise<void> {
  await page.getByTestId('data-file').setInputFiles(artifact(dir, 'e2e-teacher.jsonl', fixture.text));
  await page
    .getByTestId('data-report')
    .getByText(/e2e-teacher\.jsonl/)
    .waitFor({ timeout: 60_000 });
  await expect.poll(() => page.getByTestId('train-start').isEnabled(), { timeout: 10_000 }).toBe(true);
}

export async function evaluate(page: Page): Promise<{ accuracy: string; samples: string }> {
  await page.getByTestId('eval-max-tokens').fill('12');
  await expect.poll(() => page.getByTestId('eval-run').isEnabled(), { timeout: 30_000 }).toBe(true);
  await page.getByTestId('eval-run').click();
  await page.getByTestId('eval-accuracy').filter({ hasText: /%/ }).waitFor({ timeout: 180_000 });
  return {
    accuracy: (await page.getByTestId('eval-accuracy').textContent()) ?? '',
    samples: await page.getByTestId('eval-samples').innerText(),
  };
}

/** The newest training note matching `re` (a finished run adds "Resuming:
 * done at step 10 of 10"), by its sequence number; 0 when there is none. */
export async function notes(page: Page, re: RegExp): Promise<number> {
  const all = await page
    .getByTestId('train-notes')
    .locator('li')
    .evaluateAll((lis) => lis.map((li) => ({ seq: Number(li.getAttribute('data-seq')), text: li.textContent ?? '' })));
  return Math.max(0, ...all.filter((n) => re.test(n.text)).map((n) => n.seq));
}

/** The checkpoint rows of the stored runs, newest run first. */
/** The saved runs listed, newest first; each with its checkpoints' steps and
 * kinds as "step:kind" (auto, pause, stop, ...), newest first. */
export async function checkpointRows(page: Page): Promise<{ run: string; steps: number[]; saves: string[] }[]> {
  return page.getByTestId('checkpoint-run').evaluateAll((runs) =>
    runs.map((r) => {
      const items = [...r.querySelectorAll('[data-testid="checkpoint-item"]')];
      return {
        run: r.querySelector('header')?.textContent ?? '',
        steps: items.map((li) => Number(li.getAttribute('data-step'))),
        saves: items.map((li) => `${li.getAttribute('data-step')}:${li.getAttribute('data-kind')}`),
      };
    }),
  );
}
