/**
 * The one multipart upload: start it (asking for a full-object CRC32), send parts (each with its
 * Content-MD5 and CRC32, its answer checked), complete it and prove what was completed (the
 * multipart ETag and the full-object CRC32, upload-proof.ts for what the answers leave open), or
 * abort it. Parts are sent (sendParts, sendPart) or copied from an object's byte ranges (copyParts,
 * UploadPartCopy). Files (multipart-file.ts), standard input (upload-stream.ts), the metadata rewrite
 * of a stream (metadata-rewrite.ts) and a copy in parts (copy-requests.ts) all go through it. One
 * file of about 300 lines on purpose: the steps of the one implementation, read side by side.
 */
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { combineCrc32s, crc32FromBase64, crc32ToBase64, isPlainMd5Etag, multipartEtag, normalizeEtag, type PartHashes } from '../integrity/checksums.js';
import { etagReflectsContent } from '../integrity/content-proof.js';
import { childAbort, dataRequest, controlRequest, settleAll, type TransferContext } from '../s3/context.js';
import { ContentMismatch, failure } from '../errors.js';
import type { PartRange } from './parts.js';
import { TransientError, errorCodeOf } from '../s3/retry.js';
import { backgroundHasher } from '../integrity/background-hasher.js';
import { headerText } from '../s3/requests.js';
import { sdk } from '../s3/sdk.js';
import { CRC32_HEADER, FULL_OBJECT_CRC32, IF_NONE_MATCH } from './put-options.js';
import { confirmStoredCrc32, settleLostAnswer, settleMismatch, writeAnswerOf, type ExpectedObject, type WriteAnswer } from './upload-proof.js';

/**
 * The CRC32 an answer says the server stored must be the one sent; a server that keeps none says
 * nothing, and the MD5/ETag proof stands alone. A different one is a damaged answer or a server
 * that stored other bytes: either way the request is worth sending again.
 */
export function checkAnsweredCrc32(ref: ObjectRef, operation: string, headers: Parameters<typeof headerText>[0], sent: string): void {
  const answered = headerText(headers, CRC32_HEADER);
  if (answered && answered !== sent) {
    throw new TransientError(`${operation} ${formatS3Url(ref)}: the server stored CRC32 ${answered}, not the ${sent} of what was sent`);
  }
}

/** A part on the server, as CompleteMultipartUpload lists it and its proof reads it. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
  /** The part's MD5 where known: what was sent, or a copied part's plain-MD5 ETag. */
  md5?: Buffer | undefined;
  /** The part's CRC32 where known: what was sent, or what the server says it stored for a copied part. */
  crc32?: number | undefined;
  /** False when the part's answer names SSE-KMS (a bucket default the CreateMultipartUpload answer may not say). */
  etagIsMd5?: boolean;
}

/** A part sent, or copied from one that was: its MD5 and CRC32 are those of its bytes. */
export interface SentPart extends UploadedPart {
  md5: Buffer;
  crc32: number;
}

export interface StartedUpload {
  uploadId: string;
  etagReflectsContent: boolean;
}

/**
 * Starts an upload of an object stored as `stored` says (its headers: metadata, type, tags, storage
 * class, encryption; put-options.ts's storageHeaders for an upload), asking for a full-object CRC32
 * unless `fullObjectCrc32` is false (parts copied by UploadPartCopy, which MinIO refuses into an
 * upload that asks for one: copy-requests.ts's startAndCopyParts).
 */
