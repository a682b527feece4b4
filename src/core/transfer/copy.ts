import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { MD5_METADATA_KEY, contentProofOf, crc32Of, crc32ToBase64, etagReflectsContent, isPlainMd5Etag, multipartEtag, multipartEtagPartCount, newMd5, normalizeEtag } from '../integrity/checksums.js';
import { limitedRequest, retrying, settleAll, type TransferContext } from '../s3/context.js';
import { ContentMismatch, describeError, failure } from '../errors.js';
import { findObject } from '../s3/objects.js';
import { explainError, isFatalForRun } from '../s3/explain-error.js';
import { GiB } from '../config/units.js';
import { sdk } from '../s3/sdk.js';
import { errorCodeOf } from '../s3/retry.js';
import { detailsFromHead, findWithChecksums, headWithChecksums, objectTags, partSizes, type HeadDetails, type StoredChecksums } from './stat.js';
import type { ServerSideEncryption } from './put-options.js';

/** The largest object one CopyObject request may copy (S3's limit); above it, and for multipart sources, parts are copied. */
export const MAX_SINGLE_COPY = 5 * GiB;

/** How the copy is stored. Each field left undefined keeps the source's. */
export interface CopyOptions {
  /** Replaces the user metadata (the stored content MD5, md5chksum, is kept: the bytes are the same). */
  metadata?: Record<string, string> | undefined;
  /** Replaces the tags. */
  tags?: Record<string, string> | undefined;
  contentType?: string | undefined;
  storageClass?: string | undefined;
  sse?: ServerSideEncryption | undefined;
  sseKmsKeyId?: string | undefined;
  /** Skip when the destination exists. */
  noClobber?: boolean;
  /** Largest single-part source sent as one CopyObject; S3's limit by default, lowered by tests. */
  singleCopyLimit?: number;
}

/** What proved the copy holds the source's bytes: always something computed from the copy's own bytes. */
export type CopyProof =
  /** The copy's ETag equals the one the source's ETag implies: its MD5, or its multipart ETag copied part for part. */
  | 'etag'
  /** The full-object checksum (CRC32…) the server gives for the copy is the source's, and the sizes are equal. */
  | 'checksum'
  /** The copy was read back and hashed: its CRC32, MD5 or multipart ETag is the source's. */
  | 'read-back'
  /** Only the sizes could be compared: the source carries no MD5 ETag, stored MD5 or checksum to hash against. */
  | 'size-only';

export interface CopiedObject {
  source: string;
  sourceVersionId: string | null;
  /** The source's ETag when it was copied. */
  sourceEtag: string | undefined;
  bucket: string;
  key: string;
  size: number;
  etag: string | undefined;
  versionId: string | null;
  /** 1 for a CopyObject; the number of UploadPartCopy requests otherwise. */
  parts: number;
  verifiedBy: CopyProof;
}

export type CopyOutcome = { kind: 'copied'; object: CopiedObject } | { kind: 'skipped'; bucket: string; key: string; reason: string };

/**
 * Copies one object server-side and proves the copy. A single-part object up to 5 GiB goes in one
 * CopyObject; a multipart object is copied part for part with UploadPartCopy, in its own part
 * layout, so the copy's ETag is the source's (a CopyObject would give it a new, single-part ETag that
 * nothing could be compared with). Every request copies the exact version read at the start
 * (versionId and If-Match). The copy is then read back with HEAD and proven against the source; a
 * copy that does not prove is deleted (only the version just written) and the copy fails.
 */
