import { parquetReadObjects } from 'hyparquet';
import { formatS3Url, type ObjectRef } from '../../config/address.js';
import { controlRequest, type TransferContext } from '../../s3/context.js';
import { failure } from '../../errors.js';
import { listObjects } from '../../s3/list.js';
import { isNotFound } from '../../s3/objects.js';
import type { Protocol, TableMetadata } from './protocol.js';

/**
 * Reading a Delta table's state from its `_delta_log/`: the newest checkpoint (`_last_checkpoint`
 * names it; single-file or multi-part Parquet, read with hyparquet), then every JSON commit after it,
 * in order. The state is what an append needs: the latest version, protocol and metadata, and the
 * data files the table references now (added and not removed since).
 */
export interface TableState {
  version: number;
  protocol: Protocol;
  metadata: TableMetadata;
  /** Every file the latest version references, by its path as the log writes it (URI-decoded), with the size the log gives it. */
  files: Map<string, number | undefined>;
  /**
   * Every file the replayed log names in an add or a remove: those referenced now, and those a later
   * version removed (a DELETE or OPTIMIZE rewrote them) while their tombstone is still in the log.
   */
  committedBefore: Set<string>;
}

/** One action of a commit: a line of its JSON, or a row of a checkpoint (its null columns dropped). */
export interface Action {
  add?: { path: string; size?: number | bigint } & Record<string, unknown>;
  remove?: { path: string } & Record<string, unknown>;
  metaData?: TableMetadata;
  protocol?: Protocol;
  commitInfo?: Record<string, unknown>;
  [other: string]: unknown;
}

export const LOG_FOLDER = '_delta_log/';

/** The key of a version's commit: `_delta_log/` and the version in twenty digits. */
export function commitKey(root: ObjectRef, version: number): ObjectRef {
  return { bucket: root.bucket, key: `${root.key}${LOG_FOLDER}${String(version).padStart(20, '0')}.json` };
}

/** A log entry read whole. Checkpoints of big tables run to hundreds of MiB; more than this is refused. */
const LOG_OBJECT_LIMIT = 1024 * 1024 * 1024;

