/**
 * transfer/: moving one object, or a planned list of them, between a file (or stream) and S3:
 * upload (this file), download, copy, remove, stat; their plans (put-plan, get-plan, copy-plan), part
 * sizes (parts.ts), the multipart journal, temporary download names, exclusive files and locks,
 * buffers. Imports s3/, integrity/, config/, errors.ts, events.ts; of sync/ only put-plan.ts's walk
 * (sync/local-tree.ts).
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { Readable } from 'node:stream';
import { resolve } from 'node:path';
import { sdk } from '../s3/sdk.js';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import {
  combineCrc32s,
  crc32Of,
  crc32ToBase64,
  etagReflectsContent,
  md5Of,
  md5OfFile,
  multipartEtag,
  newMd5,
  normalizeEtag,
} from '../integrity/checksums.js';
import { childAbort, limitedRequest, retrying, settleAll, type TransferContext } from '../s3/context.js';
import { ContentMismatch, DatalakeError, failure, usageError } from '../errors.js';
import { explainError } from '../s3/explain-error.js';
import { MAX_PARTS, choosePartSize, splitIntoParts, type PartRange } from './parts.js';
import { PART_BUFFERS_IN_FLIGHT } from '../config/config.js';
import { TransientError, errorCodeOf } from '../s3/retry.js';
import { sameFile, type JournalEntry } from './upload-journal.js';
import { backgroundHasher } from '../integrity/background-hasher.js';
import { headerText } from '../s3/requests.js';
import { openListedFile, openWithoutAtime, type ListedFile, type ListedIdentity } from './listed-file.js';
import { storageHeaders, type PutOptions } from './put-options.js';
import { confirmStoredCrc32, findExpected, removeWritten, settleLostAnswer, settleMismatch, writeAnswerOf, type ExpectedObject, type WriteAnswer } from '../integrity/upload-proof.js';

export interface UploadedObject {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  /** The full-object CRC32, base64, as S3 shows it. */
  crc32: string;
  /** Hex MD5 of the whole content, where it was computed (single PUTs, --md5-metadata). */
  md5?: string;
  parts: number;
  /** Parts found already on the server from an interrupted run and not sent again. */
  partsReused?: number;
  /** The version written, in a versioned bucket. */
  versionId?: string;
}

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
  return limitedRequest(ctx, `PUT ${ref.key}`, () => putBuffer(ctx, body, ref, options));
}

/** Small files are read in one synchronous call: cheaper than four thread-pool round trips each. */
const SYNC_READ_LIMIT = 256 * 1024;