export async function createMultipartUpload(
  ctx: TransferContext,
  ref: ObjectRef,
  stored: Record<string, string>,
  { fullObjectCrc32 = true }: { fullObjectCrc32?: boolean } = {},
): Promise<StartedUpload> {
  let attempts = 0;
  const created = await controlRequest(ctx, `CreateMultipartUpload ${ref.key}`, (attempt) => {
    attempts = attempt;
    return ctx.direct.createMultipartUpload(ref, { ...stored, ...(fullObjectCrc32 ? FULL_OBJECT_CRC32 : {}) }, ctx.signal);
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
export async function sendParts(
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
  // A few parts of this file at once (limiter.ts's part window), each in a data slot of its own.
  const window = ctx.limiter.partWindow();
  return settleAll(
    ctx,
    parts.map((part) =>
      window.run(async () => {
        // The part's memory is taken before its request slot: a part waiting for memory never holds
        // a slot that a small file could use.
        const pooled = await ctx.buffers.acquire(partSize);
        try {
          return await dataRequest(
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

export async function sendPart(
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

/** The object parts are copied from: the exact version and ETag read, when known (a writer that replaced it fails the copy). */
export interface CopySource {
  ref: ObjectRef;
  versionId?: string | null | undefined;
  etag?: string | undefined;
}

/** One part to copy: its number, the byte range of the source it is, and what it was sent with when known. */
export interface PartToCopy extends PartRange {
  sent?: SentPart | undefined;
}

/**
 * Copies byte ranges of an object server side (UploadPartCopy) as the parts of an upload, each from
 * the source's exact version (versionId, If-Match its ETag). A part whose sending is known (`sent`:
 * an upload's own parts copied onto a new upload of the key) must come back with the ETag of the MD5
 * it was sent with, and its CRC32 (where the answer gives one) the CRC32 sent, so the completion is
 * proven exactly as the upload's was; any other part keeps the ETag it is given, for the caller to
 * check against the source's. The first part that fails for good cancels the rest. `copied` is told
 * each part's size as that part is copied (a copy's progress).
 */
export async function copyParts(ctx: TransferContext, to: ObjectRef, uploadId: string, source: CopySource, parts: ReadonlyArray<PartToCopy & { sent: SentPart }>, copied?: (bytes: number) => void): Promise<SentPart[]>;
export async function copyParts(ctx: TransferContext, to: ObjectRef, uploadId: string, source: CopySource, parts: readonly PartToCopy[], copied?: (bytes: number) => void): Promise<UploadedPart[]>;
export async function copyParts(ctx: TransferContext, to: ObjectRef, uploadId: string, source: CopySource, parts: readonly PartToCopy[], copied?: (bytes: number) => void): Promise<UploadedPart[]> {
  const { UploadPartCopyCommand } = await sdk();
  const abort = childAbort(ctx.signal);
  const path = `${source.ref.bucket}/${source.ref.key.split('/').map(encodeURIComponent).join('/')}`;
  const copySource = source.versionId ? `${path}?versionId=${encodeURIComponent(source.versionId)}` : path;
  return settleAll(
    ctx,
    parts.map(({ partNumber, start, end, sent }) =>
      dataRequest(
        ctx,
        `UploadPartCopy ${partNumber} of ${to.key}`,
        async (): Promise<UploadedPart> => {
          const output = await ctx.client.send(
            new UploadPartCopyCommand({
              Bucket: to.bucket,
              Key: to.key,
              UploadId: uploadId,
              PartNumber: partNumber,
              CopySource: copySource,
              ...(source.etag ? { CopySourceIfMatch: `"${source.etag}"` } : {}),
              CopySourceRange: `bytes=${start}-${end - 1}`,
            }),
            { abortSignal: abort.signal },
          );
          const etag = normalizeEtag(output.CopyPartResult?.ETag) ?? '';
          const etagIsMd5 = etagReflectsContent({ serverSideEncryption: output.ServerSideEncryption });
          if (!sent) {
            if (!etag) throw failure(`the server returned no ETag for part ${partNumber} of ${formatS3Url(to)}`);
            const md5 = etagIsMd5 && isPlainMd5Etag(etag) ? Buffer.from(etag, 'hex') : undefined;
            // Into an upload that asked for a CRC32, the server says the one it computed for the part.
            const crc32 = output.CopyPartResult?.ChecksumCRC32 ? crc32FromBase64(output.CopyPartResult.ChecksumCRC32) : undefined;
            return { partNumber, etag, size: end - start, etagIsMd5, md5, crc32 };
          }
          if (etagIsMd5 && etag !== sent.md5.toString('hex')) {
            throw new TransientError(`part ${partNumber} of ${formatS3Url(to)}, copied: ETag ${etag} is not the MD5 of the part`);
          }
          const crc32 = crc32ToBase64(sent.crc32);
          const answered = output.CopyPartResult?.ChecksumCRC32;
          if (answered && answered !== crc32) {
            throw new TransientError(`UploadPartCopy ${partNumber} of ${formatS3Url(to)}: the server stored CRC32 ${answered}, not the ${crc32} of the part`);
          }
          return { ...sent, etag, etagIsMd5 };
        },
        abort.signal,
      ).then(
        (part) => {
          copied?.(end - start);
          return part;
        },
        (error: unknown) => {
          abort.abort(error);
          throw error;
        },
      ),
    ),
  );
}

/**
 * The codes a CompleteMultipartUpload is answered with when its body arrived damaged (a server that
 * does not check its Content-MD5): not XML, a part number or ETag changed, no part left. Its body
 * lists only parts the server acknowledged, and is built again for each attempt, so these are worth
 * another one.
 */
const DAMAGED_COMPLETE_BODY = new Set(['MalformedXML', 'InvalidPart', 'InvalidPartOrder', 'InvalidRequest']);

/** What a completion is proven by: see completeMultipartUpload. */
export interface CompletionProof {
  /** Whether the ETag may be checked at all (the upload's answer named no SSE-KMS). */
  checkEtag: boolean;
  size: number;
  /** The whole-content MD5 the metadata carries, when one was stored. */
  md5?: string | undefined;
  ifNoneMatch?: boolean | undefined;
  /** False for an upload started without one (its CRC32 is then neither sent nor checked). */
  fullObjectCrc32?: boolean;
  /**
   * The whole object's CRC32 known beforehand (a copy's: its source's), sent and checked instead of
   * one combined from the parts; where every part has a CRC32, their combination must be this one.
   */
  crc32?: string | undefined;
}

/**
 * Completes the upload and proves it: the ETag must be the MD5 of the part MD5s, `-N`, and the
 * full-object CRC32 (the parts' CRC32s combined, sent for the server to check) the one the server
 * stored. A lost answer (every retry then finds the upload gone) and an answer with another ETag are
 * both settled by a fresh look at the object (upload-proof.ts), never by removing it unseen.
 */
export async function completeMultipartUpload(ctx: TransferContext, ref: ObjectRef, uploadId: string, sent: SentPart[], proof: CompletionProof): Promise<WriteAnswer & { crc32: string }>;
/** Parts not all sent from known bytes (copied from another object): a full-object CRC32 only where `proof.crc32` gives it. */
export async function completeMultipartUpload(ctx: TransferContext, ref: ObjectRef, uploadId: string, sent: UploadedPart[], proof: CompletionProof): Promise<WriteAnswer & { crc32?: string }>;
export async function completeMultipartUpload(ctx: TransferContext, ref: ObjectRef, uploadId: string, sent: UploadedPart[], proof: CompletionProof): Promise<WriteAnswer & { crc32?: string }> {
  const withCrc32 = proof.fullObjectCrc32 !== false;
  const ordered = [...sent].sort((a, b) => a.partNumber - b.partNumber);
  const md5s = ordered.map((part) => part.md5);
  const etag = md5s.every((md5) => md5 !== undefined) ? multipartEtag(md5s as Buffer[]) : undefined;
  const crc32s = ordered.map((part) => ({ crc32: part.crc32, size: part.size }));
  const combined = crc32s.every((part) => part.crc32 !== undefined) ? crc32ToBase64(combineCrc32s(crc32s as Array<{ crc32: number; size: number }>)) : undefined;
  if (withCrc32 && proof.crc32 !== undefined && combined !== undefined && combined !== proof.crc32) {
    throw new ContentMismatch(`${formatS3Url(ref)} did not verify: its parts' CRC32s combine to ${combined}, not the ${proof.crc32} expected`);
  }
  const crc32 = proof.crc32 ?? combined;
  // Under SSE-KMS (asked, or the bucket's default) the ETag is no MD5: the full-object CRC32 proves it.
  const checkEtag = proof.checkEtag && etag !== undefined && ordered.every((part) => part.etagIsMd5 !== false);
  const expected: ExpectedObject = { size: proof.size, etags: checkEtag && etag ? [etag] : [], md5: proof.md5, crc32 };
  const listed = ordered.map((part) => ({ partNumber: part.partNumber, etag: part.etag, ...(withCrc32 && part.crc32 !== undefined ? { crc32: crc32ToBase64(part.crc32) } : {}) }));
  const wholeChecksum: Record<string, string> = withCrc32 && crc32 ? { [CRC32_HEADER]: crc32, 'x-amz-checksum-type': 'FULL_OBJECT' } : {};
  const operation = 'CompleteMultipartUpload';
  let completed: Awaited<ReturnType<typeof ctx.direct.completeMultipartUpload>>;
  try {
    const condition = proof.ifNoneMatch ? IF_NONE_MATCH : {};
    completed = await controlRequest(ctx, `${operation} ${ref.key}`, () => ctx.direct.completeMultipartUpload(ref, uploadId, listed, ctx.signal, { ...wholeChecksum, ...condition }), ctx.signal, DAMAGED_COMPLETE_BODY);
  } catch (error) {
    // A retry after a lost answer finds the upload gone (NoSuchUpload), or, under If-None-Match, the key taken by it.
    const doneCode = errorCodeOf(error) === 'PreconditionFailed' ? 'PreconditionFailed' : 'NoSuchUpload';
    const settled = await settleLostAnswer(ctx, ref, operation, expected, error, doneCode);
    // Every answer lost: if the upload is somehow still there, it holds parts that cost money.
    if (errorCodeOf(error) !== 'NoSuchUpload') await abortQuietly(ctx, ref, uploadId);
    return { ...settled, ...(crc32 ? { crc32 } : {}) };
  }
  let answer = writeAnswerOf(completed.headers, completed.etag);
  if (checkEtag && etagReflectsContent({ serverSideEncryption: headerText(completed.headers, 'x-amz-server-side-encryption') }) && answer.etag !== etag) {
    const settled = await settleMismatch(ctx, ref, operation, answer, expected);
    if (!settled.proven) throw new ContentMismatch(`${formatS3Url(ref)} did not verify: ${settled.reason}`, 'run the upload again');
    answer = settled.answer;
  } else if (withCrc32 && crc32 && headerText(completed.headers, CRC32_HEADER) !== crc32) {
    // S3 puts the stored CRC32 in the answer's body, MinIO in a header: where it is not the one
    // sent (or not said), a HEAD with the checksum mode on tells.
    const etagProven = proof.checkEtag && etagReflectsContent({ serverSideEncryption: headerText(completed.headers, 'x-amz-server-side-encryption') }) && answer.etag === etag;
    const wrong = await confirmStoredCrc32(ctx, ref, answer, crc32, etagProven && etag ? [etag] : []);
    if (wrong) throw new ContentMismatch(`${formatS3Url(ref)} did not verify: ${wrong}`, 'run the upload again');
  }
  return { ...answer, ...(crc32 ? { crc32 } : {}) };
}

/** Aborts an upload; one already gone (completed or aborted) is what was wanted. */
export async function abortQuietly(ctx: TransferContext, ref: ObjectRef, uploadId: string): Promise<void> {
  try {
    await controlRequest(ctx, `AbortMultipartUpload ${ref.key}`, () => ctx.direct.abortMultipartUpload(ref, uploadId), undefined);
  } catch (error) {
    if (errorCodeOf(error) === 'NoSuchUpload') return;
    ctx.events.emit('warning', { message: `could not abort the multipart upload of ${formatS3Url(ref)}: ${String(error)}; see \`datalake uploads ls\``, ref });
  }
}
