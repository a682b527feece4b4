/**
 * sync/: a local tree and a prefix made the same (this file): the local walk in S3's order, the march
 * of two sorted listings, the content compare and its hash cache, filters and shards, the run's lock,
 * Delta-aware ordering; and `verify`, the same compare without transfers. Imports transfer/, s3/,
 * integrity/, config/, errors.ts.
 */
import { mkdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sdk } from '../s3/sdk.js';
import { formatS3Url, joinKey, validateKey, type ObjectRef } from '../config/address.js';
import { retrying, type TransferContext } from '../s3/context.js';
import { downloadToFile } from '../transfer/download.js';
import { describeError } from '../errors.js';
import { DestinationGuard, localPathFor } from '../transfer/get-plan.js';
import { forEachWindowed } from '../s3/limiter.js';
import { listObjects } from '../s3/list.js';
import { readAhead } from '../transfer/read-ahead.js';
import { findObject } from '../s3/objects.js';
import { guessContentType } from '../transfer/put-plan.js';
import { explainError, isFatalForRun } from '../s3/explain-error.js';
import { isTemporaryDownloadName } from '../transfer/temporary-names.js';
import { uploadFile } from '../transfer/upload.js';
import type { PutOptions } from '../transfer/put-options.js';
import { compareContent, type Reason, type RemoteFile } from './compare.js';
import { compareDeltaLogEntries, DeltaLogGate, deltaTableRootOf, mayBeReadByDelta } from './delta.js';
import { ownerShard, type Shard } from './filters.js';
import { HashCache, type CachedHash } from './hash-cache.js';
import { walkLocalTree, whyUnreadable, type LocalFile } from './local-tree.js';
import { march, type MarchStep } from './march.js';

export type SyncDirection = 'upload' | 'download';

export interface SyncPlan {
  direction: SyncDirection;
  localRoot: string;
  /** The remote prefix: empty or ending in `/`. */
  remote: ObjectRef;
  deleteExtraneous: boolean;
  maxDelete: number | undefined;
  dryRun: boolean;
  sizeOnly: boolean;
  followSymlinks: boolean;
  includeName: (name: string) => boolean;
  shard: Shard | undefined;
  putOptions: Omit<PutOptions, 'contentType'> & { contentType?: string | undefined };
  hashCachePath: string;
}

/** One line of the plan: what was (or, with --dry-run, would be) done to one name, and why. */
export interface SyncAction {
  action: 'upload' | 'download' | 'skip' | 'delete';
  name: string;
  reason: Reason;
  key: string;
  path: string;
  size: number;
  status: 'done' | 'planned' | 'failed';
  error?: string;
}

export interface SyncReport {
  transferred: number;
  skipped: number;
  deleted: number;
  failed: number;
  bytes: number;
  dryRun: boolean;
  symlinksSkipped: number;
  errors: Array<{ name: string; error: string }>;
}

type Step = MarchStep<LocalFile | RemoteFile, LocalFile | RemoteFile>;

/**
 * Local directory ⇄ prefix. One pass over two sorted listings; each name is decided (transfer, skip)
 * by content, transferred inside the shared limiter, and reported. `_delta_log` entries wait until
 * every other transfer is over, then go one by one in commit order — those of a table with a file
 * with a file not transferred (failed, unreadable, a link not followed, left out by --exclude) stay
 * behind. A local folder that cannot be read is reported, and the walk goes on. Deletions come last,
 * and only when nothing failed. Names of datalake's temporary download files are left out on both
 * sides, reported once as skipped: never sent, fetched or deleted. An interrupt (`ctx.stopping`) ends
 * the run early with the report of what completed; the caller tells the interrupt beside it.
 */
