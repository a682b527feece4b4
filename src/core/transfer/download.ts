/**
 * Download one object to a file: the entry point of a get (downloadToStream, for standard output, is
 * in download-stream.ts and re-exported here). The bytes go to a temporary file beside the target
 * (its name from temporary-names.ts; the fixed one taken, only when provably ours, by
 * download-claim.ts), are proven, and only then renamed into place. A small object is received whole
 * into memory (here); a larger one by one whole GET (download-whole.ts) or ranged parts
 * (download-ranges.ts), resumable through the record of range-progress.ts. What the bytes are
 * checked against is download-proof.ts.
 */
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ObjectRef } from '../config/address.js';
import { md5Of } from '../integrity/checksums.js';
import { contentProofOf } from '../integrity/content-proof.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { ContentMismatch, describeError, failure, TargetExists } from '../errors.js';
import { headFromHeaders, headObject, missingAsFailure, type ObjectHead } from '../s3/objects.js';
import { errorCodeOf } from '../s3/retry.js';
import { privateTemporaryPath, removeLeftoversOfGoneRuns } from './temporary-names.js';
import { openDownloadFile } from './download-claim.js';
import { moveIntoPlace, removeOnExit, removeOwnName, writeNewFile } from './exclusive-files.js';
import { checkProof, fetchAgainOnMismatch, hashFields, isPartProof, ReceivedCrcs, type DownloadedObject, type ReceivedHashes } from './download-proof.js';
import { bodyEndedEarly } from './download-segments.js';
import { fetchIntoFile } from './download-ranges.js';
import { fetchWholeIntoFile } from './download-whole.js';

export type { DownloadedObject } from './download-proof.js';
export { downloadToStream } from './download-stream.js';

/**
 * Download one object to a file. The bytes go to a temporary file beside the target, are checked
 * against the stored MD5 or the ETag, flushed, and only then renamed into place: the target path
 * never holds a partial or corrupt file. Large objects are fetched as parallel ranges.
 */
export async function downloadToFile(
  ctx: TransferContext,
  ref: ObjectRef,
  target: string,
  options: {
    sizeHint?: number;
    /**
     * How the target's folder is made and reached (DestinationGuard.reach for a download under a
     * destination root: every name beside the target — temporary file, record, lock — made through
     * the folder held open, and the folder found again at its path before the rename). By default the
     * folder is made by its path and the names are used as they are.
     */
    folder?: TargetFolder;
    /** `--no-clobber`: a file that appears at the target during the download is left alone (TargetExists). */
    noClobber?: boolean;
  } = {},
): Promise<DownloadedObject> {
  const id = ctx.events.newTransferId();
  let announced = false;
  const folder = options.folder ?? byPath;
  const noReplace = options.noClobber === true;
  if (options.sizeHint !== undefined && options.sizeHint <= IN_MEMORY_DOWNLOAD_MAX) {
    const downloaded = await downloadInMemory(ctx, ref, target, id, options.sizeHint, folder, noReplace);
    if (downloaded) return downloaded;
    // Not what the listing promised: HEAD it and take the general path.
    announced = true;
    options = { folder, noClobber: noReplace };
  }
  try {
    // A small object (size known from a listing) is fetched in one GET, whose headers tell all HEAD would.
    const small = options.sizeHint !== undefined && options.sizeHint <= ctx.partSize;
    const head = small ? undefined : await headObject(ctx, ref);
    if (!announced) ctx.events.emit('transfer:start', { id, direction: 'download', ref, path: target, size: head?.size ?? options.sizeHint });
    return await folder.reach(target, (at, confirmFolder) => downloadBeside(ctx, ref, target, at, confirmFolder, id, head, noReplace));
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref, path: target, error });
    throw error;
  }
}

/**
 * The general path of downloadToFile, with `at` the target reached through its folder: every name
 * of the download's work beside it (`at`'s folder) and the rename into place go through `at`.
 */
