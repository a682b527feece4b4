/**
 * sync/: a local tree and a prefix made the same. This file runs it: the two listings (the local one
 * walked in S3's order by transfer/local-tree.ts, the walk put -r makes too; the remote one from
 * remote-listing.ts) paired by march.ts, each name decided and transferred by step.ts (content
 * compare in compare.ts, hash cache, filters and shards, Delta-aware ordering in delta.ts), then
 * deletions.ts; what a run is asked and tells is plan.ts. Also here: the run's lock, and `verify`,
 * the same compare without transfers. Imports transfer/, s3/, integrity/, config/, errors.ts.
 */
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatS3Url, joinKey } from '../config/address.js';
import { failure } from '../errors.js';
import type { TransferContext } from '../s3/context.js';
import { forEachWindowed } from '../s3/limiter.js';
import { DestinationGuard } from '../transfer/destination-guard.js';
import { walkLocalTree, whyUnreadable, type LinkNotFollowed, type LocalFile } from '../transfer/local-tree.js';
import { readAhead } from '../transfer/read-ahead.js';
import { compareDeltaLogEntries, DeltaLogGate, deltaTableRootOf, mayBeReadByDelta } from './delta.js';
import { deleteExtraneous } from './deletions.js';
import { ownerShard } from './filters.js';
import { HashCache, type CachedHash } from './hash-cache.js';
import { march } from './march.js';
import { emptySyncReport, localSide, type Step, type SyncAction, type SyncPlan, type SyncReport } from './plan.js';
export { emptySyncReport } from './plan.js';
import { listRemoteFiles, withoutTemporaryNames } from './remote-listing.js';
import { handleStep } from './step.js';
import { UnenteredLinks } from './unentered-links.js';

/**
 * Local directory ⇄ prefix. One pass over two sorted listings; each name is decided (transfer, skip)
 * by content, transferred inside the shared limiter, and reported. `_delta_log` entries wait until
 * every other transfer is over, then go one by one in commit order — those of a table
 * with a file not transferred (failed, unreadable, a link not followed, left out by --exclude) stay
 * behind. A local folder that cannot be read is reported, and the walk goes on. Deletions come last,
 * and only when nothing failed. Names of datalake's temporary download files are left out on both
 * sides, reported once as skipped: never sent, fetched or deleted; but downward, an object with such a
 * name (its file's or a folder's on the way) fails, as get -r fails it. An interrupt (`ctx.stopping`) ends
 * the run early with the report of what completed; the caller tells the interrupt beside it. `report`,
 * when the caller gives it, is filled as the run goes: what completed before a fatal error is in it.
 */
