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
 * move once every file of its table has: after a file of a table is not transferred — it failed, a
 * folder of it could not be read, one of its own log entries failed, it is a symbolic link not
 * followed, it was left out by --exclude — the log entries of that table that still need transferring
 * are left out, and the next run that finds the file completes the table. Other tables of the run are
 * not held back.
 */
export class DeltaLogGate {
  /** Each folder above a file not transferred (`''` is the synced root) → the first such file under it, and why. */
  private readonly missingUnder = new Map<string, { name: string; why: string }>();

  /** A file (`a/b.parquet`) or folder (`a/b/`) of the run that failed: it holds back `''`, `a` and `a/b`. */
  noteFailure(name: string): void {
    this.noteNotTransferred(name, 'failed; run the sync again to complete the table');
  }

  /** A file or folder of the run left untransferred, and why (with what completes the table): it holds back every folder above it. */
  noteNotTransferred(name: string, why: string): void {
    const folders = name.split('/').slice(0, -1);
    for (let depth = 0; depth <= folders.length; depth += 1) {
      const folder = folders.slice(0, depth).join('/');
      if (!this.missingUnder.has(folder)) this.missingUnder.set(folder, { name, why });
    }
  }

  /** Why this log entry must wait, or undefined if its table is whole so far. */
  holdBack(logEntry: string): string | undefined {
    const table = deltaTableRootOf(logEntry);
    if (table === undefined) return undefined;
    const missing = this.missingUnder.get(table);
    if (missing === undefined) return undefined;
    return `not transferred: ${missing.name} of this Delta table ${missing.why} (the log must never name a missing file)`;
  }
}

/**
 * Whether a Delta reader may need this file of a table: anything but a log entry and a hidden name
 * (a segment starting with `.`, as a writer's `.part-….parquet.crc` checksum files), which readers
 * never open. Left out by --exclude, such a file holds its table's log back.
 */
export function mayBeReadByDelta(name: string): boolean {
  return deltaTableRootOf(name) === undefined && !name.split('/').some((segment) => segment.startsWith('.'));
}
