// What a command that reads a teacher or evaluation file says on stderr about
// the records it could not use: the good ones train (or are scored), and the
// bad ones are named by file and line, so that a person can fix them without
// running `mcckd inspect` to find out that anything was skipped.
import { whereText, type DataReport, type ReportError } from '../data/report';

/** The file, then where in it (whereText: its record, line and field). */
function where(file: string, e: ReportError): string {
  const at = whereText(e);
  return at ? `${file} ${at}` : file;
}

/** Lines for stderr: the first `max` listed errors, how many more there are,
 * and what was dropped by reason; none when every record was used. */
export function dataProblems(file: string, r: Pick<DataReport, 'errors' | 'errorsOmitted' | 'dropped'>, max = 5): string[] {
  const out = r.errors.slice(0, max).map((e) => `${where(file, e)}: ${e.message}`);
  const more = r.errors.length - Math.min(max, r.errors.length) + r.errorsOmitted;
  if (more > 0) out.push(`… and ${more} more (mcckd inspect --data ${file} lists them)`);
  const dropped = Object.entries(r.dropped).filter(([, n]) => n > 0);
  if (dropped.length > 0) out.push(`dropped: ${dropped.map(([reason, n]) => `${n} ${reason}`).join(', ')}`);
  return out;
}