export async function runSync(ctx: TransferContext, plan: SyncPlan, onSyncAction: (action: SyncAction) => void): Promise<SyncReport> {
  const report: SyncReport = { transferred: 0, skipped: 0, deleted: 0, failed: 0, bytes: 0, dryRun: plan.dryRun, symlinksSkipped: 0, errors: [] };
  const inShard = (name: string) => !plan.shard || ownerShard(name, plan.shard.count, deltaTableRootOf(name)) === plan.shard.index;
  const wanted = (name: string) => plan.includeName(name) && inShard(name);
  const deltaLogGate = new DeltaLogGate();
  const onAction = (action: SyncAction) => {
    if (action.status === 'failed') deltaLogGate.noteFailure(action.name);
    onSyncAction(action);
  };
  // A folder the filters leave out (or another shard's) is not this run's to report, as rsync does not
  // descend into an excluded folder.
  const onUnreadable = (name: string, error: NodeJS.ErrnoException) => {
    if (!wanted(name)) return;
    const message = name.endsWith('/') ? `${whyUnreadable(name, error)}; nothing under it was transferred or deleted` : whyUnreadable(name, error);
    report.failed += 1;
    report.errors.push({ name, error: message });
    const action = plan.direction === 'upload' ? 'upload' : 'download';
    onAction({ action, name, reason: 'unreadable', key: joinKey(plan.remote.key, name), path: join(plan.localRoot, name), size: 0, status: 'failed', error: message });
  };
  /**
   * A name this run leaves alone: another shard's, or left out by the filters, or (upward) a symbolic
   * link not followed. It is neither transferred nor deleted; a source file of it missing on the
   * destination is not sent by any worker, so a Delta table holding it keeps its log back.
   */
  const leftAlone = (step: Step): boolean => {
    const skippedLink = plan.direction === 'upload' && (step.source as LocalFile | undefined)?.skippedLink === true;
    if (!inShard(step.name)) return true;
    if (!plan.includeName(step.name)) {
      if (step.source && !step.destination && mayBeReadByDelta(step.name)) {
        deltaLogGate.noteNotTransferred(step.name, 'was left out by --exclude; sync without that --exclude to complete the table');
      }
      return true;
    }
    if (!skippedLink) return false;
    report.symlinksSkipped += 1;
    if (!step.destination) {
      deltaLogGate.noteNotTransferred(step.name, 'is a symbolic link, not followed; sync with --follow-symlinks (or put the file itself there) to complete the table');
    }
    return true;
  };
  // A name that looks like a download in progress is left out on both sides, as --exclude would: a
  // remote copy of a local file the walk hides must never look like a stray to delete.
  const temporaryNames = new Set<string>();
  const onTemporaryName = (name: string) => {
    if (temporaryNames.has(name) || !wanted(name)) return;
    temporaryNames.add(name);
    report.skipped += 1;
    onSyncAction({ action: 'skip', name, reason: 'temporary name', key: joinKey(plan.remote.key, name), path: join(plan.localRoot, name), size: 0, status: 'done' });
  };
  if (plan.direction === 'download' && !plan.dryRun) await mkdir(plan.localRoot, { recursive: true });
  const localExists = await stat(plan.localRoot).then((info) => info.isDirectory(), () => false);

  // Both listings unfiltered, in key order: what the filters leave out is decided once the two sides are paired.
  const localFiles = localExists
    ? walkLocalTree(plan.localRoot, {
        followSymlinks: plan.followSymlinks,
        // Upward, a link not followed is paired with the destination like a file, to know whether it is there.
        // Downward, the temporary files in the local tree are downloads in progress (this run's own,
        // say): left out in silence, as before.
        ...(plan.direction === 'upload' ? { listSkippedLinks: true, onTemporarySkipped: onTemporaryName } : { onSymlinkSkipped: () => (report.symlinksSkipped += 1) }),
        onUnreadable,
      })
    : emptyListing<LocalFile>();
  const remoteFiles = withoutTemporaryNames(listRemoteFiles(ctx, plan.remote), onTemporaryName);
  const steps: AsyncIterable<Step> = plan.direction === 'upload' ? march(localFiles, remoteFiles) : march(remoteFiles, localFiles);

  const cache = await HashCache.open(plan.hashCachePath, !plan.dryRun);
  const guard = new DestinationGuard(plan.localRoot);
  const deferredLog: Array<{ step: Step; cached: CachedHash | undefined }> = [];
  const extraneous: Step[] = [];
  let committed = false;
  try {
    const decided = (async function* () {
      for await (const step of steps) {
        if (leftAlone(step)) continue;
        const local = localSide(plan, step);
        const cached = local ? await cache.lookup(local) : undefined;
        if (deltaTableRootOf(step.name) !== undefined && step.source) {
          // Its cache place is filled now with what was known; the log is small and cheap to rehash.
          if (local) cache.reserve()(cached);
          deferredLog.push({ step, cached });
          ctx.events.emit('plan:add', { files: 1, bytes: step.source.size });
          continue;
        }
        // Every name that ends with a local file gets its place in the new cache, in walk order.
        const endsLocal = local !== undefined || (plan.direction === 'download' && step.source !== undefined);
        yield { step, cached, fill: endsLocal ? cache.reserve() : () => undefined };
      }
    })();

    // Decided ahead of the transfers: the plan (every name with a source, until its content proves it
    // the same) is known before the first transfer, so a bar's total is the plan's.
    const planned = readAhead(decided, {
      onRead: ({ step }) => {
        if (step.source) ctx.events.emit('plan:add', { files: 1, bytes: step.source.size });
      },
      onEnd: () => ctx.events.emit('plan:complete'),
      signal: ctx.stopping,
    });
    await forEachWindowed(
      planned,
      ctx.limiter.concurrency * 4,
      async ({ step, cached, fill }) => {
        let entry: CachedHash | undefined = cached;
        try {
          entry = await handleStep(ctx, plan, step, cached, report, onAction, extraneous, guard);
        } finally {
          fill(entry);
        }
      },
      ctx.stopping,
    );
    if (ctx.stopping?.aborted) return report;

    // The Delta log, after every data file, in the order its writer committed it; a table with a
    // file not transferred (its data, a folder of it, an earlier entry of its log) keeps the rest back.
    deferredLog.sort((a, b) => compareDeltaLogEntries(a.step.name, b.step.name));
    for (const { step, cached } of deferredLog) {
      if (ctx.stopping?.aborted) return report;
      await handleStep(ctx, plan, step, cached, report, onAction, extraneous, guard, deltaLogGate.holdBack(step.name));
    }

    if (plan.deleteExtraneous && extraneous.length > 0) {
      if (report.failed > 0) {
        report.errors.push({ name: '(deletions)', error: `${extraneous.length} deletions skipped because ${report.failed} transfers failed` });
      } else if (plan.maxDelete !== undefined && extraneous.length > plan.maxDelete) {
        report.failed += 1;
        report.errors.push({ name: '(deletions)', error: `refusing to delete ${extraneous.length} files: more than --max-delete ${plan.maxDelete}` });
      } else {
        await deleteExtraneous(ctx, plan, extraneous, report, onAction);
      }
    }
    committed = true;
  } catch (error) {
    // Interrupted: what completed is the report; the new hash cache is not kept.
    if (!ctx.stopping?.aborted) throw error;
  } finally {
    await cache.close(committed);
  }
  return report;
}