async function downloadBeside(ctx: TransferContext, ref: ObjectRef, target: string, at: string, confirmFolder: () => Promise<void>, id: number, head: ObjectHead | undefined, noReplace: boolean): Promise<DownloadedObject> {
  warnOfLeftovers(ctx, ref, await removeLeftoversOfGoneRuns(target, at));
  // A ranged download writes at a fixed name beside the target, so that a run killed half-way is
  // found again and resumed, unless another live run holds it or a file there is not provably ours.
  const claim = await openDownloadFile(at, head ? { head, chunk: ctx.partSize } : undefined);
  for (const name of claim.notOurs) {
    ctx.events.emit('warning', { message: `${join(dirname(target), name)} is not a file datalake can prove it made, so it is left as it is; ${target} is downloaded under a name of its own (not resumable while that file is there)`, ref });
  }
  const { path: temporary, file, progress } = claim;
  try {
    let outcome: 'renamed' | 'keep' | 'discard' = 'discard';
    // Not put in place: its folder moved or replaced during the download (what is in it now is not where
    // a re-run looks), or a folder at the target. Nothing is kept to resume.
    let placementRefused = false;
    try {
      const downloaded = await fetchAgainOnMismatch(
        ctx,
        ref,
        () => (head ? fetchIntoFile(ctx, head, file, temporary, id, progress) : fetchWholeIntoFile(ctx, ref, file, temporary, id)),
        async () => {
          ctx.events.emit('transfer:progress', { id, bytes: -(head?.size ?? 0) });
          await progress?.reset();
          await file.truncate(0);
        },
      );
      // Large files are flushed to disk before the rename. Small ones are not: an fsync each would
      // make the disk, not the network, the pace of a run of small files, and the rename already
      // keeps a crashed process from leaving a partial file at the target (none of aws, s5cmd or
      // rclone fsync at all).
      if (downloaded.size > ctx.partSize) await file.datasync();
      await file.close();
      await confirmFolder().catch((error: unknown) => {
        placementRefused = true;
        throw error;
      });
      await moveIntoPlace(temporary, at, { noReplace }).catch((error: unknown) => {
        placementRefused = true;
        throw error;
      });
      outcome = 'renamed';
      // The download is in place and proven: a record that cannot be removed is a warning, not a failure.
      await progress?.discard().catch((error: unknown) => ctx.events.emit('warning', { message: describeError(error), ref }));
      const result = { ...downloaded, path: target };
      ctx.events.emit('transfer:done', { id, ref, path: target, size: downloaded.size, result });
      return result;
    } catch (error) {
      // Interrupted, or out of retries mid-way: keep what arrived for the next run to resume. A proof
      // that failed, a changed object, or a disk that takes no more (the space is given back) leaves nothing.
      const code = errorCodeOf(error) ?? '';
      const resumeLater = !placementRefused && (progress?.hasRanges() ?? false) && !(error instanceof ContentMismatch) && !(error instanceof TargetExists) && code !== 'PreconditionFailed' && !LOCAL_WRITE_FAILURES.has(code);
      outcome = resumeLater ? 'keep' : 'discard';
      throw error;
    } finally {
      if (outcome !== 'renamed') {
        await file.close().catch(() => undefined);
        if (outcome === 'discard') {
          // The file before its record (download-claim.ts). The reason the download failed is what is
          // reported, not what could not be cleared after it.
          await removeOwnName(temporary).catch(() => undefined);
          await progress?.discard().catch(() => undefined);
        }
      }
    }
  } finally {
    claim.forget();
    await claim.release();
  }
}

/**
 * How a download reaches its target's folder: `reach` makes the folder, then runs `work` with a path
 * to the target through it and a `confirm` to call just before the rename into place.
 */
export interface TargetFolder {
  reach<T>(target: string, work: (at: string, confirm: () => Promise<void>) => Promise<T>): Promise<T>;
}

/** The folder made and used by its path (a download to one file the user named). */
const byPath: TargetFolder = {
  async reach(target, work) {
    await ensureDirectory(dirname(target));
    return work(target, async () => undefined);
  },
};

/** Leftovers of gone runs that could not be removed (a folder planted at such a name): one line each. */
function warnOfLeftovers(ctx: TransferContext, ref: ObjectRef, stuck: string[]): void {
  for (const message of stuck) ctx.events.emit('warning', { message, ref });
}

/** A file system that takes no more: what a download had written is removed, not kept to resume. */
const LOCAL_WRITE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO']);

