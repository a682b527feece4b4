import { randomUUID } from 'node:crypto';
import { formatS3Url, type ObjectRef } from '../../config/address.js';
import type { TransferContext } from '../../s3/context.js';
import { DatalakeError, describeError, failure } from '../../errors.js';
import { httpStatusOf, withRetries, type RetryPolicy } from '../../s3/retry.js';
import { uploadBytes } from '../../transfer/upload.js';
import { applyFileAction, commitKey, decodePath, readCommit, readLogObject, type TableState } from './log.js';
import type { Protocol, TableMetadata } from './protocol.js';

/**
 * Writing one append as the table's next version. The commit is a PUT with `If-None-Match: *`: of
 * writers racing for one version exactly one gets it, the others get 412. A writer that lost reads
 * the versions it missed, checks that none conflicts with a blind append (a protocol or metadata
 * change does), and tries the next version, a bounded number of times with jittered backoff (the one
 * retry policy, retry.ts). An answer lost on the way is settled by reading the version back: the
 * commit carries a unique `txnId`, so its own bytes are recognised.
 */
export interface AddAction {
  path: string;
  partitionValues: Record<string, string>;
  size: number;
  modificationTime: number;
  dataChange: true;
  stats: string;
}

export interface CommitRequest {
  root: ObjectRef;
  adds: AddAction[];
  /** For a table this append creates: its protocol and metadata, written into version 0. */
  creation?: { protocol: Protocol; metadata: TableMetadata } | undefined;
  engineInfo: string;
}

export interface Committed {
  /** The version written; undefined when every file was already in the table (nothing to commit). */
  version: number | undefined;
  /** Whether this commit created the table. */
  created: boolean;
  /** Versions tried before the one written (other writers took them). */
  lost: number;
  /** Files another writer committed meanwhile: left out of this commit. */
  alreadyCommitted: string[];
}

/** Versions lost to other writers before giving up: each loss means one of them committed. */
const COMMIT_RETRY_POLICY: RetryPolicy = { retries: 24, baseDelayMs: 50, maxDelayMs: 2_000 };

/** Another writer took the version: worth another attempt at the next one (retry.ts's alsoTransient). */
class VersionTaken extends Error {
  override readonly name = 'VersionTaken';
}

/**
 * Commits the adds at the first free version after `state` (version 0 with `creation` when there is
 * no table). `checkTable` is asked about a table another writer created meanwhile: it throws when
 * this append cannot go into it.
 */
export async function commitAppend(
  ctx: TransferContext,
  request: CommitRequest,
  state: TableState | undefined,
  checkTable: (state: TableState) => void,
): Promise<Committed> {
  const txnId = randomUUID();
  let base = state;
  let lost = 0;
  const alreadyCommitted: string[] = [];
  return withRetries(
    `commit to ${formatS3Url(request.root)}`,
    async () => {
      const version = base === undefined ? 0 : base.version + 1;
      const adds = request.adds.filter((add) => {
        const present = base?.committedBefore.has(decodePath(add.path)) === true;
        if (present && !alreadyCommitted.includes(add.path)) alreadyCommitted.push(add.path);
        return !present;
      });
      if (adds.length === 0) return { version: undefined, created: false, lost, alreadyCommitted };
      const creation = base === undefined ? request.creation : undefined;
      const body = commitBody({ ...request, adds, creation }, txnId);
      const ref = commitKey(request.root, version);
      try {
        await uploadBytes(ctx, body, ref, { ifNoneMatch: true, contentType: 'application/json' });
        return { version, created: creation !== undefined, lost, alreadyCommitted };
      } catch (error) {
        if (await isOurs(ctx, ref, body, error)) return { version, created: creation !== undefined, lost, alreadyCommitted };
        lost += 1;
        base = await catchUp(ctx, request.root, base, version, checkTable);
        throw new VersionTaken(`version ${version} was taken by another writer`);
      }
    },
    COMMIT_RETRY_POLICY,
    { alsoTransient: new Set(['VersionTaken']), signal: ctx.signal, onRetry: (notice) => ctx.events.emit('retry', notice) },
  ).catch((error: unknown) => {
    if (error instanceof VersionTaken) {
      throw failure(`${formatS3Url(request.root)}: ${lost} versions in a row were taken by other writers; nothing was committed`, { hint: 'run the command again' });
    }
    throw error;
  });
}

