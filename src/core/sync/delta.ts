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
