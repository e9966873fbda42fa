// Storage quota and persistence through navigator.storage, where it exists
// (pages and workers in browsers; not in Node).

export interface StorageInfo {
  available: boolean; // navigator.storage.estimate exists here
  usage?: number;
  quota?: number;
  persisted?: boolean;
}

function storageManager(): StorageManager | undefined {
  return typeof navigator !== 'undefined' ? (navigator as { storage?: StorageManager }).storage : undefined;
}

export async function storageInfo(): Promise<StorageInfo> {
  const s = storageManager();
  if (typeof s?.estimate !== 'function') return { available: false };
  const e = await s.estimate();
  const persisted = typeof s.persisted === 'function' ? await s.persisted() : undefined;
  return { available: true, usage: e.usage, quota: e.quota, persisted };
}

/** Asks the browser not to evict our data under storage pressure. Returns
 * undefined where it can't be asked: persist() exists on the page only (not
 * in workers), so call this from the UI. */
export async function requestPersistence(): Promise<boolean | undefined> {
  const s = storageManager();
  if (typeof s?.persist !== 'function') return undefined;
  return s.persist();
}