export async function copyObject(ctx: TransferContext, source: ObjectRef, destination: ObjectRef, options: CopyOptions = {}): Promise<CopyOutcome> {
  if (options.noClobber && (await findObject(ctx, destination))) {
    return { kind: 'skipped', bucket: destination.bucket, key: destination.key, reason: 'exists (--no-clobber)' };
  }
  const sourceHead = await headWithChecksums(ctx, source);
  const from = detailsFromHead(source, sourceHead);
  if (sourceHead.SSECustomerAlgorithm) throw failure(`${formatS3Url(source)} is encrypted with a customer key (SSE-C): it cannot be copied without it`);
  const partCount = from.etag ? multipartEtagPartCount(from.etag) : undefined;
  const limit = Math.min(options.singleCopyLimit ?? MAX_SINGLE_COPY, MAX_SINGLE_COPY);
  const wholeCopy = from.size <= limit && (partCount === undefined || (await onlyChecksumProvesParts(ctx, from, destination, options)));
  const copied = await (async () =>
    wholeCopy
      ? copyWhole(ctx, from, sourceHead, destination, options)
      : copyInParts(ctx, from, sourceHead, partCount, destination, options, 'guess').catch((error: unknown) => {
          // Parts of unequal sizes between an equal first and last: copy again in the layout asked part by part.
          if (!(error instanceof LayoutGuessedWrong)) throw error;
          return copyInParts(ctx, from, sourceHead, partCount, destination, options, 'exact');
        }))().catch((error: unknown) => {
    // The source's bucket was just read: a bucket missing now is the destination's, whatever the
    // answer names (MinIO names the source's).
    if (errorCodeOf(error) === 'NoSuchBucket') Object.assign(error as object, { BucketName: destination.bucket });
    throw error;
  });
  const written = detailsFromHead(destination, await headWithChecksums(ctx, destination, copied.versionId ?? undefined));
  let verifiedBy: CopyProof;
  try {
    verifiedBy = proveCopy(from, written, copied.expectedEtag) ?? (await readBack(ctx, from, written, copied.partSizes));
  } catch (error) {
    await removeCopy(ctx, destination, copied.versionId, written.etag);
    throw error;
  }
  return {
    kind: 'copied',
    object: {
      source: formatS3Url(source),
      sourceVersionId: from.versionId,
      sourceEtag: from.etag,
      bucket: destination.bucket,
      key: destination.key,
      size: written.size,
      etag: written.etag,
      versionId: written.versionId,
      parts: copied.parts,
      verifiedBy,
    },
  };
}

/** What a copy request left: the version written, how many requests copied it, the ETag it must have. */
interface CopyResult {
  versionId: string | null;
  parts: number;
  expectedEtag: string | undefined;
  /** The part sizes it was copied in (the source's layout), for a read-back against a multipart ETag. */
  partSizes?: number[];
}

function copySourceOf(from: HeadDetails): string {
  const path = `${from.bucket}/${from.key.split('/').map(encodeURIComponent).join('/')}`;
  return from.versionId ? `${path}?versionId=${encodeURIComponent(from.versionId)}` : path;
}

/** The headers a REPLACE (or a new multipart upload) must carry to keep what the source had. */
function storedHeaders(from: HeadDetails, head: HeadObjectCommandOutput, options: CopyOptions) {
  const metadata = { ...(options.metadata ?? from.metadata) };
  const md5 = from.metadata[MD5_METADATA_KEY];
  if (md5 !== undefined) metadata[MD5_METADATA_KEY] = md5;
  return {
    Metadata: metadata,
    ...((options.contentType ?? from.contentType) ? { ContentType: options.contentType ?? from.contentType ?? undefined } : {}),
    ...(head.CacheControl ? { CacheControl: head.CacheControl } : {}),
    ...(head.ContentDisposition ? { ContentDisposition: head.ContentDisposition } : {}),
    ...(head.ContentEncoding ? { ContentEncoding: head.ContentEncoding } : {}),
    ...(head.ContentLanguage ? { ContentLanguage: head.ContentLanguage } : {}),
  };
}

/** Storage class and encryption: the flag's, else the source's, so a copy is never silently downgraded. */
function placementFields(from: HeadDetails, options: CopyOptions) {
  const storageClass = options.storageClass ?? (from.storageClass !== 'STANDARD' ? from.storageClass : undefined);
  const sse = options.sse ?? from.serverSideEncryption ?? undefined;
  const kmsKey = options.sse !== undefined ? options.sseKmsKeyId : sse === 'aws:kms' ? (from.sseKmsKeyId ?? undefined) : undefined;
  return {
    ...(storageClass ? { StorageClass: storageClass as never } : {}),
    ...(sse ? { ServerSideEncryption: sse as never } : {}),
    ...(kmsKey ? { SSEKMSKeyId: kmsKey } : {}),
  };
}

function taggingOf(tags: Record<string, string>): string {
  return new URLSearchParams(tags).toString();
}