async function handleStep(
  ctx: TransferContext,
  plan: SyncPlan,
  step: Step,
  cached: CachedHash | undefined,
  report: SyncReport,
  onAction: (action: SyncAction) => void,
  extraneous: Step[],
  guard: DestinationGuard,
  /** Set for a log entry that must not move in this run: why. */
  holdBack?: string,
): Promise<CachedHash | undefined> {
  const local = localSide(plan, step);
  const remote = remoteSide(plan, step);
  const key = remote?.ref.key ?? joinKey(plan.remote.key, step.name);
  const path = local?.path ?? safeLocalPath(plan, step.name);
  const size = (step.source as LocalFile | RemoteFile | undefined)?.size ?? 0;
  const base = { name: step.name, key, path: path ?? '', size };

  if (!step.source) {
    if (plan.deleteExtraneous) extraneous.push(step);
    return cached;
  }
  try {
    let reason: Reason;
    let entry = cached;
    if (!step.destination) reason = 'new';
    else if (step.source.size !== step.destination.size) reason = 'size differs';
    else if (plan.sizeOnly) reason = 'same size';
    else {
      const check = await compareContent(ctx, local!, remote!, cached);
      entry = local ? { name: local.name, size: local.size, mtimeMs: local.mtimeMs, ctimeMs: local.ctimeMs, ino: local.ino, md5: check.md5, crc32: check.crc32, etags: check.etags } : undefined;
      reason = check.same ? 'same content' : 'content differs';
    }
    if (reason === 'same content' || reason === 'same size') {
      ctx.events.emit('plan:drop', { files: 1, bytes: size });
      report.skipped += 1;
      onAction({ ...base, action: 'skip', reason, status: 'done' });
      return entry;
    }
    const action = plan.direction === 'upload' ? 'upload' : 'download';
    if (holdBack !== undefined) {
      report.failed += 1;
      report.errors.push({ name: step.name, error: holdBack });
      onAction({ ...base, action, reason, status: 'failed', error: holdBack });
      return entry;
    }
    if (plan.dryRun) {
      report.transferred += 1;
      report.bytes += size;
      onAction({ ...base, action, reason, status: 'planned' });
      return entry;
    }
    const transferred = plan.direction === 'upload' ? await uploadOne(ctx, plan, step.source as LocalFile, key, entry) : await downloadOne(ctx, plan, step.source as RemoteFile, guard);
    report.transferred += 1;
    report.bytes += size;
    onAction({ ...base, path: transferred.path, action, reason, status: 'done' });
    return transferred.entry;
  } catch (error) {
    if (ctx.stopping?.aborted) throw ctx.stopping.reason;
    if (isFatalForRun(error)) throw explainError(error, { bucket: plan.remote.bucket });
    const message = describeError(explainError(error, { bucket: plan.remote.bucket }));
    report.failed += 1;
    report.errors.push({ name: step.name, error: message });
    onAction({ ...base, action: plan.direction === 'upload' ? 'upload' : 'download', reason: step.destination ? 'content differs' : 'new', status: 'failed', error: message });
    return cached;
  }
}

