/**
 * One name of a sync, paired by the march: decided (new, size, content) and transferred, skipped, held
 * back or planned, and reported; a failure is recorded or ends the run (transfer/item-failure.ts).
 */
import { stat } from 'node:fs/promises';
import { joinKey, validateNewKey } from '../config/address.js';
import { describeError } from '../errors.js';
import type { TransferContext } from '../s3/context.js';
import { downloadToFile } from '../transfer/download.js';
import { localPathFor } from '../transfer/get-plan.js';
import { DestinationGuard } from '../transfer/destination-guard.js';
import { failureToRecord } from '../transfer/item-failure.js';
import type { LocalFile } from '../transfer/local-tree.js';
import { guessContentType } from '../transfer/put-plan.js';
import { uploadFile } from '../transfer/upload.js';
import { compareContent, type Reason, type RemoteFile } from './compare.js';
import type { CachedHash } from './hash-cache.js';
import { localSide, remoteSide, safeLocalPath, type Step, type SyncAction, type SyncPlan, type SyncReport } from './plan.js';

/**
 * One name the march paired. Only on the destination: kept in `extraneous` for deletions.ts. Else
 * new, of another size, or (unless --size-only) of other content: transferred (or, with --dry-run,
 * planned; or, for a held-back log entry, failed with why); the same: skipped. Returns what the hash
 * cache keeps for the name.
 */
export async function handleStep(
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
    // The checks a transfer makes of its name before any request, made before the dry run stops
    // here: a dry run fails what the run would.
    const destination = plan.direction === 'upload' ? newKey(key) : localPathFor(plan.localRoot, plan.remote.key, (step.source as RemoteFile).ref.key);
    if (plan.dryRun) {
      // The look a download takes first (downloadOne), which only reads: a folder on the way that is a
      // symbolic link fails the dry run as it fails the run.
      if (plan.direction === 'download') await guard.check(destination);
      report.transferred += 1;
      report.bytes += size;
      onAction({ ...base, action, reason, status: 'planned' });
      return entry;
    }
    const transferred = plan.direction === 'upload' ? await uploadOne(ctx, plan, step.source as LocalFile, destination, entry) : await downloadOne(ctx, step.source as RemoteFile, destination, guard);
    report.transferred += 1;
    report.bytes += size;
    onAction({ ...base, path: transferred.path, action, reason, status: 'done' });
    return transferred.entry;
  } catch (error) {
    const message = describeError(failureToRecord(error, { stopping: ctx.stopping, bucket: plan.remote.bucket, limiter: ctx.limiter }));
    report.failed += 1;
    report.errors.push({ name: step.name, error: message });
    onAction({ ...base, action: plan.direction === 'upload' ? 'upload' : 'download', reason: step.destination ? 'content differs' : 'new', status: 'failed', error: message });
    return cached;
  }
}

/** A key a sync makes, refused as put refuses it (control characters, `..`, too long…). */
function newKey(key: string): string {
  validateNewKey(key);
  return key;
}

async function uploadOne(ctx: TransferContext, plan: SyncPlan, local: LocalFile, key: string, known: CachedHash | undefined) {
  const ref = { bucket: plan.remote.bucket, key };
  const uploaded = await uploadFile(ctx, local.path, ref, { ...plan.putOptions, contentType: plan.putOptions.contentType ?? guessContentType(local.path) }, { md5: known?.md5, stat: local });
  const entry: CachedHash = { name: local.name, size: local.size, mtimeMs: local.mtimeMs, ctimeMs: local.ctimeMs, ino: local.ino, md5: uploaded.md5, crc32: uploaded.crc32, etags: [uploaded.etag] };
  return { path: local.path, entry };
}

async function downloadOne(ctx: TransferContext, remote: RemoteFile, path: string, guard: DestinationGuard) {
  await guard.check(path);
  const downloaded = await downloadToFile(ctx, remote.ref, path, { sizeHint: remote.size, folder: guard });
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
