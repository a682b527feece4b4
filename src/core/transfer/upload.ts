/**
 * transfer/: moving one object, or a planned list of them, between a file (or stream) and S3.
 * Upload: this file (uploadFile, uploadBytes), single-put.ts, multipart-file.ts, upload-resume.ts,
 * upload-stream.ts, metadata-rewrite.ts, all multipart through multipart-upload.ts. Download:
 * download.ts (the temporary file and placing), download-whole.ts, download-ranges.ts,
 * download-segments.ts, download-writes.ts, range-progress.ts, download-stream.ts, download-proof.ts.
 * Copy (copy.ts, copy-requests.ts, copy-proof.ts), remove, stat; their plans (put-plan, get-plan,
 * copy-plan), the one walk of a local tree (local-tree.ts), part sizes (parts.ts), the multipart
 * journal, temporary download names, exclusive files and locks, buffers, whether one item's failure
 * ends a run (item-failure.ts); what asks the server to prove a write or a multipart object's part
 * sizes (upload-proof.ts, part-layout.ts). Imports s3/, integrity/, config/, errors.ts, events.ts.
 */
import { stat } from 'node:fs/promises';
import type { ObjectRef } from '../config/address.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { failure } from '../errors.js';
import { openListedFile, type ListedFile, type ListedIdentity } from './listed-file.js';
import type { PutOptions, UploadedObject } from './put-options.js';
import { removeWritten } from './upload-proof.js';
import { putBuffer, putSmallFile } from './single-put.js';
import { putMultipartFile } from './multipart-file.js';
import type { FileIdentity } from './upload-resume.js';

export type { UploadedObject } from './put-options.js';
export type { FileIdentity } from './upload-resume.js';
export { readFixedChunks, uploadStream } from './upload-stream.js';

/** Upload one local file to one key: a single PUT up to one part size, multipart above it. */
export async function uploadFile(
  ctx: TransferContext,
  path: string,
  ref: ObjectRef,
  options: PutOptions = {},
  known: { md5?: string | undefined; stat?: (FileIdentity & ListedIdentity) | undefined } = {},
): Promise<UploadedObject> {
  const id = ctx.events.newTransferId();
  let listed: ListedFile | undefined;
  try {
    // A file a walk listed is read only if it still is that file, and then through its descriptor.
    listed = known.stat?.ino ? openListedFile(path, known.stat) : undefined;
    const readPath = listed?.readPath ?? path;
    const before = known.stat ?? (await stat(path));
    ctx.events.emit('transfer:start', { id, direction: 'upload', ref, path, size: before.size });
    let uploaded: UploadedObject;
    if (before.size <= ctx.partSize) {
      // One read, one PUT: what was hashed is exactly what was sent, so no check for later changes.
      uploaded = await putSmallFile(ctx, listed ?? { path: readPath }, ref, options, id);
    } else {
      uploaded = await putMultipartFile(ctx, { path, readPath }, before, ref, options, id, known.md5);
      // Parts are read at different times: a file that changed meanwhile could mix two versions.
      const after = await stat(readPath);
      if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
        const removal = await removeWritten(ctx, ref, { etag: uploaded.etag, versionId: uploaded.versionId });
        throw failure(`${path} changed while it was being uploaded; ${removal}`, { hint: 'run the upload again once the file is complete' });
      }
    }
    ctx.events.emit('transfer:done', {
      id,
      ref,
      path,
      size: uploaded.size,
      ...(uploaded.partsReused ? { partsReused: uploaded.partsReused } : {}),
      result: { ...uploaded, path, contentType: options.contentType ?? null },
    });
    return uploaded;
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref, path, error });
    throw error;
  } finally {
    listed?.close();
  }
}

/**
 * Bytes held in memory as one PUT, with a small file's proofs, retried by the policy (a Delta
 * commit). With `ifNoneMatch` a retry after a lost answer can meet its own write as a 412: the
 * caller reads the object back to tell.
 */
export function uploadBytes(ctx: TransferContext, body: Buffer, ref: ObjectRef, options: PutOptions = {}): Promise<UploadedObject> {
  return dataRequest(ctx, `PUT ${ref.key}`, () => putBuffer(ctx, body, ref, options));
}