/** An object of the log, whole; undefined when it does not exist. */
export async function readLogObject(ctx: TransferContext, ref: ObjectRef): Promise<Buffer | undefined> {
  try {
    const response = await controlRequest(ctx, `GET ${ref.key}`, () => ctx.direct.getWholeObject(ref, LOG_OBJECT_LIMIT, ctx.signal));
    if (response.bodyLength !== response.body.length) throw failure(`${formatS3Url(ref)} is over ${LOG_OBJECT_LIMIT} bytes: too large to read`);
    return response.body;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The actions of one commit, or undefined when that version does not exist (yet). */
export async function readCommit(ctx: TransferContext, root: ObjectRef, version: number): Promise<Action[] | undefined> {
  const ref = commitKey(root, version);
  const body = await readLogObject(ctx, ref);
  return body === undefined ? undefined : parseCommit(body, ref);
}

export function parseCommit(body: Buffer, ref: ObjectRef): Action[] {
  const actions: Action[] = [];
  for (const line of body.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    let action: unknown;
    try {
      action = JSON.parse(line);
    } catch {
      throw failure(`${formatS3Url(ref)} is not a Delta commit: a line is not JSON; the table's log is damaged`);
    }
    if (typeof action !== 'object' || action === null || Array.isArray(action)) {
      throw failure(`${formatS3Url(ref)} is not a Delta commit: a line is not an object (${line.slice(0, 20)}); the table's log is damaged`);
    }
    actions.push(action as Action);
  }
  return actions;
}

export interface LogListing {
  commits: Set<number>;
  /** Versions with a V2 checkpoint (`N.checkpoint.<uuid>.json|parquet`), which datalake cannot read. */
  v2Checkpoints: Set<number>;
  /** Checkpoint version → the keys of its parts, when every part is there. */
  checkpoints: Map<number, string[]>;
}

/**
 * The table's state, or undefined when the prefix holds no log (not a table yet). `otherKeys` says
 * what else lies under a prefix without a log, so a caller can refuse to make a table there.
 */
export async function readTableState(ctx: TransferContext, root: ObjectRef): Promise<{ state: TableState | undefined; otherKeys: OtherObject[] }> {
  let listing = await listLog(ctx, root);
  if (listing.commits.size === 0 && listing.checkpoints.size === 0 && listing.v2Checkpoints.size === 0) {
    const otherKeys = await someKeysUnder(ctx, root);
    // A first commit written by another writer between the two listings: the table exists now.
    const logKey = `${root.key}${LOG_FOLDER}`;
    const appeared = otherKeys.some(({ key }) => key.startsWith(logKey) && COMMIT_NAME.test(key.slice(logKey.length)));
    if (appeared) listing = await listLog(ctx, root);
    if (listing.commits.size === 0 && listing.checkpoints.size === 0 && listing.v2Checkpoints.size === 0) return { state: undefined, otherKeys };
  }
  const latest = Math.max(...listing.commits, ...listing.checkpoints.keys(), ...listing.v2Checkpoints);
  const checkpoint = await chooseCheckpoint(ctx, root, listing);
  const replay = new Replay();
  if (checkpoint !== undefined) {
    for (const key of listing.checkpoints.get(checkpoint)!) replay.apply(await readCheckpointPart(ctx, { bucket: root.bucket, key }));
  }
  for (let version = (checkpoint ?? -1) + 1; version <= latest; version += 1) {
    const actions = listing.commits.has(version) ? await readCommit(ctx, root, version) : undefined;
    if (!actions) {
      const v2 = [...listing.v2Checkpoints].filter((at) => at >= version);
      if (v2.length > 0) {
        throw failure(`${formatS3Url(root)}: the table's state starts at a V2 checkpoint (version ${Math.min(...v2)}): the table uses the reader feature v2Checkpoint, which datalake does not implement`, { hint: 'append to it with Spark or delta-rs' });
      }
      throw failure(`${formatS3Url(root)}: the log has no commit ${version} though later versions exist; the table's log is damaged`);
    }
    replay.apply(actions);
  }
  return { state: replay.state(latest, root), otherKeys: [] };
}

/** Replays actions in log order into the table's state. */
export class Replay {
  private protocol: Protocol | undefined;
  private metadata: TableMetadata | undefined;
  private readonly files = new Map<string, number | undefined>();
  private readonly committedBefore = new Set<string>();

  apply(actions: Action[]): void {
    for (const action of actions) {
      if (action.protocol) this.protocol = action.protocol;
      if (action.metaData) this.metadata = action.metaData;
      applyFileAction(action, this.files, this.committedBefore);
    }
  }

  state(version: number, root: ObjectRef): TableState {
    if (!this.protocol || !this.metadata) throw failure(`${formatS3Url(root)}: the log has no ${this.protocol ? 'metaData' : 'protocol'} action; the table's log is damaged`);
    return { version, protocol: this.protocol, metadata: this.metadata, files: this.files, committedBefore: this.committedBefore };
  }
}

/** An add or remove action applied to the set of files a version references (and to those ever named). */
export function applyFileAction(action: Action, files: Map<string, number | undefined>, committedBefore: Set<string>): void {
  if (action.add) {
    files.set(decodePath(action.add.path), action.add.size === undefined ? undefined : Number(action.add.size));
    committedBefore.add(decodePath(action.add.path));
  }
  if (action.remove) {
    files.delete(decodePath(action.remove.path));
    committedBefore.add(decodePath(action.remove.path));
  }
}

/** A path as the log writes it (a relative URI) as the key it names under the table. */
export function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

const COMMIT_NAME = /^(\d{20})\.json$/;
const V2_CHECKPOINT_NAME = /^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(?:json|parquet)$/;
const CHECKPOINT_NAME = /^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$/;

export interface OtherObject {
  key: string;
  etag: string | undefined;
}

/** Up to 100 objects under a prefix that has no log: what a table made there would take over. */
async function someKeysUnder(ctx: TransferContext, root: ObjectRef): Promise<OtherObject[]> {
  const keys: OtherObject[] = [];
  for await (const entry of listObjects(ctx, root, { recursive: true })) {
    if (entry.kind === 'object') keys.push({ key: entry.object.key, etag: entry.object.etag });
    if (keys.length >= 100) break;
  }
  return keys;
}

/** Whether anything lies under a prefix (the listing stops at its first key). */
export async function hasAnyKey(ctx: TransferContext, prefix: ObjectRef): Promise<boolean> {
  for await (const entry of listObjects(ctx, prefix, { recursive: true })) if (entry.kind === 'object') return true;
  return false;
}

/** The log's commits and whole checkpoints, from one listing of `_delta_log/` (never of the data files). */
export async function listLog(ctx: TransferContext, root: ObjectRef): Promise<LogListing> {
  const commits = new Set<number>();
  const v2Checkpoints = new Set<number>();
  const parts = new Map<number, { total: number; keys: string[] }>();
  const log = { bucket: root.bucket, key: `${root.key}${LOG_FOLDER}` };
  for await (const entry of listObjects(ctx, log, { recursive: true })) {
    if (entry.kind !== 'object') continue;
    const file = entry.object.key.slice(log.key.length);
    const commit = COMMIT_NAME.exec(file);
    if (commit) commits.add(Number(commit[1]));
    const v2 = V2_CHECKPOINT_NAME.exec(file);
    if (v2) v2Checkpoints.add(Number(v2[1]));
    const checkpoint = CHECKPOINT_NAME.exec(file);
    if (checkpoint) {
      const version = Number(checkpoint[1]);
      const total = checkpoint[3] === undefined ? 1 : Number(checkpoint[3]);
      const found = parts.get(version) ?? { total, keys: [] };
      if (found.total === total) found.keys.push(entry.object.key);
      parts.set(version, found);
    }
  }
  const checkpoints = new Map<number, string[]>();
  for (const [version, { total, keys }] of parts) if (keys.length === total) checkpoints.set(version, keys.sort());
  return { commits, v2Checkpoints, checkpoints };
}

/** `_last_checkpoint`'s version when its checkpoint is whole, else the newest whole one listed. */
async function chooseCheckpoint(ctx: TransferContext, root: ObjectRef, listing: LogListing): Promise<number | undefined> {
  const pointer = await readLogObject(ctx, { bucket: root.bucket, key: `${root.key}${LOG_FOLDER}_last_checkpoint` });
  if (pointer) {
    try {
      const { version } = JSON.parse(pointer.toString('utf8')) as { version?: number };
      if (typeof version === 'number' && listing.checkpoints.has(version)) return version;
    } catch {
      // A damaged pointer is only a hint: the listing says the same.
    }
  }
  const versions = [...listing.checkpoints.keys()];
  return versions.length > 0 ? Math.max(...versions) : undefined;
}

/** The actions of one checkpoint part (hyparquet reads its Parquet; null columns of a row are dropped). */
async function readCheckpointPart(ctx: TransferContext, ref: ObjectRef): Promise<Action[]> {
  const body = await readLogObject(ctx, ref);
  if (!body) throw failure(`${formatS3Url(ref)} disappeared while the table was read; run the command again`);
  const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer;
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await parquetReadObjects({ file, columns: ['add', 'remove', 'metaData', 'protocol'] });
  } catch (error) {
    throw failure(`${formatS3Url(ref)} is not a readable checkpoint: ${(error as Error).message}`);
  }
  return rows.map((row) => {
    const action: Action = {};
    for (const [name, value] of Object.entries(row)) if (value !== null && value !== undefined) action[name] = value;
    return action;
  });
}