async function copyWhole(ctx: TransferContext, from: HeadDetails, head: HeadObjectCommandOutput, to: ObjectRef, options: CopyOptions): Promise<CopyResult> {
  const { CopyObjectCommand } = await sdk();
  const replaceMetadata = options.metadata !== undefined || options.contentType !== undefined;
  const output = await limitedRequest(ctx, `CopyObject ${from.key} → ${to.key}`, () =>
    ctx.client.send(
      new CopyObjectCommand({
        Bucket: to.bucket,
        Key: to.key,
        CopySource: copySourceOf(from),
        ...(from.etag ? { CopySourceIfMatch: `"${from.etag}"` } : {}),
        MetadataDirective: replaceMetadata ? 'REPLACE' : 'COPY',
        ...(replaceMetadata ? storedHeaders(from, head, options) : {}),
        TaggingDirective: options.tags !== undefined ? 'REPLACE' : 'COPY',
        ...(options.tags !== undefined ? { Tagging: taggingOf(options.tags) } : {}),
        ...placementFields(from, options),
      }),
      { abortSignal: ctx.signal },
    ),
  );
  return { versionId: output.VersionId && output.VersionId !== 'null' ? output.VersionId : null, parts: 1, expectedEtag: from.etag };
}

/**
 * UploadPartCopy, part for part in the source's own layout: each copied part's ETag is the MD5 of
 * that range of the source, so the MD5 of the part ETags must give the source's multipart ETag back
 * before the upload is completed. A single-part source (only above a lowered limit) is copied as one
 * part, whose ETag must be the source's MD5.
 */
async function copyInParts(
  ctx: TransferContext,
  from: HeadDetails,
  head: HeadObjectCommandOutput,
  partCount: number | undefined,
  to: ObjectRef,
  options: CopyOptions,
  layout: 'guess' | 'exact',
): Promise<CopyResult> {
  if (partCount === undefined && from.size > MAX_SINGLE_COPY) throw failure(`${formatS3Url(from)}: a single-part object over 5 GiB cannot exist; the server's ETag ${from.etag ?? ''} is not understood`);
  const sizes =
    partCount === undefined
      ? [from.size]
      : await partSizes(ctx, { ref: from, size: from.size, etag: from.etag ?? '', partCount, versionId: from.versionId ?? undefined }, { exact: layout === 'exact' });
  const tags = options.tags ?? (await objectTags(ctx, from, from.versionId ?? undefined));
  if (tags === null) ctx.events.emit('warning', { message: `${formatS3Url(from)}: the server gives no tags to copy; the copy has none`, ref: to });
  const { CreateMultipartUploadCommand, UploadPartCopyCommand, CompleteMultipartUploadCommand, AbortMultipartUploadCommand } = await sdk();
  const created = await retrying(ctx, `CreateMultipartUpload ${to.key}`, () =>
    ctx.client.send(
      new CreateMultipartUploadCommand({
        Bucket: to.bucket,
        Key: to.key,
        ...storedHeaders(from, head, options),
        ...(tags && Object.keys(tags).length > 0 ? { Tagging: taggingOf(tags) } : {}),
        ...placementFields(from, options),
      }),
      { abortSignal: ctx.signal },
    ),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw failure(`the server returned no upload id for ${formatS3Url(to)}`);
  try {
    let start = 0;
    const ranges = sizes.map((size, index) => {
      const range = { partNumber: index + 1, start, end: start + size };
      start += size;
      return range;
    });
    const parts = await settleAll(
      ctx,
      ranges.map((range) =>
        limitedRequest(ctx, `UploadPartCopy ${range.partNumber} of ${to.key}`, async () => {
          const output = await ctx.client.send(
            new UploadPartCopyCommand({
              Bucket: to.bucket,
              Key: to.key,
              UploadId: uploadId,
              PartNumber: range.partNumber,
              CopySource: copySourceOf(from),
              ...(from.etag ? { CopySourceIfMatch: `"${from.etag}"` } : {}),
              CopySourceRange: `bytes=${range.start}-${range.end - 1}`,
            }),
            { abortSignal: ctx.signal },
          );
          const etag = normalizeEtag(output.CopyPartResult?.ETag);
          if (!etag) throw failure(`the server returned no ETag for part ${range.partNumber} of ${formatS3Url(to)}`);
          return { PartNumber: range.partNumber, ETag: etag, encryption: output.ServerSideEncryption as string | undefined };
        }),
      ),
    );
    // The destination's encryption (a flag, or the bucket's default that only the answers tell) decides
    // whether the parts' ETags are MD5s at all: under SSE-KMS they are not, and the copy is proven after.
    const destinationEncryptions = [created.ServerSideEncryption as string | undefined, placementFields(from, options).ServerSideEncryption as string | undefined, ...parts.map((part) => part.encryption)];
    const partEtagsAreMd5 = destinationEncryptions.every((sse) => etagReflectsContent({ serverSideEncryption: sse }));
    const check = () => expectedPartEtag(from, parts.map((part) => part.ETag), layout === 'guess' && partCount !== undefined);
    const expectedEtag = partEtagsAreMd5 ? await check().catch(async (error: unknown) => {
      // Some servers (MinIO) do not say a bucket's default SSE-KMS in these answers: where the parts do
      // not add up, the bucket's default encryption tells whether their ETags were MD5s at all.
      if (await bucketDefaultIsKms(ctx, to.bucket)) return undefined;
      throw error;
    }) : undefined;
    const completed = await retrying(ctx, `CompleteMultipartUpload ${to.key}`, () =>
      ctx.client.send(
        new CompleteMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId: uploadId, MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.PartNumber, ETag: `"${part.ETag}"` })) } }),
        { abortSignal: ctx.signal },
      ),
    );
    return { versionId: completed.VersionId && completed.VersionId !== 'null' ? completed.VersionId : null, parts: parts.length, expectedEtag, partSizes: sizes };
  } catch (error) {
    await retrying(ctx, `AbortMultipartUpload ${to.key}`, () => ctx.client.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId: uploadId })), undefined).catch(
      (abortError: unknown) =>
        ctx.events.emit('warning', { message: `could not abort the multipart copy to ${formatS3Url(to)}: ${describeError(abortError)}; see \`datalake uploads ls\``, ref: to }),
    );
    throw error;
  }
}

