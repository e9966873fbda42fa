// How sizes read everywhere (data limits, checkpoints, the page): binary
// units, because the limits they are compared with are powers of two
// (limits.maxRecordBytes is 4 * 1024 * 1024 and reads "4.0 MB").

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
