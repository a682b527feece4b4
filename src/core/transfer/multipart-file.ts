/**
 * A file in parts: the part size (parts.ts), the file read ahead where a whole-content MD5 or a
 * resume needs it, the upload recorded in the journal after each part so that a re-run resumes it
 * (upload-resume.ts), and each part read into a pooled buffer as its request slot comes.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { combineCrc32s, crc32ToBase64, md5OfFile, type PartHashes } from '../integrity/checksums.js';
import type { TransferContext } from '../s3/context.js';
import { ContentMismatch, DatalakeError, failure } from '../errors.js';
import { explainError } from '../s3/explain-error.js';
import { choosePartSize, splitIntoParts, type PartRange } from './parts.js';
import { errorCodeOf } from '../s3/retry.js';
import type { JournalEntry } from './upload-journal.js';
import { backgroundHasher } from '../integrity/background-hasher.js';
import { storageHeaders, versionOf, type PutOptions, type UploadedObject } from './put-options.js';
import { abortQuietly, completeMultipartUpload, createMultipartUpload, sendParts } from './multipart-upload.js';
import { findPendingUpload, resumeUpload, type FileIdentity } from './upload-resume.js';

export async function putMultipartFile(
  ctx: TransferContext,
  { path, readPath }: { path: string; readPath: string },
  file: FileIdentity,
  ref: ObjectRef,
  options: PutOptions,
  id: number,
  knownMd5: string | undefined,
): Promise<UploadedObject> {
  const absolutePath = resolve(path);
  const pending = await findPendingUpload(ctx, path, absolutePath, file, ref);
  const partSize = pending?.partSize ?? choosePartSize(file.size, ctx.partSize);
  const parts = splitIntoParts(file.size, partSize);
  // Each part's MD5 and CRC32 are computed as it is sent, so the first part leaves at once. Two
  // cases read the file ahead: --md5-metadata (the whole-content MD5 must be in the metadata
  // CreateMultipartUpload carries; a sync that just hashed the file passes it in), and a resume,
  // which reuses what the server holds only where this reading proves it (never on the journal's word).
  const wantsWholeMd5 = options.md5Metadata === true || pending?.md5 !== undefined;
  let wholeMd5 = wantsWholeMd5 && !pending ? knownMd5 : undefined;
  let partHashes: PartHashes[] | undefined;
  if ((wantsWholeMd5 && wholeMd5 === undefined) || pending) {
    // Both cores: the whole-file MD5 here, the part hashes on the hashing thread, each reading the file.
    ctx.events.emit('transfer:phase', { id, phase: 'checksumming' });
    const [whole, hashes] = await Promise.all([
      wantsWholeMd5 && wholeMd5 === undefined ? md5OfFile(readPath) : undefined,
      pending ? backgroundHasher.partHashes(readPath, file.size, partSize) : undefined,
    ]).finally(() => ctx.events.emit('transfer:phase', { id, phase: 'sending' }));
    if (whole) wholeMd5 = whole.toString('hex');
    partHashes = hashes;
  }
  const resumption = pending && partHashes ? await resumeUpload(ctx, path, ref, pending, wholeMd5, partHashes) : undefined;
  if (resumption && 'completed' in resumption) {
    const answer = resumption.completed;
    const crc32 = crc32ToBase64(combineCrc32s(parts.map((part, index) => ({ crc32: partHashes![index]!.crc32, size: part.end - part.start }))));
    return { bucket: ref.bucket, key: ref.key, size: file.size, etag: answer.etag, crc32, ...md5Field(wholeMd5), parts: parts.length, partsReused: parts.length, ...versionOf(answer) };
  }
  const resumed = resumption?.upload;
  const upload = resumed ?? (await createMultipartUpload(ctx, ref, storageHeaders(options, wholeMd5)));
  const reused = resumed?.reused ?? [];
  const entry: JournalEntry = {
    bucket: ref.bucket,
    key: ref.key,
    path: absolutePath,
    uploadId: upload.uploadId,
    partSize,
    size: file.size,
    mtimeMs: file.mtimeMs,
    ino: file.ino,
    ...(wholeMd5 !== undefined ? { md5: wholeMd5 } : {}),
    fullObjectCrc32: true,
    partCrc32s: Object.fromEntries(reused.map((part) => [String(part.partNumber), crc32ToBase64(part.crc32)])),
    etagReflectsContent: upload.etagReflectsContent,
    partsDone: reused.length,
    startedAt: resumed?.startedAt ?? new Date().toISOString(),
  };
  try {
    await ctx.journal?.record(entry);
  } catch (error) {
    // Unrecorded, a new upload could never be resumed nor found by a re-run: it is aborted now. A
    // resumed one keeps its parts, and its last record.
    if (!resumed) await abortQuietly(ctx, ref, upload.uploadId);
    throw journalWriteError(ctx, error);
  }
  const reusedNumbers = new Set(reused.map((part) => part.partNumber));
  const reusedBytes = parts.filter((part) => reusedNumbers.has(part.partNumber)).reduce((sum, part) => sum + part.end - part.start, 0);
  if (reusedBytes > 0) ctx.events.emit('transfer:progress', { id, bytes: reusedBytes });

  const handle = await open(readPath, 'r');
  try {
    const sent = await sendParts(
      ctx,
      ref,
      upload.uploadId,
      parts.filter((part) => !reusedNumbers.has(part.partNumber)),
      (part, buffer) => readRange(handle, buffer, part),
      id,
      (part) => partHashes?.[part.partNumber - 1],
      (part) => {
        entry.partsDone += 1;
        entry.partCrc32s![String(part.partNumber)] = crc32ToBase64(part.crc32);
        return ctx.journal?.record(entry).catch((error: unknown) => {
          throw journalWriteError(ctx, error);
        });
      },
    );
    const answer = await completeMultipartUpload(ctx, ref, upload.uploadId, [...reused, ...sent], { checkEtag: upload.etagReflectsContent, size: file.size, md5: wholeMd5, ifNoneMatch: options.ifNoneMatch });
    await ctx.journal?.remove(entry);
    return {
      bucket: ref.bucket,
      key: ref.key,
      size: file.size,
      etag: answer.etag,
      crc32: answer.crc32,
      ...md5Field(wholeMd5),
      parts: parts.length,
      ...(reused.length > 0 ? { partsReused: reused.length } : {}),
      ...versionOf(answer),
    };
  } catch (error) {
    // A key taken by another writer (If-None-Match) leaves nothing to resume: the upload was aborted.
    if (!ctx.journal || error instanceof ContentMismatch || errorCodeOf(error) === 'PreconditionFailed') {
      await abortQuietly(ctx, ref, upload.uploadId);
      await ctx.journal?.remove(entry);
    } else {
      // Interrupted, or out of retries: the parts sent stay on the server and the journal keeps the
      // upload, so running the same command again sends only what is missing.
      ctx.events.emit('warning', {
        message: `${formatS3Url(ref)}: ${entry.partsDone} of ${parts.length} parts are on the server; run the same command again to resume (or \`datalake uploads abort\` to discard them)`,
        ref,
      });
    }
    throw error;
  } finally {
    await handle.close();
  }
}

function md5Field(md5: string | undefined): { md5?: string } {
  return md5 === undefined ? {} : { md5 };
}

async function readRange(file: FileHandle, buffer: Buffer, part: PartRange): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await file.read(buffer, offset, buffer.length - offset, part.start + offset);
    if (bytesRead === 0) throw failure(`file ended before byte ${part.end}: it shrank while being uploaded`);
    offset += bytesRead;
  }
}

/** A journal that cannot be written, named as the state directory's: a full state disk is not the data's disk. */
export function journalWriteError(ctx: TransferContext, error: unknown): DatalakeError {
  const explained = explainError(error);
  return failure(`cannot record the upload in the state directory ${ctx.journal?.directory ?? ''}: ${explained.message}`, {
    hint: 'free some space there, or set DATALAKE_STATE_DIR to another folder, and run the command again',
    cause: error,
  });
}