/**
 * The ETag the completed copy must have, checked against the parts before completing: the source's
 * multipart ETag (part MD5s in its own layout), or for a single-part source copied as one part, that
 * part's ETag must be the source's MD5. Undefined when the ETags are not MD5s (SSE-KMS, SSE-C).
 */
async function expectedPartEtag(from: HeadDetails, partEtags: string[], layoutGuessed: boolean): Promise<string | undefined> {
  if (!from.etag || !etagReflectsContent({ serverSideEncryption: from.serverSideEncryption ?? undefined }) || !partEtags.every(isPlainMd5Etag)) return undefined;
  const combined = multipartEtag(partEtags.map((etag) => Buffer.from(etag, 'hex')));
  if (isPlainMd5Etag(from.etag)) {
    if (partEtags.length !== 1 || partEtags[0] !== from.etag) throw new ContentMismatch(`the copy of ${formatS3Url(from)} did not verify: its part ETag ${partEtags.join(',')} is not the source's MD5 ${from.etag}`);
    return combined;
  }
  if (combined !== from.etag && layoutGuessed) throw new LayoutGuessedWrong();
  if (combined !== from.etag) throw new ContentMismatch(`the copy of ${formatS3Url(from)} did not verify: its parts give ETag ${combined}, the source's is ${from.etag}`);
  return combined;
}

/**
 * A multipart source whose copy's ETag cannot prove it (SSE-KMS on either side) but that carries a
 * full-object checksum: one CopyObject keeps that checksum, where part copies (UploadPartCopy, which
 * some servers will not add checksums to) would leave the copy with no proof at all.
 */
async function onlyChecksumProvesParts(ctx: TransferContext, from: HeadDetails, to: ObjectRef, options: CopyOptions): Promise<boolean> {
  if (from.checksums.type !== 'FULL_OBJECT') return false;
  if (!etagReflectsContent({ serverSideEncryption: from.serverSideEncryption ?? undefined })) return true;
  const asked = placementFields(from, options).ServerSideEncryption as string | undefined;
  return !etagReflectsContent({ serverSideEncryption: asked }) || (asked === undefined && (await bucketDefaultIsKms(ctx, to.bucket)));
}

/** Whether the bucket encrypts with SSE-KMS by default; false when that cannot be read (not allowed, none set). */
async function bucketDefaultIsKms(ctx: TransferContext, bucket: string): Promise<boolean> {
  const { GetBucketEncryptionCommand } = await sdk();
  const answer = await retrying(ctx, `GetBucketEncryption ${bucket}`, () => ctx.client.send(new GetBucketEncryptionCommand({ Bucket: bucket }), { abortSignal: ctx.signal })).catch(() => undefined);
  return (answer?.ServerSideEncryptionConfiguration?.Rules ?? []).some((rule) => rule.ApplyServerSideEncryptionByDefault?.SSEAlgorithm?.startsWith('aws:kms'));
}

