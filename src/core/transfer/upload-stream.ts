/**
 * Standard input to one object: read into part-sized buffers, one PUT if it fits in one part, else
 * parts sent as they are read (multipart-upload.ts), at most `concurrency` in flight. Its MD5 is
 * known only at the end: with --md5-metadata it is added afterwards (metadata-rewrite.ts).
 */
import type { Readable } from 'node:stream';
import type { ObjectRef } from '../config/address.js';
import { newMd5 } from '../integrity/checksums.js';
import { childAbort, dataRequest, settleAll, type TransferContext } from '../s3/context.js';
import { usageError } from '../errors.js';
import { MAX_PARTS } from './parts.js';
import { storageHeaders, versionOf, type PutOptions, type UploadedObject } from './put-options.js';
import { putBuffer } from './single-put.js';
import { abortQuietly, completeMultipartUpload, createMultipartUpload, sendPart, type SentPart } from './multipart-upload.js';
import { rewriteMetadata } from './metadata-rewrite.js';

/**
 * Upload a stream of unknown length (standard input): read into part-sized buffers with at most
 * `concurrency` of them in flight. Up to one part it is a single PUT. Above that the MD5 is only known
 * at the end, so it is added to the metadata afterwards by a server-side copy onto itself.
 */
export async function uploadStream(ctx: TransferContext, input: Readable, ref: ObjectRef, options: PutOptions = {}): Promise<UploadedObject> {
  const id = ctx.events.newTransferId();
  const path = '-';
  ctx.events.emit('transfer:start', { id, direction: 'upload', ref, path, size: undefined });
  try {
    const uploaded = await uploadChunks(ctx, readFixedChunks(input, ctx.partSize, (size) => ctx.buffers.acquire(size)), ref, options, id);
    ctx.events.emit('transfer:done', { id, ref, path, size: uploaded.size, result: { ...uploaded, path, contentType: options.contentType ?? null } });
    return uploaded;
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref, path, error });
    throw error;
  }
}

export async function uploadChunks(ctx: TransferContext, chunks: AsyncIterator<Buffer>, ref: ObjectRef, options: PutOptions, id: number): Promise<UploadedObject> {
  const first = await chunks.next();
  const firstChunk = first.done ? Buffer.alloc(0) : first.value;
  const second = first.done ? first : await chunks.next();
  if (second.done) {
    return dataRequest(ctx, `PUT ${ref.key}`, async () => {
      const uploaded = await putBuffer(ctx, firstChunk, ref, options);
      ctx.events.emit('transfer:progress', { id, bytes: firstChunk.length });
      return uploaded;
    });
  }

  const upload = await createMultipartUpload(ctx, ref, storageHeaders(options, undefined));
  const abort = childAbort(ctx.signal);
  // The whole-content MD5 is known only at the end: with --md5-metadata it is added by a copy then.
  const wholeMd5 = options.md5Metadata ? newMd5() : undefined;
  // Parts read ahead of their sending: at most a window of them (limiter.ts), each in a data slot.
  const window = ctx.limiter.partWindow();
  const sent: Promise<SentPart>[] = [];
  let size = 0;
  try {
    let partNumber = 0;
    const dispatch = (body: Buffer) => {
      partNumber += 1;
      if (partNumber > MAX_PARTS) {
        throw usageError(`standard input is over ${MAX_PARTS} parts of ${ctx.partSize} bytes`, 'pass a larger --part-size');
      }
      wholeMd5?.update(body);
      size += body.length;
      const number = partNumber;
      const promise = window
        .run(() => dataRequest(ctx, `UploadPart ${number} of ${ref.key}`, () => sendPart(ctx, ref, upload.uploadId, number, body, abort.signal), abort.signal))
        .then((part) => {
          ctx.events.emit('transfer:progress', { id, bytes: body.length });
          return part;
        })
        .finally(() => {
          if (body.buffer.byteLength === ctx.partSize) ctx.buffers.release(Buffer.from(body.buffer, body.byteOffset, ctx.partSize));
        });
      promise.catch((error: unknown) => abort.abort(error));
      sent.push(promise);
    };
    dispatch(firstChunk);
    dispatch(second.value);
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      dispatch(next.value);
      await window.room();
      if (abort.signal.aborted) break;
    }
    const parts = await settleAll(ctx, sent);
    const completed = await completeMultipartUpload(ctx, ref, upload.uploadId, parts, { checkEtag: upload.etagReflectsContent, size, ifNoneMatch: options.ifNoneMatch });
    if (!wholeMd5) return { bucket: ref.bucket, key: ref.key, size, etag: completed.etag, crc32: completed.crc32, parts: parts.length, ...versionOf(completed) };
    const md5 = wholeMd5.digest('hex');
    const rewritten = await rewriteMetadata(ctx, ref, { size, etag: completed.etag, parts }, options, md5);
    return { bucket: ref.bucket, key: ref.key, size, etag: rewritten.etag, crc32: completed.crc32, md5, parts: parts.length, ...versionOf(rewritten) };
  } catch (error) {
    await Promise.allSettled(sent);
    await abortQuietly(ctx, ref, upload.uploadId);
    throw abort.signal.aborted && ctx.signal?.aborted ? ctx.signal.reason : error;
  }
}

/** Re-chunks a byte stream into buffers of exactly `size` bytes (the last may be shorter). */
export async function* readFixedChunks(
  input: AsyncIterable<Buffer | string>,
  size: number,
  allocate: (size: number) => Buffer | Promise<Buffer> = Buffer.allocUnsafe,
): AsyncGenerator<Buffer> {
  let current = await allocate(size);
  let filled = 0;
  for await (const piece of input) {
    let chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    while (chunk.length > 0) {
      const take = Math.min(size - filled, chunk.length);
      chunk.copy(current, filled, 0, take);
      filled += take;
      chunk = chunk.subarray(take);
      if (filled === size) {
        yield current;
        current = await allocate(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield current.subarray(0, filled);
}