async function uploadOne(ctx: TransferContext, plan: SyncPlan, local: LocalFile, key: string, known: CachedHash | undefined) {
  validateKey(key);
  const ref = { bucket: plan.remote.bucket, key };
  const uploaded = await uploadFile(ctx, local.path, ref, { ...plan.putOptions, contentType: plan.putOptions.contentType ?? guessContentType(local.path) }, { md5: known?.md5, stat: local });
  const entry: CachedHash = { name: local.name, size: local.size, mtimeMs: local.mtimeMs, ctimeMs: local.ctimeMs, ino: local.ino, md5: uploaded.md5, crc32: uploaded.crc32, etags: [uploaded.etag] };
  return { path: local.path, entry };
}

async function downloadOne(ctx: TransferContext, plan: SyncPlan, remote: RemoteFile, guard: DestinationGuard) {
  const path = localPathFor(plan.localRoot, plan.remote.key, remote.ref.key);
  await guard.check(path);
  const downloaded = await downloadToFile(ctx, remote.ref, path, { sizeHint: remote.size, beforePlacing: () => guard.check(path, { fresh: true }), creatingBeside: (temporary, create) => guard.within(temporary, create) });
  const info = await stat(path);
  const entry: CachedHash = {
    name: remote.name,
    size: info.size,
    mtimeMs: info.mtimeMs,
    ctimeMs: info.ctimeMs,
    ino: info.ino,
    md5: downloaded.md5,
    crc32: downloaded.crc32,
    etags: downloaded.etag ? [downloaded.etag] : [],
  };
  return { path, entry };
}