/** The parts copied in a layout guessed from the first and last part do not give the source's ETag. */
class LayoutGuessedWrong extends Error {}

/**
 * Proves the copy from what the server says of it, where that is computed from the copy's own bytes:
 * the ETag where both ETags are MD5s, else a full-object checksum; the sizes always. Undefined when
 * neither applies (SSE-KMS without a checksum): the copy must then be read back. A stored MD5
 * (md5chksum) is never a proof here: it is metadata copied from the source, not a hash of the copy.
 */
export function proveCopy(from: HeadDetails, copy: HeadDetails, expectedEtag: string | undefined): 'etag' | 'checksum' | undefined {
  const where = `the copy ${formatS3Url(copy)} of ${formatS3Url(from)}`;
  if (copy.size !== from.size) throw new ContentMismatch(`${where} did not verify: ${copy.size} bytes, the source has ${from.size}`);
  const etagsCount =
    expectedEtag !== undefined &&
    etagReflectsContent({ serverSideEncryption: from.serverSideEncryption ?? undefined }) &&
    etagReflectsContent({ serverSideEncryption: copy.serverSideEncryption ?? undefined });
  if (etagsCount) {
    if (copy.etag !== expectedEtag) throw new ContentMismatch(`${where} did not verify: ETag ${copy.etag ?? 'none'}, expected ${expectedEtag}`);
    return 'etag';
  }
  const shared = sharedFullObjectChecksum(from.checksums, copy.checksums);
  if (shared) {
    if (shared.copy !== shared.source) throw new ContentMismatch(`${where} did not verify: ${shared.name} ${shared.copy}, the source's is ${shared.source}`);
    return 'checksum';
  }
  return undefined;
}

/**
 * Reads the copy (that very version) back and hashes it against the source's own proof: its
 * full-object CRC32, its stored MD5, or its MD5 or multipart ETag. A source that offers none leaves
 * the sizes only ('size-only', which mv refuses to act on).
 */
async function readBack(ctx: TransferContext, from: HeadDetails, copy: HeadDetails, partSizes: number[] | undefined): Promise<CopyProof> {
  const crc32 = from.checksums.type === 'FULL_OBJECT' ? from.checksums.crc32 : undefined;
  const proof = contentProofOf({ etag: from.etag, crc32, metadata: from.metadata, serverSideEncryption: from.serverSideEncryption ?? undefined });
  // A composite CRC32 is not offered here (no compositeCrc32 passed): read-back hashes whole parts by MD5.
  if (proof.kind === 'none' || proof.kind === 'composite-crc32' || (proof.kind === 'multipart-etag' && partSizes === undefined)) return 'size-only';
  const { GetObjectCommand } = await sdk();
  const hashes = await limitedRequest(ctx, `GET ${copy.key} (read back)`, async () => {
    const output = await ctx.client.send(
      new GetObjectCommand({ Bucket: copy.bucket, Key: copy.key, ...(copy.versionId ? { VersionId: copy.versionId } : {}), ...(copy.etag ? { IfMatch: `"${copy.etag}"` } : {}) }),
      { abortSignal: ctx.signal },
    );
    return hashCopy(output.Body as AsyncIterable<Uint8Array>, partSizes ?? [copy.size]);
  });
  const where = `the copy ${formatS3Url(copy)} of ${formatS3Url(from)}, read back,`;
  const found =
    proof.kind === 'crc32' ? { name: 'CRC32', got: crc32ToBase64(hashes.crc32), want: proof.crc32 }
    : proof.kind === 'md5' ? { name: proof.source === 'metadata' ? 'MD5 (the source stores as md5chksum)' : 'MD5', got: hashes.md5, want: proof.md5 }
    : { name: 'multipart ETag', got: multipartEtag(hashes.partMd5s), want: proof.etag };
  if (found.got !== found.want) throw new ContentMismatch(`${where} did not verify: its ${found.name} is ${found.got}, the source's is ${found.want}`);
  return 'read-back';
}

