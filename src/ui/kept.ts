// A page setting kept across visits in localStorage. Storage that is off
// (a private window) or that throws leaves the setting for this visit only:
// reading gives null, keeping does nothing.

export type KeyStore = Pick<Storage, 'getItem' | 'setItem'> & Partial<Pick<Storage, 'removeItem'>>;

function pageStorage(): KeyStore | undefined {
  try {
    return globalThis.localStorage ?? undefined;
  } catch {
    return undefined;
  }
}

/** The value kept under `key`, or null. */
export function keptValue(key: string, store: KeyStore | undefined = pageStorage()): string | null {
  try {
    return store?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

/** Keeps `value` under `key` (null: forgets it). */
export function keepValue(key: string, value: string | null, store: KeyStore | undefined = pageStorage()): void {
  try {
    if (value === null) store?.removeItem?.(key);
    else store?.setItem(key, value);
  } catch {
    // storage off: the setting lasts for this visit
  }
}
