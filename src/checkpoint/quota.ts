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
