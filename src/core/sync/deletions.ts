/**
 * A sync's deletions (--delete): the names only on the destination, after every transfer, data files
 * before Delta log entries; a local file only once a HEAD confirms its object is gone, remote objects
 * a thousand to a request (transfer/delete-objects.ts, as rm deletes them).
 */
import { unlink } from 'node:fs/promises';
import { joinKey } from '../config/address.js';
import { describeError } from '../errors.js';
import type { TransferContext } from '../s3/context.js';
import { findObject } from '../s3/objects.js';
import { DELETE_BATCH, deleteObjects } from '../transfer/delete-objects.js';
import { DestinationGuard } from '../transfer/destination-guard.js';
import type { LocalFile } from '../transfer/local-tree.js';
import type { RemoteFile } from './compare.js';
import { deltaTableRootOf } from './delta.js';
import type { Step, SyncAction, SyncPlan, SyncReport } from './plan.js';

/**
 * The names only on the destination, deleted last (with --delete): none when a transfer failed, and
 * none beyond --max-delete; each one reported.
 */
export async function deleteExtraneous(ctx: TransferContext, plan: SyncPlan, extraneous: Step[], report: SyncReport, onAction: (action: SyncAction) => void): Promise<void> {
  if (!plan.deleteExtraneous || extraneous.length === 0) return;
  if (report.failed > 0) {
    report.errors.push({ name: '(deletions)', error: `${extraneous.length} deletion${extraneous.length === 1 ? '' : 's'} skipped because ${report.failed} ${report.failed === 1 ? 'item' : 'items'} failed` });
  } else if (plan.maxDelete !== undefined && extraneous.length > plan.maxDelete) {
    report.failed += 1;
    report.errors.push({ name: '(deletions)', error: `refusing to delete ${extraneous.length} files: more than --max-delete ${plan.maxDelete}` });
  } else {
    await deleteNames(ctx, plan, extraneous, report, onAction);
  }
}

async function deleteNames(ctx: TransferContext, plan: SyncPlan, extraneous: Step[], report: SyncReport, onAction: (action: SyncAction) => void): Promise<void> {
  // Data files before Delta log entries, the reverse of how they were written.
  const ordered = [...extraneous].sort((a, b) => Number(deltaTableRootOf(a.name) !== undefined) - Number(deltaTableRootOf(b.name) !== undefined));
  if (plan.direction === 'download') {
    // A local file is deleted only once a HEAD of its key confirms there is no such object: one
    // flipped letter in a listing (a name that stays under the prefix, or that a filter then hides)
    // would otherwise read as "only on the destination".
    const guard = new DestinationGuard(plan.localRoot);
    try {
      await deleteLocalNames(plan, ordered, guard, report, onAction, await confirmedGone(ctx, plan, ordered));
    } finally {
      await guard.close();
    }
    return;
  }
  for (let i = 0; i < ordered.length; i += DELETE_BATCH) {
    const batch = ordered.slice(i, i + DELETE_BATCH).map((step) => step.destination as RemoteFile);
    const action = (remote: RemoteFile): SyncAction => ({ action: 'delete', name: remote.name, reason: 'only on destination', key: remote.ref.key, path: '', size: remote.size, status: 'planned' });
    if (plan.dryRun) {
      for (const remote of batch) {
        report.deleted += 1;
        onAction(action(remote));
      }
      continue;
    }
    const byKey = new Map(batch.map((remote) => [remote.ref.key, remote]));
    await deleteObjects(
      ctx,
      plan.remote.bucket,
      batch.map((remote) => ({ key: remote.ref.key })),
      {
        removed(entry) {
          report.deleted += 1;
          onAction({ ...action(byKey.get(entry.key)!), status: 'done' });
        },
        failed(entry) {
          const remote = byKey.get(entry.key)!;
          report.failed += 1;
          report.errors.push({ name: remote.name, error: entry.error });
          onAction({ ...action(remote), status: 'failed', error: entry.error });
        },
      },
    );
  }
}

/**
 * Whether each name's key is confirmed gone by a HEAD: a local file is deleted only then. One flipped
 * letter in a listing (a name that stays under the prefix, or that a filter then hides) would
 * otherwise read as "only on the destination".
 */
function confirmedGone(ctx: TransferContext, plan: SyncPlan, ordered: Step[]): Promise<boolean[]> {
  if (plan.dryRun) return Promise.resolve(ordered.map(() => true));
  return Promise.all(ordered.map((step) => findObject(ctx, { bucket: plan.remote.bucket, key: joinKey(plan.remote.key, step.name) }, 'data').then((found) => !found)));
}

/**
 * Deletes the local files a download's --delete found only on the destination, each through its
 * folder held open and found again at its path (DestinationGuard.within): never an unlink through a
 * folder swapped for a link. A file already gone is not a failure.
 */
async function deleteLocalNames(plan: SyncPlan, ordered: Step[], guard: DestinationGuard, report: SyncReport, onAction: (action: SyncAction) => void, confirmed: boolean[]): Promise<void> {
  for (const [index, step] of ordered.entries()) {
    const local = step.destination as LocalFile;
    const action: SyncAction = { action: 'delete', name: step.name, reason: 'only on destination', key: joinKey(plan.remote.key, step.name), path: local.path, size: local.size, status: 'planned' };
    const fail = (error: string) => {
      report.failed += 1;
      report.errors.push({ name: step.name, error });
      onAction({ ...action, status: 'failed', error });
    };
    if (!confirmed[index]) {
      fail('the listing did not name it, yet the object exists (a damaged listing?): not deleted');
      continue;
    }
    // The look at the folders on the way is made by a dry run too (it only reads): a file reached
    // through a symbolic link (a followed one) is refused there as in the run, never planned.
    const refused = await guard
      .check(local.path, { fresh: true })
      .then(() =>
        plan.dryRun
          ? undefined
          : guard.within(local.path, (reachable) =>
              unlink(reachable).catch((error: NodeJS.ErrnoException) => {
                // The file itself already gone (its folder is there): nothing left to delete.
                if (error.code !== 'ENOENT') throw error;
              }),
            ),
      )
      .then(
        () => undefined,
        (error: unknown) => describeError(error),
      );
    if (refused) {
      fail(refused);
      continue;
    }
    report.deleted += 1;
    onAction({ ...action, status: plan.dryRun ? 'planned' : 'done' });
  }
}