/**
 * After a failed commit PUT: whether the version now holds exactly this commit (an answer lost after
 * the write, and the retry met its own write as 412). A 412 with another commit there is a lost race
 * (false); any other failure leaves nothing committed, or cannot tell, and says which.
 */
async function isOurs(ctx: TransferContext, ref: ObjectRef, body: Buffer, error: unknown): Promise<boolean> {
  let found: Buffer | undefined;
  try {
    found = await readLogObject(ctx, ref);
  } catch (lookError) {
    throw failure(`cannot tell whether the commit ${formatS3Url(ref)} was written: ${describeError(error)}, then reading it back: ${describeError(lookError)}`, {
      hint: 'look at that object before running the command again',
    });
  }
  if (found?.equals(body)) return true;
  if (httpStatusOf(error) === 412 && found !== undefined) return false;
  if (error instanceof DatalakeError) throw error;
  throw failure(`the commit ${formatS3Url(ref)} was not written: ${describeError(error)}`, { cause: error });
}

/** Reads the versions from `from` on that another writer committed; throws on one this append conflicts with. */
async function catchUp(ctx: TransferContext, root: ObjectRef, base: TableState | undefined, from: number, checkTable: (state: TableState) => void): Promise<TableState> {
  const files = new Map(base?.files ?? []);
  const committedBefore = new Set(base?.committedBefore ?? []);
  let protocol = base?.protocol;
  let metadata = base?.metadata;
  let version = from;
  for (let actions = await readCommit(ctx, root, version); actions !== undefined; actions = await readCommit(ctx, root, version)) {
    const change = actions.find((action) => action.protocol || action.metaData);
    if (change && base !== undefined) {
      throw failure(
        `${formatS3Url(root)}: version ${version}, written by another writer meanwhile, changes the table's ${change.protocol ? 'protocol' : 'metadata or schema'}: it conflicts with this append; nothing was committed`,
        { hint: 'run the command again to append to the table as it is now' },
      );
    }
    for (const action of actions) applyFileAction(action, files, committedBefore);
    protocol = actions.find((action) => action.protocol)?.protocol ?? protocol;
    metadata = actions.find((action) => action.metaData)?.metaData ?? metadata;
    version += 1;
  }
  if (!protocol || !metadata) throw failure(`${formatS3Url(root)}: version ${from} was taken but holds no table; nothing was committed`);
  const state: TableState = { version: version - 1, protocol, metadata, files, committedBefore };
  // This append meant to create the table and another writer did: it must be one this append fits.
  if (base === undefined) checkTable(state);
  return state;
}

/** The commit's newline-delimited JSON: commitInfo, then protocol and metaData for a new table, then one add per file. */
export function commitBody(request: CommitRequest, txnId: string): Buffer {
  const partitionColumns = request.creation?.metadata.partitionColumns ?? Object.keys(request.adds[0]?.partitionValues ?? {});
  const bytes = request.adds.reduce((sum, add) => sum + add.size, 0);
  const rows = request.adds.reduce((sum, add) => sum + (JSON.parse(add.stats) as { numRecords: number }).numRecords, 0);
  const lines: unknown[] = [
    {
      commitInfo: {
        timestamp: Date.now(),
        operation: 'WRITE',
        operationParameters: { mode: 'Append', partitionBy: JSON.stringify(partitionColumns) },
        isBlindAppend: true,
        operationMetrics: { numFiles: String(request.adds.length), numOutputRows: String(rows), numOutputBytes: String(bytes) },
        engineInfo: request.engineInfo,
        txnId,
      },
    },
  ];
  if (request.creation) lines.push({ protocol: request.creation.protocol }, { metaData: request.creation.metadata });
  for (const add of request.adds) lines.push({ add });
  return Buffer.from(`${lines.map((line) => JSON.stringify(line)).join('\n')}\n`, 'utf8');
}