async function deleteExtraneous(ctx: TransferContext, plan: SyncPlan, extraneous: Step[], report: SyncReport, onAction: (action: SyncAction) => void): Promise<void> {
  // Data files before Delta log entries, the reverse of how they were written.
  const ordered = [...extraneous].sort((a, b) => Number(deltaTableRootOf(a.name) !== undefined) - Number(deltaTableRootOf(b.name) !== undefined));
  if (plan.direction === 'download') {
    // A local file is deleted only once a HEAD of its key confirms there is no such object: one
    // flipped letter in a listing (a name that stays under the prefix, or that a filter then hides)
    // would otherwise read as "only on the destination".
    const guard = new DestinationGuard(plan.localRoot);
    const confirmed = plan.dryRun ? ordered.map(() => true) : await Promise.all(ordered.map((step) => ctx.limiter.run(async () => !(await findObject(ctx, { bucket: plan.remote.bucket, key: joinKey(plan.remote.key, step.name) })))));
    for (const [index, step] of ordered.entries()) {
      const local = step.destination as LocalFile;
      const action: SyncAction = { action: 'delete', name: step.name, reason: 'only on destination', key: joinKey(plan.remote.key, step.name), path: local.path, size: local.size, status: 'planned' };
      if (!confirmed[index]) {
        const error = 'the listing did not name it, yet the object exists (a damaged listing?): not deleted';
        report.failed += 1;
        report.errors.push({ name: step.name, error });
        onAction({ ...action, status: 'failed', error });
        continue;
      }
      if (!plan.dryRun) {
        // The folders between the root and the file, looked at once more: never an unlink through a link.
        const refused = await guard.check(local.path, { fresh: true }).then(
          () => undefined,
          (error: unknown) => describeError(error),
        );
        if (refused) {
          report.failed += 1;
          report.errors.push({ name: step.name, error: refused });
          onAction({ ...action, status: 'failed', error: refused });
          continue;
        }
        await unlink(local.path);
      }
      report.deleted += 1;
      onAction({ ...action, status: plan.dryRun ? 'planned' : 'done' });
    }
    return;
  }
  for (let i = 0; i < ordered.length; i += 1000) {
    const batch = ordered.slice(i, i + 1000).map((step) => step.destination as RemoteFile);
    if (!plan.dryRun) {
      const output = await retrying(ctx, `DeleteObjects (${batch.length})`, async () =>
        ctx.client.send(new (await sdk()).DeleteObjectsCommand({ Bucket: plan.remote.bucket, Delete: { Objects: batch.map((remote) => ({ Key: remote.ref.key })), Quiet: true } }), {
          abortSignal: ctx.signal,
        }),
      );
      const refused = new Map((output.Errors ?? []).map((error) => [error.Key ?? '', `${error.Code ?? 'error'}: ${error.Message ?? ''}`]));
      for (const remote of batch) {
        const error = refused.get(remote.ref.key);
        if (error) {
          report.failed += 1;
          report.errors.push({ name: remote.name, error });
        } else report.deleted += 1;
        onAction({ action: 'delete', name: remote.name, reason: 'only on destination', key: remote.ref.key, path: '', size: remote.size, status: error ? 'failed' : 'done', ...(error ? { error } : {}) });
      }
    } else {
      for (const remote of batch) {
        report.deleted += 1;
        onAction({ action: 'delete', name: remote.name, reason: 'only on destination', key: remote.ref.key, path: '', size: remote.size, status: 'planned' });
      }
    }
  }
}

function localSide(plan: SyncPlan, step: Step): LocalFile | undefined {
  return (plan.direction === 'upload' ? step.source : step.destination) as LocalFile | undefined;
}

function remoteSide(plan: SyncPlan, step: Step): RemoteFile | undefined {
  return (plan.direction === 'upload' ? step.destination : step.source) as RemoteFile | undefined;
}

function safeLocalPath(plan: SyncPlan, name: string): string | undefined {
  try {
    return localPathFor(plan.localRoot, '', name);
  } catch {
    return undefined;
  }
}

/** The objects under a prefix as a sorted listing of relative names; "folder" markers are left out. */
async function* listRemoteFiles(ctx: TransferContext, prefix: ObjectRef): AsyncGenerator<RemoteFile> {
  for await (const entry of listObjects(ctx, prefix, { recursive: true })) {
    if (entry.kind !== 'object' || entry.object.key.endsWith('/')) continue;
    const name = entry.object.key.slice(prefix.key.length);
    if (name === '') continue;
    yield { name, ref: { bucket: prefix.bucket, key: entry.object.key }, size: entry.object.size, etag: entry.object.etag, lastModified: entry.object.lastModified };
  }
}

/** Keys with a segment named as a download in progress (`.x.datalake-part`) left out, each such name told once: `.x.datalake-part` or `.d.datalake-part/`. */
async function* withoutTemporaryNames(entries: AsyncIterable<RemoteFile>, onTemporaryName: (name: string) => void): AsyncGenerator<RemoteFile> {
  for await (const entry of entries) {
    const segments = entry.name.split('/');
    const index = segments.findIndex((segment) => isTemporaryDownloadName(segment));
    if (index === -1) yield entry;
    else onTemporaryName(segments.slice(0, index + 1).join('/') + (index < segments.length - 1 ? '/' : ''));
  }
}

async function* emptyListing<T>(): AsyncGenerator<T> {
  // nothing on this side yet
}

export function describeSyncTarget(plan: Pick<SyncPlan, 'direction' | 'localRoot' | 'remote'>): string {
  const remote = formatS3Url(plan.remote);
  return plan.direction === 'upload' ? `${plan.localRoot} → ${remote}` : `${remote} → ${plan.localRoot}`;
}

