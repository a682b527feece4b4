/**
 * An object in one PUT: a small file read whole (one synchronous read where it is small), or bytes
 * held in memory; sent with Content-MD5 and its CRC32, and the answer's ETag and CRC32 proven.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { crc32Of, crc32ToBase64, md5Of } from '../integrity/checksums.js';
import { etagReflectsContent } from '../integrity/content-proof.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { ContentMismatch } from '../errors.js';
import { TransientError, errorCodeOf } from '../s3/retry.js';
import { headerText } from '../s3/requests.js';
import { openWithoutAtime, type ListedFile } from './listed-file.js';
import { CRC32_HEADER, IF_NONE_MATCH, storageHeaders, versionOf, type PutOptions, type UploadedObject } from './put-options.js';
import { confirmStoredCrc32, settleLostAnswer, settleMismatch, writeAnswerOf } from './upload-proof.js';

/** Small files are read in one synchronous call: cheaper than four thread-pool round trips each. */
const SYNC_READ_LIMIT = 256 * 1024;

export async function putSmallFile(ctx: TransferContext, source: ListedFile | { path: string }, ref: ObjectRef, options: PutOptions, id: number): Promise<UploadedObject> {
  return dataRequest(ctx, `PUT ${ref.key}`, async () => {
    const body = await readWholeFile(source);
    const uploaded = await putBuffer(ctx, body, ref, options);
    ctx.events.emit('transfer:progress', { id, bytes: body.length });
    return uploaded;
  });
}

/** The whole file, from the descriptor the walk's check opened or by its path. */
async function readWholeFile(source: ListedFile | { path: string }): Promise<Buffer> {
  const fd = 'fd' in source ? source.fd : openWithoutAtime(source.path);
  try {
    const size = fstatSync(fd).size;
    if (size <= SYNC_READ_LIMIT) {
      const buffer = Buffer.allocUnsafe(size);
      let offset = 0;
      while (offset < size) {
        const read = readSync(fd, buffer, offset, size - offset, offset);
        if (read === 0) break;
        offset += read;
      }
      return offset === size ? buffer : buffer.subarray(0, offset);
    }
  } finally {
    if (!('fd' in source)) closeSync(fd);
  }
  return readFile('fd' in source ? source.readPath : source.path);
}

/**
 * One PUT with Content-MD5, its ETag checked. An answer with another ETag is settled by a fresh look
 * (upload-proof.ts); one that stays unproven is an error worth sending the object again.
 */
export async function putBuffer(ctx: TransferContext, body: Buffer, ref: ObjectRef, options: PutOptions): Promise<UploadedObject> {
  const md5 = md5Of(body);
  const md5Hex = md5.toString('hex');
  const crc32 = crc32ToBase64(crc32Of(body));
  const headers = { 'content-md5': md5.toString('base64'), [CRC32_HEADER]: crc32, ...storageHeaders(options, md5Hex), ...(options.ifNoneMatch ? IF_NONE_MATCH : {}) };
  let response: Awaited<ReturnType<typeof ctx.direct.putObject>>;
  try {
    response = await ctx.direct.putObject(ref, body, headers, ctx.signal);
  } catch (error) {
    if (errorCodeOf(error) !== 'PreconditionFailed') throw error;
    // Refused as taken (If-None-Match): by another writer, or by this very PUT, its answer lost before
    // a retry. A fresh look tells; another writer's object is left alone and the error stands.
    const settled = await settleLostAnswer(ctx, ref, 'PUT', { size: body.length, etags: [md5Hex], md5: md5Hex, crc32 }, error, 'PreconditionFailed');
    return { bucket: ref.bucket, key: ref.key, size: body.length, etag: settled.etag, crc32, md5: md5Hex, parts: 1, ...versionOf(settled) };
  }
  let answer = writeAnswerOf(response.headers);
  const etagProves = etagReflectsContent({ serverSideEncryption: headerText(response.headers, 'x-amz-server-side-encryption') });
  if (etagProves && answer.etag !== md5Hex) {
    const settled = await settleMismatch(ctx, ref, 'PUT', answer, { size: body.length, etags: [md5Hex], md5: md5Hex, crc32 });
    if (!settled.proven) throw new TransientError(`${formatS3Url(ref)} did not verify: ${settled.reason}`);
    answer = settled.answer;
  }
  const answered = headerText(response.headers, CRC32_HEADER);
  if (answered && answered !== crc32) {
    // The answer names another CRC32: a fresh look says what the server really stored.
    const wrong = await confirmStoredCrc32(ctx, ref, answer, crc32, etagProves ? [md5Hex] : []);
    if (wrong) throw new ContentMismatch(`${formatS3Url(ref)} did not verify: ${wrong}`, 'run the upload again');
  }
  return { bucket: ref.bucket, key: ref.key, size: body.length, etag: answer.etag, crc32, md5: md5Hex, parts: 1, ...versionOf(answer) };
}