/** CRC32, MD5 and the MD5 of each part (in the given sizes) of a stream, in one pass. */
async function hashCopy(body: AsyncIterable<Uint8Array>, partSizes: readonly number[]): Promise<{ crc32: number; md5: string; partMd5s: Buffer[] }> {
  let crc32 = 0;
  const whole = newMd5();
  const partMd5s: Buffer[] = [];
  let part = newMd5();
  let partIndex = 0;
  let leftInPart = partSizes[0] ?? 0;
  for await (const chunk of body) {
    crc32 = crc32Of(chunk, crc32);
    whole.update(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(leftInPart, chunk.length - offset);
      part.update(chunk.subarray(offset, offset + take));
      offset += take;
      leftInPart -= take;
      if (leftInPart === 0 && partIndex < partSizes.length) {
        partMd5s.push(part.digest());
        part = newMd5();
        partIndex += 1;
        leftInPart = partSizes[partIndex] ?? Number.POSITIVE_INFINITY;
      }
    }
  }
  return { crc32, md5: whole.digest('hex'), partMd5s };
}

function sharedFullObjectChecksum(source: StoredChecksums, copy: StoredChecksums): { name: string; source: string; copy: string } | undefined {
  if (source.type !== 'FULL_OBJECT' || copy.type !== 'FULL_OBJECT') return undefined;
  for (const name of ['crc64nvme', 'crc32c', 'crc32', 'sha256', 'sha1'] as const) {
    const [a, b] = [source[name], copy[name]];
    if (a !== undefined && b !== undefined) return { name, source: a, copy: b };
  }
  return undefined;
}

/**
 * Deletes the copy just written that did not prove: that exact version on a versioned bucket; on an
 * unversioned one, the object at the key only while a fresh look shows it is still that copy (a
 * writer that replaced it meanwhile is left alone).
 */
async function removeCopy(ctx: TransferContext, ref: ObjectRef, versionId: string | null, etag: string | undefined): Promise<void> {
  const { DeleteObjectCommand } = await sdk();
  try {
    if (!versionId) {
      const now = await findWithChecksums(ctx, ref);
      if (!now || normalizeEtag(now.ETag) !== etag) {
        ctx.events.emit('warning', { message: `the unproven copy ${formatS3Url(ref)} was replaced meanwhile; what is there now is left alone`, ref });
        return;
      }
    }
    await retrying(ctx, `DELETE ${ref.key}`, () => ctx.client.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(versionId ? { VersionId: versionId } : {}) })), undefined);
  } catch (error) {
    ctx.events.emit('warning', { message: `could not remove the unproven copy ${formatS3Url(ref)}: ${describeError(error)}`, ref });
  }
}

/**
 * `mv` of one object: copy, prove, and only then delete the source — never the other order. A copy
 * proven by its size alone is not enough to give the source up. The source is deleted only if it is
 * still the version that was copied; on a versioned bucket the delete makes a delete marker, as
 * `aws s3 mv` does, so the source version stays recoverable.
 */
export async function moveObject(ctx: TransferContext, source: ObjectRef, destination: ObjectRef, options: CopyOptions = {}): Promise<CopiedObject> {
  const outcome = await copyObject(ctx, source, destination, { ...options, noClobber: false });
  if (outcome.kind !== 'copied') throw failure(`${formatS3Url(source)} was not copied`);
  const copied = outcome.object;
  if (copied.verifiedBy === 'size-only') {
    throw failure(`the copy ${formatS3Url(destination)} could be checked by its size only; ${formatS3Url(source)} is kept`, {
      hint: 'the source has no MD5 ETag, stored MD5 or full-object checksum to hash the copy against; delete it yourself once satisfied',
    });
  }
  // The source must still be what was copied: a writer that replaced it meanwhile keeps it.
  const now = await findWithChecksums(ctx, source);
  if (!now) throw failure(`${formatS3Url(source)} disappeared after it was copied to ${formatS3Url(destination)}`);
  if (normalizeEtag(now.ETag) !== copied.sourceEtag || (copied.sourceVersionId !== null && now.VersionId !== copied.sourceVersionId)) {
    throw failure(`${formatS3Url(source)} changed after it was copied to ${formatS3Url(destination)}; it is kept`, { hint: 'run the move again' });
  }
  const { DeleteObjectCommand } = await sdk();
  try {
    await retrying(ctx, `DELETE ${source.key}`, () => ctx.client.send(new DeleteObjectCommand({ Bucket: source.bucket, Key: source.key }), { abortSignal: ctx.signal }));
  } catch (error) {
    if (isFatalForRun(error)) throw error;
    throw failure(`${formatS3Url(source)} was copied to ${formatS3Url(destination)} and proven, but could not be deleted: ${describeError(explainError(error, { bucket: source.bucket }))}`, {
      hint: 'both are there now; run the move again or delete the source',
      cause: error,
    });
  }
  return copied;
}
