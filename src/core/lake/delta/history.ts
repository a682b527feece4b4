import { formatS3Url, type ObjectRef } from '../../config/address.js';
import type { TransferContext } from '../../s3/context.js';
import { failure } from '../../errors.js';
import { forEachWindowed } from '../../s3/limiter.js';
import { findObject } from '../../s3/objects.js';
import { listLog, readCommit, readTableState, type Action } from './log.js';

/**
 * `table log` and `table check`: what a table's versions did, and whether every file its latest
 * version references is there with the size the log gives it.
 */
export interface VersionSummary {
  version: number;
  /** The commit's time (commitInfo.timestamp) as ISO 8601, when the writer recorded one. */
  timestamp: string | null;
  operation: string | null;
  filesAdded: number;
  filesRemoved: number;
  /** Rows the added files hold, from their stats; null when a file has none. */
  rowsAdded: number | null;
}

/** Every version whose JSON commit is still in the log, oldest first. */
export async function tableHistory(ctx: TransferContext, root: ObjectRef, concurrency: number): Promise<VersionSummary[]> {
  const listing = await listLog(ctx, root);
  if (listing.commits.size === 0) throw notATable(root);
  const versions = [...listing.commits].sort((a, b) => a - b);
  const summaries = new Map<number, VersionSummary>();
  await forEachWindowed(versions, concurrency, async (version) => {
    const actions = await readCommit(ctx, root, version);
    if (actions) summaries.set(version, summarise(version, actions));
  }, ctx.stopping);
  return versions.flatMap((version) => summaries.get(version) ?? []);
}

export function summarise(version: number, actions: Action[]): VersionSummary {
  const info = actions.find((action) => action.commitInfo)?.commitInfo ?? {};
  const adds = actions.filter((action) => action.add).map((action) => action.add!);
  const rows = adds.map((add) => {
    try {
      return typeof add.stats === 'string' ? ((JSON.parse(add.stats) as { numRecords?: number }).numRecords ?? null) : null;
    } catch {
      return null;
    }
  });
  const timestamp = typeof info.timestamp === 'number' ? new Date(info.timestamp).toISOString() : null;
  return {
    version,
    timestamp,
    operation: typeof info.operation === 'string' ? info.operation : null,
    filesAdded: adds.length,
    filesRemoved: actions.filter((action) => action.remove).length,
    rowsAdded: rows.includes(null) ? null : rows.reduce<number>((sum, count) => sum + (count ?? 0), 0),
  };
}

export interface CheckedTable {
  version: number;
  checked: number;
  /** Files of the latest version that are missing, or whose size is not the log's. */
  problems: Array<{ path: string; bucket: string; key: string; problem: string }>;
}

/** HEADs every file the latest version references. */
export async function checkTable(ctx: TransferContext, root: ObjectRef, concurrency: number): Promise<CheckedTable> {
  const { state } = await readTableState(ctx, root);
  if (!state) throw notATable(root);
  const problems: CheckedTable['problems'] = [];
  await forEachWindowed(state.files, concurrency, async ([path, size]) => {
    const ref = absoluteRef(path) ?? { bucket: root.bucket, key: `${root.key}${path}` };
    const found = await findObject(ctx, ref);
    if (!found) problems.push({ path, bucket: ref.bucket, key: ref.key, problem: 'missing' });
    else if (size !== undefined && found.size !== size) problems.push({ path, bucket: ref.bucket, key: ref.key, problem: `${found.size} bytes, the log says ${size}` });
  }, ctx.stopping);
  problems.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { version: state.version, checked: state.files.size, problems };
}

/** An absolute path in the log (`s3://`, `s3a://`, `s3n://`; URI-decoded already) as its bucket and key. */
function absoluteRef(path: string): ObjectRef | undefined {
  const match = /^s3[an]?:\/\/([^/]+)\/(.*)$/i.exec(path);
  return match ? { bucket: match[1]!, key: match[2]! } : undefined;
}

function notATable(root: ObjectRef): Error {
  return failure(`${formatS3Url(root)} is not a Delta table: it has no _delta_log/ commits`, { hint: 'check the prefix with `datalake ls`' });
}