/**
 * Objects up to this size are received into memory, proven, and only then written to disk. At the
 * default concurrency that is at most 32 MiB in flight.
 */
const IN_MEMORY_DOWNLOAD_MAX = 1024 * 1024;

/**
 * A small object (the size known from a listing): one GET into memory, checked against its MD5, then
 * written to a temporary file of its own and renamed into place. Nothing reaches the disk unless it
 * verified. Returns undefined when the object turns out to need the general path (larger
 * than the listing said, or a multipart ETag to prove part by part).
 */
async function downloadInMemory(
  ctx: TransferContext,
  ref: ObjectRef,
  target: string,
  id: number,
  size: number,
  folder: TargetFolder,
  noReplace: boolean,
): Promise<DownloadedObject | undefined> {
  ctx.events.emit('transfer:start', { id, direction: 'download', ref, path: target, size });
  try {
    let counted = 0;
    const proven = await fetchAgainOnMismatch(
      ctx,
      ref,
      async () => {
        const fetched = await dataRequest(ctx, `GET ${ref.key}`, async () => {
          // Read whole, without a stream: a body over the limit (the object grew since it was listed)
          // is cut there and read to its end, and the general path takes over.
          const response = await ctx.direct.getWholeObject(ref, IN_MEMORY_DOWNLOAD_MAX, ctx.signal).catch(missingAsFailure(ref));
          const head = headFromHeaders(ref, response.headers);
          const proof = contentProofOf(head);
          if (head.size > IN_MEMORY_DOWNLOAD_MAX || isPartProof(proof)) return undefined;
          if (response.body.length !== head.size) throw bodyEndedEarly(ref, response.body.length, head.size);
          ctx.events.emit('transfer:progress', { id, bytes: head.size });
          counted = head.size;
          return { head, proof, content: response.body };
        });
        if (!fetched) return undefined;
        const { head, proof, content } = fetched;
        const crcs = ReceivedCrcs.for(proof);
        crcs.update(content);
        const received: ReceivedHashes = { crc32: crcs.crc32, crc32c: crcs.crc32c, md5: proof.kind === 'md5' ? md5Of(content).toString('hex') : undefined, partMd5s: [] };
        return { head, content, received, verifiedBy: checkProof(head, proof, received) };
      },
      () => ctx.events.emit('transfer:progress', { id, bytes: -counted }),
    );
    if (!proven) return undefined;
    const { head, content, received, verifiedBy } = proven;
    // Written on the thread pool, not here: creating a file can keep the kernel busy (ext4 steps over
    // inodes freed moments ago, as after a cleanup), time the next requests go on in.
    await folder.reach(target, async (at, confirmFolder) => {
      warnOfLeftovers(ctx, ref, await removeLeftoversOfGoneRuns(target, at));
      const temporary = privateTemporaryPath(at);
      const forgetTemporary = removeOnExit(temporary);
      try {
        await writeNewFile(temporary, content).catch(async (error: NodeJS.ErrnoException) => {
          // Our pid's name already there: left by a process that had this pid before.
          if (error.code !== 'EEXIST') throw error;
          await rm(temporary, { force: true });
          await writeNewFile(temporary, content);
        });
        await confirmFolder();
        await moveIntoPlace(temporary, at, { noReplace });
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      } finally {
        forgetTemporary();
      }
    });
    const result = { bucket: ref.bucket, key: ref.key, size: head.size, etag: head.etag, ...hashFields(received), verifiedBy, path: target };
    ctx.events.emit('transfer:done', { id, ref, path: target, size: head.size, result });
    return result;
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref, path: target, error });
    throw error;
  }
}

/** Folders made (or found) during this run: a tree of thousands of files needs each made once. */
const madeDirectories = new Set<string>();

async function ensureDirectory(path: string): Promise<void> {
  if (madeDirectories.has(path)) return;
  await mkdir(path, { recursive: true }).catch((error: unknown) => {
    // A file where a folder of the path must be: said as such, not as mkdir's raw EEXIST/ENOTDIR.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw failure(`cannot write under ${path}: a part of that path is a file, not a directory`);
    throw error;
  });
  madeDirectories.add(path);
}
