/**
 * Delta Lake tables: a directory holding `_delta_log/`. A reader trusts the log, so the log must never
 * name a file that is not there yet: data files first, then log entries in ascending version order,
 * `_last_checkpoint` last.
 */

const LOG_SEGMENT = '_delta_log';

/** The table root of a `_delta_log` entry (`''` for a table at the sync root), else undefined. */
export function deltaTableRootOf(name: string): string | undefined {
  const segments = name.split('/');
  const index = segments.lastIndexOf(LOG_SEGMENT);
  if (index === -1 || index === segments.length - 1) return undefined;
  return segments.slice(0, index).join('/');
}

export function isDeltaLogEntry(name: string): boolean {
  return deltaTableRootOf(name) !== undefined;
}

/**
 * Sort key inside one table's log: version, then commit JSON before the checkpoint of that version,
 * then anything else; `_last_checkpoint` after everything.
 */
function logOrder(name: string): [number, number, string] {
  const file = name.slice(name.lastIndexOf('/') + 1);
  if (file === '_last_checkpoint') return [Number.MAX_SAFE_INTEGER, 0, file];
  const match = /^(\d+)\.(.*)$/.exec(file);
  if (!match) return [Number.MAX_SAFE_INTEGER - 1, 0, file];
  const rest = match[2] ?? '';
  const rank = rest === 'json' ? 0 : rest.startsWith('checkpoint') ? 1 : 2;
  return [Number(match[1]), rank, file];
}

/** Orders log entries: by table, then in the order a writer commits them. */
export function compareDeltaLogEntries(a: string, b: string): number {
  const tableA = deltaTableRootOf(a) ?? '';
  const tableB = deltaTableRootOf(b) ?? '';
  if (tableA !== tableB) return tableA < tableB ? -1 : 1;
  const [versionA, rankA, fileA] = logOrder(a);
  const [versionB, rankB, fileB] = logOrder(b);
  return versionA - versionB || rankA - rankB || (fileA < fileB ? -1 : fileA > fileB ? 1 : 0);
}

/**
 * Which tables must keep their log back in this run. A reader trusts the log, so a commit may only
 * move once every file of its table has: after a data file of a table fails (or a folder of it could
 * not be read, or one of its own log entries failed), the log entries of that table that still need
 * transferring are left out, and the next run, finding the file still missing, completes the table.
 * Other tables of the run are not held back.
 */
export class DeltaLogGate {
  /** Each folder above a failure (`''` is the synced root) → the first failure under it. */
  private readonly failedUnder = new Map<string, string>();

  /** A file (`a/b.parquet`) or folder (`a/b/`) of the run that failed: it holds back `''`, `a` and `a/b`. */
  noteFailure(name: string): void {
    const folders = name.split('/').slice(0, -1);
    for (let depth = 0; depth <= folders.length; depth += 1) {
      const folder = folders.slice(0, depth).join('/');
      if (!this.failedUnder.has(folder)) this.failedUnder.set(folder, name);
    }
  }

  /** Why this log entry must wait, or undefined if its table is whole so far. */
  holdBack(logEntry: string): string | undefined {
    const table = deltaTableRootOf(logEntry);
    if (table === undefined) return undefined;
    const failure = this.failedUnder.get(table);
    if (failure === undefined) return undefined;
    return `not transferred: ${failure} of this Delta table failed, and the log must never name a missing file; run the sync again to complete the table`;
  }
}
