// What a promise was rejected with, failing the test if it was fulfilled.
import { expect } from 'vitest';

export async function refusal(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'accepted').toBeInstanceOf(Error);
  return e as Error;
}