async function putSmallFile(ctx: TransferContext, source: ListedFile | { path: string }, ref: ObjectRef, options: PutOptions, id: number): Promise<UploadedObject> {
  return limitedRequest(ctx, `PUT ${ref.key}`, async () => {
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
async function putBuffer(ctx: TransferContext, body: Buffer, ref: ObjectRef, options: PutOptions): Promise<UploadedObject> {
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

/** Where S3 takes and returns a full-object CRC32 (base64). */
const CRC32_HEADER = 'x-amz-checksum-crc32';

/** CreateMultipartUpload's request for a full-object CRC32, checked per part and at completion. */
const FULL_OBJECT_CRC32: Readonly<Record<string, string>> = { 'x-amz-checksum-algorithm': 'CRC32', 'x-amz-checksum-type': 'FULL_OBJECT' };

/**
 * The CRC32 an answer says the server stored must be the one sent; a server that keeps none says
 * nothing, and the MD5/ETag proof stands alone. A different one is a damaged answer or a server
 * that stored other bytes: either way the request is worth sending again.
 */
function checkAnsweredCrc32(ref: ObjectRef, operation: string, headers: Parameters<typeof headerText>[0], sent: string): void {
  const answered = headerText(headers, CRC32_HEADER);
  if (answered && answered !== sent) {
    throw new TransientError(`${operation} ${formatS3Url(ref)}: the server stored CRC32 ${answered}, not the ${sent} of what was sent`);
  }
}

function versionOf(answer: WriteAnswer): { versionId?: string } {
  return answer.versionId === undefined ? {} : { versionId: answer.versionId };
}

/** The condition of a write that must not replace an object (`--no-clobber`). */
const IF_NONE_MATCH = { 'if-none-match': '*' };

interface SentPart {
  partNumber: number;
  etag: string;
  md5: Buffer;
  crc32: number;
  size: number;
  /** False when the part's answer names SSE-KMS (a bucket default the CreateMultipartUpload answer may not say). */
  etagIsMd5?: boolean;
}

/** A part's hashes from a read ahead of the upload (a resume proving the parts already sent). */
interface PartHashes {
  md5: Buffer;
  crc32: number;
}

async function putMultipartFile(
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
  const upload = resumed ?? (await createMultipartUpload(ctx, ref, options, wholeMd5));
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

/** What identifies a file across runs: if any of these changed, parts already sent are not trusted. */
export interface FileIdentity {
  size: number;
  mtimeMs: number;
  ino: number;
}

interface ResumableUpload extends StartedUpload {
  reused: SentPart[];
  startedAt: string;
}

/** What a pending upload turns out to be: one to carry on with, or one already completed. */
type Resumption = { upload: ResumableUpload } | { completed: WriteAnswer };

/**
 * The journal's interrupted upload of this same file to this key, if there is one and the file still
 * has the identity it had (size, mtime, inode). A file whose identity changed gets its stale upload
 * aborted, and starts over.
 */
async function findPendingUpload(ctx: TransferContext, path: string, absolutePath: string, file: FileIdentity, ref: ObjectRef): Promise<JournalEntry | undefined> {
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
async function resumeUpload(
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
    const page = await retrying(ctx, `ListParts ${ref.key}`, async () =>
      ctx.client.send(new (await sdk()).ListPartsCommand({ Bucket: ref.bucket, Key: ref.key, UploadId: uploadId, ...(from ? { PartNumberMarker: from } : {}) }), { abortSignal: ctx.signal }),
    );
    for (const part of page.Parts ?? []) parts.push({ partNumber: part.PartNumber ?? 0, etag: normalizeEtag(part.ETag) ?? '', size: part.Size ?? -1, crc32: part.ChecksumCRC32 });
    marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (marker);
  return parts;
}

async function readRange(file: FileHandle, buffer: Buffer, part: PartRange): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await file.read(buffer, offset, buffer.length - offset, part.start + offset);
    if (bytesRead === 0) throw failure(`file ended before byte ${part.end}: it shrank while being uploaded`);
    offset += bytesRead;
  }
}

interface StartedUpload {
  uploadId: string;
  etagReflectsContent: boolean;
}

async function createMultipartUpload(ctx: TransferContext, ref: ObjectRef, options: PutOptions, wholeMd5: string | undefined): Promise<StartedUpload> {
  let attempts = 0;
  const created = await retrying(ctx, `CreateMultipartUpload ${ref.key}`, (attempt) => {
    attempts = attempt;
    return ctx.direct.createMultipartUpload(ref, { ...storageHeaders(options, wholeMd5), ...FULL_OBJECT_CRC32 }, ctx.signal);
  });
  if (attempts > 1) {
    // An answer lost or damaged after the server acted leaves an upload whose id never reached us:
    // which one is not knowable without risking another writer's, so it is said, not guessed.
    ctx.events.emit('warning', {
      message: `${formatS3Url(ref)}: CreateMultipartUpload was sent ${attempts} times; up to ${attempts - 1} incomplete upload${attempts > 2 ? 's' : ''} of this key may remain on the server (\`datalake uploads ls ${formatS3Url(ref)}\` shows them, \`datalake uploads abort\` removes them)`,
      ref,
    });
  }
  return { uploadId: created.uploadId, etagReflectsContent: etagReflectsContent({ serverSideEncryption: headerText(created.headers, 'x-amz-server-side-encryption') }) };
}

/**
 * Sends every part with its own Content-MD5 and CRC32, each read into its own buffer inside its limiter slot,
 * so memory is bounded by concurrency × part size. The first part that fails for good cancels the rest.
 */
async function sendParts(
  ctx: TransferContext,
  ref: ObjectRef,
  uploadId: string,
  parts: readonly PartRange[],
  fill: (part: PartRange, buffer: Buffer) => Promise<void>,
  transferId: number,
  knownHashes: (part: PartRange) => PartHashes | undefined = () => undefined,
  onPartDone: (part: SentPart) => unknown = () => undefined,
): Promise<SentPart[]> {
  const abort = childAbort(ctx.signal);
  const partSize = Math.max(...parts.map((part) => part.end - part.start));
  // At most `concurrency` parts of this file wait in the shared limiter at once, so the small files
  // of a sync are interleaved with a large file's parts instead of queuing behind all of them.
  const fileWindow = pLimit(Math.min(ctx.limiter.concurrency, PART_BUFFERS_IN_FLIGHT));
  return settleAll(
    ctx,
      parts.map((part) =>
        fileWindow(async () => {
          // The part's memory is taken before its request slot: a part waiting for memory never holds
          // a slot that a small file could use.
          const pooled = await ctx.buffers.acquire(partSize);
          try {
            return await limitedRequest(
              ctx,
              `UploadPart ${part.partNumber} of ${ref.key}`,
              async () => {
                const buffer = pooled.subarray(0, part.end - part.start);
                await fill(part, buffer);
                const sent = await sendPart(ctx, ref, uploadId, part.partNumber, buffer, abort.signal, knownHashes(part));
                ctx.events.emit('transfer:progress', { id: transferId, bytes: buffer.length });
                await onPartDone(sent);
                return sent;
              },
              abort.signal,
            );
          } finally {
            ctx.buffers.release(pooled);
          }
        }).catch((error: unknown) => {
          abort.abort(error);
          throw error;
        }),
      ),
  );
}

async function sendPart(
  ctx: TransferContext,
  ref: ObjectRef,
  uploadId: string,
  partNumber: number,
  body: Buffer,
  signal: AbortSignal,
  known?: PartHashes,
): Promise<SentPart> {
  // Hashed from the bytes about to be sent (on the hashing thread), unless a read ahead (a resume)
  // already did: a file that changed since is refused by the server (BadDigest, XAmzContentChecksumMismatch).
  const { md5, crc32 } = known ?? (await backgroundHasher.bytesHashes(body));
  const response = await ctx.direct.uploadPart(ref, uploadId, partNumber, body, md5.toString('base64'), signal, { [CRC32_HEADER]: crc32ToBase64(crc32) });
  const etag = normalizeEtag(headerText(response.headers, 'etag')) ?? '';
  const etagIsMd5 = etagReflectsContent({ serverSideEncryption: headerText(response.headers, 'x-amz-server-side-encryption') });
  if (etagIsMd5 && etag !== md5.toString('hex')) {
    throw new TransientError(`part ${partNumber} of ${formatS3Url(ref)}: ETag ${etag} is not the MD5 of what was sent`);
  }
  checkAnsweredCrc32(ref, `UploadPart ${partNumber} of`, response.headers, crc32ToBase64(crc32));
  return { partNumber, etag, md5, crc32, size: body.length, etagIsMd5 };
}

/**
 * The codes a CompleteMultipartUpload is answered with when its body arrived damaged (a server that
 * does not check its Content-MD5): not XML, a part number or ETag changed, no part left. Its body
 * lists only parts the server acknowledged, and is built again for each attempt, so these are worth
 * another one.
 */
const DAMAGED_COMPLETE_BODY = new Set(['MalformedXML', 'InvalidPart', 'InvalidPartOrder', 'InvalidRequest']);

/**
 * Completes the upload and proves it: the ETag must be the MD5 of the part MD5s, `-N`, and the
 * full-object CRC32 (the parts' CRC32s combined, sent for the server to check) the one the server
 * stored. A lost answer (every retry then finds the upload gone) and an answer with another ETag are
 * both settled by a fresh look at the object (upload-proof.ts), never by removing it unseen.
 */
async function completeMultipartUpload(
  ctx: TransferContext,
  ref: ObjectRef,
  uploadId: string,
  sent: SentPart[],
  proof: { checkEtag: boolean; size: number; md5?: string | undefined; ifNoneMatch?: boolean | undefined },
): Promise<WriteAnswer & { crc32: string }> {
  const ordered = [...sent].sort((a, b) => a.partNumber - b.partNumber);
  const etag = multipartEtag(ordered.map((part) => part.md5));
  const crc32 = crc32ToBase64(combineCrc32s(ordered));
  // Under SSE-KMS (asked, or the bucket's default) the ETag is no MD5: the full-object CRC32 proves it.
  const checkEtag = proof.checkEtag && ordered.every((part) => part.etagIsMd5 !== false);
  const expected: ExpectedObject = { size: proof.size, etags: checkEtag ? [etag] : [], md5: proof.md5, crc32 };
  const listed = ordered.map((part) => ({ partNumber: part.partNumber, etag: part.etag, crc32: crc32ToBase64(part.crc32) }));
  const wholeChecksum = { [CRC32_HEADER]: crc32, 'x-amz-checksum-type': 'FULL_OBJECT' };
  const operation = 'CompleteMultipartUpload';
  let completed: Awaited<ReturnType<typeof ctx.direct.completeMultipartUpload>>;
  try {
    const condition = proof.ifNoneMatch ? IF_NONE_MATCH : {};
    completed = await retrying(ctx, `${operation} ${ref.key}`, () => ctx.direct.completeMultipartUpload(ref, uploadId, listed, ctx.signal, { ...wholeChecksum, ...condition }), ctx.signal, DAMAGED_COMPLETE_BODY);
  } catch (error) {
    // A retry after a lost answer finds the upload gone (NoSuchUpload), or, under If-None-Match, the key taken by it.
    const doneCode = errorCodeOf(error) === 'PreconditionFailed' ? 'PreconditionFailed' : 'NoSuchUpload';
    const settled = await settleLostAnswer(ctx, ref, operation, expected, error, doneCode);
    // Every answer lost: if the upload is somehow still there, it holds parts that cost money.
    if (errorCodeOf(error) !== 'NoSuchUpload') await abortQuietly(ctx, ref, uploadId);
    return { ...settled, crc32 };
  }
  let answer = writeAnswerOf(completed.headers, completed.etag);
  if (checkEtag && etagReflectsContent({ serverSideEncryption: headerText(completed.headers, 'x-amz-server-side-encryption') }) && answer.etag !== etag) {
    const settled = await settleMismatch(ctx, ref, operation, answer, expected);
    if (!settled.proven) throw new ContentMismatch(`${formatS3Url(ref)} did not verify: ${settled.reason}`, 'run the upload again');
    answer = settled.answer;
  } else if (headerText(completed.headers, CRC32_HEADER) !== crc32) {
    // S3 puts the stored CRC32 in the answer's body, MinIO in a header: where it is not the one
    // sent (or not said), a HEAD with the checksum mode on tells.
    const etagProven = proof.checkEtag && etagReflectsContent({ serverSideEncryption: headerText(completed.headers, 'x-amz-server-side-encryption') }) && answer.etag === etag;
    const wrong = await confirmStoredCrc32(ctx, ref, answer, crc32, etagProven ? [etag] : []);
    if (wrong) throw new ContentMismatch(`${formatS3Url(ref)} did not verify: ${wrong}`, 'run the upload again');
  }
  return { ...answer, crc32 };
}

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

async function uploadChunks(ctx: TransferContext, chunks: AsyncIterator<Buffer>, ref: ObjectRef, options: PutOptions, id: number): Promise<UploadedObject> {
  const first = await chunks.next();
  const firstChunk = first.done ? Buffer.alloc(0) : first.value;
  const second = first.done ? first : await chunks.next();
  if (second.done) {
    return limitedRequest(ctx, `PUT ${ref.key}`, async () => {
      const uploaded = await putBuffer(ctx, firstChunk, ref, options);
      ctx.events.emit('transfer:progress', { id, bytes: firstChunk.length });
      return uploaded;
    });
  }

  const upload = await createMultipartUpload(ctx, ref, options, undefined);
  const abort = childAbort(ctx.signal);
  // The whole-content MD5 is known only at the end: with --md5-metadata it is added by a copy then.
  const wholeMd5 = options.md5Metadata ? newMd5() : undefined;
  const inFlight = new Set<Promise<SentPart>>();
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
      const promise = limitedRequest(ctx, `UploadPart ${number} of ${ref.key}`, () => sendPart(ctx, ref, upload.uploadId, number, body, abort.signal), abort.signal)
        .then((part) => {
          ctx.events.emit('transfer:progress', { id, bytes: body.length });
          return part;
        })
        .finally(() => {
          if (body.buffer.byteLength === ctx.partSize) ctx.buffers.release(Buffer.from(body.buffer, body.byteOffset, ctx.partSize));
        });
      promise.catch((error: unknown) => abort.abort(error)).finally(() => inFlight.delete(promise));
      inFlight.add(promise);
      sent.push(promise);
    };
    dispatch(firstChunk);
    dispatch(second.value);
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      dispatch(next.value);
      while (inFlight.size >= ctx.limiter.concurrency) await Promise.race(inFlight).catch(() => undefined);
      if (abort.signal.aborted) break;
    }
    const parts = await settleAll(ctx, sent);
    const completed = await completeMultipartUpload(ctx, ref, upload.uploadId, parts, { checkEtag: upload.etagReflectsContent, size, ifNoneMatch: options.ifNoneMatch });
    if (!wholeMd5) return { bucket: ref.bucket, key: ref.key, size, etag: completed.etag, crc32: completed.crc32, parts: parts.length, ...versionOf(completed) };
    const md5 = wholeMd5.digest('hex');
    const { rewriteMetadata } = await import('./metadata-rewrite.js');
    const rewritten = await rewriteMetadata(ctx, ref, size, options, md5, completed.etag);
    return { bucket: ref.bucket, key: ref.key, size, etag: rewritten.etag, crc32: completed.crc32, md5, parts: parts.length, ...versionOf(rewritten) };
  } catch (error) {
    await Promise.allSettled(inFlight);
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

/** Aborts an upload; one already gone (completed or aborted) is what was wanted. */
async function abortQuietly(ctx: TransferContext, ref: ObjectRef, uploadId: string): Promise<void> {
  try {
    await retrying(ctx, `AbortMultipartUpload ${ref.key}`, () => ctx.direct.abortMultipartUpload(ref, uploadId), undefined);
  } catch (error) {
    if (errorCodeOf(error) === 'NoSuchUpload') return;
    ctx.events.emit('warning', { message: `could not abort the multipart upload of ${formatS3Url(ref)}: ${String(error)}; see \`datalake uploads ls\``, ref });
  }
}

/** A journal that cannot be written, named as the state directory's: a full state disk is not the data's disk. */
function journalWriteError(ctx: TransferContext, error: unknown): DatalakeError {
  const explained = explainError(error);
  return failure(`cannot record the upload in the state directory ${ctx.journal?.directory ?? ''}: ${explained.message}`, {
    hint: 'free some space there, or set DATALAKE_STATE_DIR to another folder, and run the command again',
    cause: error,
  });
}