export async function runSync(ctx: TransferContext, plan: SyncPlan, onSyncAction: (action: SyncAction) => void, report: SyncReport = emptySyncReport(plan.dryRun)): Promise<SyncReport> {
  const inShard = (name: string) => !plan.shard || ownerShard(name, plan.shard.count, deltaTableRootOf(name)) === plan.shard.index;
  const wanted = (name: string) => plan.includeName(name) && inShard(name);
  const deltaLogGate = new DeltaLogGate();
  const onAction = (action: SyncAction) => {
    if (action.status === 'failed') deltaLogGate.noteFailure(action.name);
    onSyncAction(action);
  };
  // A folder the filters leave out is not this run's to report, as rsync does not descend into an
  // excluded folder; a file, not if it is another shard's. A folder or a link is every shard's: the
  // files behind it are spread over all of them, and each worker must know it cannot see its own.
  const onUnreadable = (name: string, error: NodeJS.ErrnoException) => {
    const holdsFiles = name.endsWith('/') || (error as Partial<LinkNotFollowed>).linkNotFollowed === true;
    // What the bucket holds under a folder or link that could not be read is left alone, as under a
    // link not entered: never taken for a file gone from the tree, never a deletion to skip. Patterns
    // match files, so one whose own name the filters leave out may still hold names they take in
    // (`--exclude '*' --include '*.csv'`): not reported then, but left alone all the same.
    if (holdsFiles) unentered.enter(name.replace(/\/$/, ''));
    if (!(holdsFiles ? plan.includeName(name) : wanted(name))) return;
    const why = whyUnreadable(name, error, plan.direction);
    // A link that cannot be followed: what is behind it is as unknown as an unreadable folder's insides.
    const message = (error as Partial<LinkNotFollowed>).linkNotFollowed ? `${why}; nothing at or under it was transferred or deleted` : name.endsWith('/') ? `${why}; nothing under it was transferred or deleted` : why;
    report.failed += 1;
    report.errors.push({ name, error: message });
    const action = plan.direction === 'upload' ? 'upload' : 'download';
    onAction({ action, name, reason: 'unreadable', key: joinKey(plan.remote.key, name), path: join(plan.localRoot, name), size: 0, status: 'failed', error: message });
  };
  /**
   * A name this run leaves alone: another shard's, or left out by the filters, or (upward) a symbolic
   * link not followed, or a name under one (the walk did not look behind it: what the destination
   * holds there is unseen, not missing). It is neither transferred nor deleted; a source file of it
   * missing on the destination is not sent by any worker, so a Delta table holding it keeps its log back.
   */
  const unentered = new UnenteredLinks();
  const leftAlone = (step: Step): boolean => {
    const link = plan.direction === 'upload' && (step.source as LocalFile | undefined)?.skippedLink === true ? (step.source as LocalFile) : undefined;
    // Whatever the filters and shards say of it: a link's name covers names they may not.
    if (link) unentered.enter(step.name);
    else if (plan.direction === 'upload' && unentered.covers(step.name)) return true;
    if (!inShard(step.name)) return true;
    if (!plan.includeName(step.name)) {
      if (step.source && !step.destination && mayBeReadByDelta(step.name)) {
        deltaLogGate.noteNotTransferred(step.name, 'was left out by --exclude; sync without that --exclude to complete the table');
      }
      return true;
    }
    if (!link) return false;
    // A link back up the tree is not one --follow-symlinks would follow: walked already, not counted.
    if (link.loopsBack) return true;
    report.symlinksSkipped += 1;
    if (!step.destination) {
      deltaLogGate.noteNotTransferred(step.name, 'is a symbolic link, not followed; sync with --follow-symlinks (or put the file itself there) to complete the table');
    }
    return true;
  };
  // Upward, a name that looks like a download in progress is left out on both sides, as --exclude
  // would: a remote copy of a local file the walk hides must never look like a stray to delete.
  const temporaryNames = new Set<string>();
  const onTemporaryName = (name: string) => {
    if (temporaryNames.has(name) || !wanted(name)) return;
    temporaryNames.add(name);
    report.skipped += 1;
    onSyncAction({ action: 'skip', name, reason: 'temporary name', key: joinKey(plan.remote.key, name), path: join(plan.localRoot, name), size: 0, status: 'done' });
  };
  // The first folder made for the run, if any: removed again (if still empty) by a run that fails as a whole.
  const firstMade = plan.direction === 'download' && !plan.dryRun ? await mkdir(plan.localRoot, { recursive: true }) : undefined;
  const localExists = await stat(plan.localRoot).then((info) => info.isDirectory(), () => false);
  // Upward the local folder is the source: one that is not there is never read as an empty tree,
  // which would make every object under the prefix an extra for --delete.
  if (plan.direction === 'upload' && !localExists) {
    throw failure(`the folder ${plan.localRoot} is not there (any more): nothing was compared, sent or deleted`, { hint: 'check the path, and run the sync again' });
  }

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
  // Downward, an object with such a name (its file's, or a folder's on the way) fails on its own
  // (localPathFor), as in get -r: it is never written, and never passed over in silence.
  const listed = listRemoteFiles(ctx, plan.remote);
  const remoteFiles = plan.direction === 'upload' ? withoutTemporaryNames(listed, onTemporaryName) : listed;
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

    await deleteExtraneous(ctx, plan, extraneous, report, onAction);
    committed = true;
  } catch (error) {
    // Interrupted: what completed is the report; the new hash cache is not kept.
    if (ctx.stopping?.aborted) return report;
    // A run that failed as a whole (a bucket that is not there) leaves no empty folder it made behind.
    if (firstMade !== undefined) await removeEmptyFolders(plan.localRoot, firstMade);
    throw error;
  } finally {
    await guard.close();
    await cache.close(committed);
  }
  return report;
}

/** `folder` and the folders above it up to `top`, each removed while it is empty (rmdir removes nothing else). */
async function removeEmptyFolders(folder: string, top: string): Promise<void> {
  for (let path = folder; ; path = dirname(path)) {
    if (!(await rmdir(path).then(() => true, () => false)) || path === top || dirname(path) === path) return;
  }
}

async function* emptyListing<T>(): AsyncGenerator<T> {
  // nothing on this side yet
}

export function describeSyncTarget(plan: Pick<SyncPlan, 'direction' | 'localRoot' | 'remote'>): string {
  const remote = formatS3Url(plan.remote);
  return plan.direction === 'upload' ? `${plan.localRoot} → ${remote}` : `${remote} → ${plan.localRoot}`;
}
