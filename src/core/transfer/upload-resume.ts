/**
 * Resuming an interrupted multipart upload of a file from the journal: found only for the same file
 * (size, mtime, inode, and its whole-content MD5 where one was kept), each part on the server reused
 * only where the file as read now proves it; an upload gone from the server may have been completed.
 */
import { sdk } from '../s3/sdk.js';
import type { ObjectRef } from '../config/address.js';
import { combineCrc32s, crc32ToBase64, multipartEtag, normalizeEtag, type PartHashes } from '../integrity/checksums.js';
import { controlRequest, type TransferContext } from '../s3/context.js';
import { splitIntoParts } from './parts.js';
import { errorCodeOf } from '../s3/retry.js';
import { sameFile, type JournalEntry } from './upload-journal.js';
import { findExpected, type WriteAnswer } from './upload-proof.js';
import { abortQuietly, type SentPart, type StartedUpload } from './multipart-upload.js';

/** What identifies a file across runs: if any of these changed, parts already sent are not trusted. */
export interface FileIdentity {
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface ResumableUpload extends StartedUpload {
  reused: SentPart[];
  startedAt: string;
}

/** What a pending upload turns out to be: one to carry on with, or one already completed. */
export type Resumption = { upload: ResumableUpload } | { completed: WriteAnswer };

/**
 * The journal's interrupted upload of this same file to this key, if there is one and the file still
 * has the identity it had (size, mtime, inode). A file whose identity changed gets its stale upload
 * aborted, and starts over.
 */
export async function findPendingUpload(ctx: TransferContext, path: string, absolutePath: string, file: FileIdentity, ref: ObjectRef): Promise<JournalEntry | undefined> {
  const entry = await ctx.journal?.find({ bucket: ref.bucket, key: ref.key, path: absolutePath });
  if (!entry || !ctx.journal) return undefined;
  if (sameFile(entry, file) && entry.fullObjectCrc32) return entry;
  await abortQuietly(ctx, ref, entry.uploadId);
  await ctx.journal.remove(entry);
  const why = entry.fullObjectCrc32 ? 'changed since its upload was interrupted' : 'has an interrupted upload begun without a full-object CRC32';
  ctx.events.emit('warning', { message: `${path} ${why}: starting over`, ref });
  return undefined;
}

/**
 * Resumes the pending upload if the file, as this run has just read it, is still what it was. With
 * a whole-content MD5 in the upload's metadata (--md5-metadata), that MD5 must be the same, for
 * identity can be restored by hand (an in-place edit, then the old mtime set back). Each part already
 * on the server is reused only if its size and ETag match the MD5 of that range as read now, and its
 * CRC32 (as the journal recorded it, and as the server lists it) the CRC32 read now; the others are
 * sent again. A file whose content changed gets its stale upload aborted, and starts over. An upload
 * gone from the server may have been completed by a run whose answer was lost: if the object holds
 * exactly this file, it is.
 */
export async function resumeUpload(
  ctx: TransferContext,
  path: string,
  ref: ObjectRef,
  entry: JournalEntry,
  wholeMd5: string | undefined,
  partHashes: readonly PartHashes[],
): Promise<Resumption | undefined> {
  if (!ctx.journal) return undefined;
  if (entry.md5 !== undefined && entry.md5 !== wholeMd5) {
    await abortQuietly(ctx, ref, entry.uploadId);
    await ctx.journal.remove(entry);
    ctx.events.emit('warning', { message: `${path} changed since its upload was interrupted (its content, though not its size or time): starting over`, ref });
    return undefined;
  }
  const ranges = splitIntoParts(entry.size, entry.partSize);
  let listed: ListedPart[];
  try {
    listed = await listUploadedParts(ctx, ref, entry.uploadId);
  } catch (error) {
    if (errorCodeOf(error) !== 'NoSuchUpload') throw error;
    await ctx.journal.remove(entry); // completed, or aborted elsewhere
    const crc32 = crc32ToBase64(combineCrc32s(ranges.map((range, index) => ({ crc32: partHashes[index]!.crc32, size: range.end - range.start }))));
    const expected = { size: entry.size, etags: entry.etagReflectsContent ? [multipartEtag(partHashes.map((part) => part.md5))] : [], md5: wholeMd5, crc32 };
    // No look possible: starting over is safe, only slower.
    const completed = await findExpected(ctx, ref, expected).catch(() => undefined);
    return completed ? { completed } : undefined;
  }
  const reused: SentPart[] = [];
  for (const part of listed) {
    const range = ranges[part.partNumber - 1];
    const hashes = partHashes[part.partNumber - 1];
    if (!range || !hashes || part.size !== range.end - range.start || !entry.etagReflectsContent) continue;
    const crc32 = crc32ToBase64(hashes.crc32);
    const recorded = entry.partCrc32s?.[String(part.partNumber)];
    if ((recorded !== undefined && recorded !== crc32) || (part.crc32 !== undefined && part.crc32 !== crc32)) continue;
    if (hashes.md5.toString('hex') === part.etag) reused.push({ partNumber: part.partNumber, etag: part.etag, md5: hashes.md5, crc32: hashes.crc32, size: part.size });
  }
  ctx.events.emit('debug', { message: 'resuming upload', key: ref.key, uploadId: entry.uploadId, partsOnServer: listed.length, partsReused: reused.length });
  return { upload: { uploadId: entry.uploadId, etagReflectsContent: entry.etagReflectsContent, reused, startedAt: entry.startedAt } };
}

interface ListedPart {
  partNumber: number;
  etag: string;
  size: number;
  /** The part's CRC32 as the server lists it, where it keeps one. */
  crc32: string | undefined;
}

async function listUploadedParts(ctx: TransferContext, ref: ObjectRef, uploadId: string): Promise<ListedPart[]> {
  const parts: ListedPart[] = [];
  let marker: string | undefined;
  do {
    const from = marker;
    const page = await controlRequest(ctx, `ListParts ${ref.key}`, async () =>
      ctx.client.send(new (await sdk()).ListPartsCommand({ Bucket: ref.bucket, Key: ref.key, UploadId: uploadId, ...(from ? { PartNumberMarker: from } : {}) }), { abortSignal: ctx.signal }),
    );
    for (const part of page.Parts ?? []) parts.push({ partNumber: part.PartNumber ?? 0, etag: normalizeEtag(part.ETag) ?? '', size: part.Size ?? -1, crc32: part.ChecksumCRC32 });
    marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (marker);
  return parts;
}
