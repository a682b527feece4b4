/**
 * The requests that make a server-side copy: one CopyObject for a single-part object up to 5 GiB,
 * else the one multipart upload (multipart-upload.ts) with its parts copied by UploadPartCopy in the
 * source's own layout (their ETags checked to give the source's multipart ETag before completing,
 * and the source's full-object CRC32 kept where the server takes it); an empty PUT for a folder
 * marker a server will not copy; how the copy is stored (the flags', else the source's).
 */
import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { MD5_METADATA_KEY, isPlainMd5Etag, multipartEtag } from '../integrity/checksums.js';
import { etagReflectsContent } from '../integrity/content-proof.js';
import { dataRequest, controlRequest, type TransferContext } from '../s3/context.js';
import { ContentMismatch, failure } from '../errors.js';
import { GiB } from '../config/units.js';
import { sdk } from '../s3/sdk.js';
import { errorCodeOf } from '../s3/retry.js';
import { hasWholeObjectChecksum, objectTags, partSizes, type HeadDetails } from './stat.js';
import type { ServerSideEncryption } from './put-options.js';
import { abortQuietly, completeMultipartUpload, copyParts, createMultipartUpload, type CopySource, type PartToCopy, type StartedUpload, type UploadedPart } from './multipart-upload.js';
import { partsOfSizes } from './parts.js';

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
  /**
   * The source was just read from a listing (a recursive run): --no-clobber may skip it on the
   * destination's HEAD alone. A source named by the user is looked at first, so a missing one fails.
   */
  sourceListed?: boolean;
  /** Largest single-part source sent as one CopyObject; S3's limit by default, lowered by tests. */
  singleCopyLimit?: number;
}

/** What a copy request left: the version written, how many requests copied it, the ETag it must have. */
export interface CopyResult {
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
    ...(head.Expires ? { Expires: head.Expires } : {}),
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

/** The same fields as the headers of a CreateMultipartUpload sent without the SDK. */
function storedAsHeaders(fields: ReturnType<typeof storedHeaders> & ReturnType<typeof placementFields> & { Tagging?: string }): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields.Metadata)) headers[`x-amz-meta-${name}`] = value;
  const named: Array<[string, string | undefined]> = [
    ['content-type', fields.ContentType],
    ['cache-control', fields.CacheControl],
    ['content-disposition', fields.ContentDisposition],
    ['content-encoding', fields.ContentEncoding],
    ['content-language', fields.ContentLanguage],
    ['expires', fields.Expires?.toUTCString()],
    ['x-amz-tagging', fields.Tagging],
    ['x-amz-storage-class', fields.StorageClass as string | undefined],
    ['x-amz-server-side-encryption', fields.ServerSideEncryption as string | undefined],
    ['x-amz-server-side-encryption-aws-kms-key-id', fields.SSEKMSKeyId],
  ];
  for (const [name, value] of named) if (value) headers[name] = value;
  return headers;
}

export async function copyWhole(ctx: TransferContext, from: HeadDetails, head: HeadObjectCommandOutput, to: ObjectRef, options: CopyOptions): Promise<CopyResult> {
  const { CopyObjectCommand } = await sdk();
  // A source with Expires has its headers stated again (REPLACE, the same values): MinIO drops Expires
  // from a CopyObject that copies them (COPY).
  const replaceMetadata = options.metadata !== undefined || options.contentType !== undefined || head.Expires !== undefined;
  const output = await dataRequest(ctx, `CopyObject ${from.key} → ${to.key}`, () =>
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
        // --no-clobber: the copy itself is conditional where the server honours it (S3; MinIO ignores
        // it on CopyObject, where only the look before the copy stands).
        ...(options.noClobber ? { IfNoneMatch: '*' } : {}),
      }),
      { abortSignal: ctx.signal },
    ),
  );
  return { versionId: output.VersionId && output.VersionId !== 'null' ? output.VersionId : null, parts: 1, expectedEtag: from.etag };
}

/**
 * A folder marker (a zero-byte key ending in `/`) where the server will not copy one (SeaweedFS,
 * whose markers are its folders, answers CopyObject with NoSuchKey): made anew with an empty PUT that
 * states what the source has — metadata, tags, content headers, storage class, encryption. No bytes
 * pass: there are none. Its ETag must be the source's (the MD5 of nothing), as a copy's.
 */
export async function putMarker(ctx: TransferContext, from: HeadDetails, head: HeadObjectCommandOutput, to: ObjectRef, options: CopyOptions): Promise<CopyResult> {
  if (from.size !== 0 || !from.key.endsWith('/')) throw new Error(`internal: ${formatS3Url(from)} is not a zero-byte folder marker`);
  const { PutObjectCommand } = await sdk();
  const tags = options.tags ?? (await objectTags(ctx, from, from.versionId ?? undefined)) ?? {};
  const output = await dataRequest(ctx, `PUT ${to.key} (a folder marker, as ${from.key})`, () =>
    ctx.client.send(
      new PutObjectCommand({
        Bucket: to.bucket,
        Key: to.key,
        Body: new Uint8Array(0),
        ...storedHeaders(from, head, options),
        ...(Object.keys(tags).length > 0 ? { Tagging: taggingOf(tags) } : {}),
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
 * part, whose ETag must be the source's MD5. `progress` is told the bytes of each part copied, and
 * told them back (negative) for parts whose upload is given up.
 */
export async function copyInParts(
  ctx: TransferContext,
  from: HeadDetails,
  head: HeadObjectCommandOutput,
  partCount: number | undefined,
  to: ObjectRef,
  options: CopyOptions,
  layout: 'guess' | 'exact',
  progress?: (bytes: number) => void,
): Promise<CopyResult> {
  if (partCount === undefined && from.size > MAX_SINGLE_COPY) throw failure(`${formatS3Url(from)}: a single-part object over 5 GiB cannot exist; the server's ETag ${from.etag ?? ''} is not understood`);
  const sizes =
    partCount === undefined
      ? [from.size]
      : await partSizes(ctx, { ref: from, size: from.size, etag: from.etag ?? '', partCount, versionId: from.versionId ?? undefined }, { exact: layout === 'exact' });
  const tags = options.tags ?? (await objectTags(ctx, from, from.versionId ?? undefined));
  if (tags === null) ctx.events.emit('warning', { message: `${formatS3Url(from)}: the server gives no tags to copy; the copy has none`, ref: to });
  const stored = storedAsHeaders({
    ...storedHeaders(from, head, options),
    ...(tags && Object.keys(tags).length > 0 ? { Tagging: taggingOf(tags) } : {}),
    ...placementFields(from, options),
  });
  // The source's full-object CRC32 is the copy's too (the same bytes): asked for, and sent at completion
  // for the server to check, where the server takes part copies into such an upload (not MinIO).
  const crc32 = hasWholeObjectChecksum(from.checksums) ? from.checksums.crc32 : undefined;
  const upload = await startAndCopyParts(ctx, to, stored, { ref: from, versionId: from.versionId, etag: from.etag }, partsOfSizes(sizes), { fullObjectCrc32: crc32 !== undefined }, (bytes) => progress?.(bytes));
  try {
    const { parts } = upload;
    // The destination's encryption (a flag, or the bucket's default that only the answers tell) decides
    // whether the parts' ETags are MD5s at all: under SSE-KMS they are not, and the copy is proven after.
    const asked = placementFields(from, options).ServerSideEncryption as string | undefined;
    const partEtagsAreMd5 = upload.etagReflectsContent && etagReflectsContent({ serverSideEncryption: asked }) && parts.every((part) => part.etagIsMd5 !== false);
    const check = () => expectedPartEtag(from, parts.map((part) => part.etag), layout === 'guess' && partCount !== undefined);
    const expectedEtag = partEtagsAreMd5 ? await check().catch(async (error: unknown) => {
      // Some servers (MinIO) do not say a bucket's default SSE-KMS in these answers: where the parts do
      // not add up, the bucket's default encryption tells whether their ETags were MD5s at all.
      if (await bucketDefaultIsKms(ctx, to.bucket)) return undefined;
      throw error;
    }) : undefined;
    const completed = await completeMultipartUpload(ctx, to, upload.uploadId, parts, {
      checkEtag: expectedEtag !== undefined,
      size: from.size,
      fullObjectCrc32: upload.fullObjectCrc32,
      crc32: upload.fullObjectCrc32 ? crc32 : undefined,
      ifNoneMatch: options.noClobber,
    });
    return { versionId: completed.versionId && completed.versionId !== 'null' ? completed.versionId : null, parts: parts.length, expectedEtag, partSizes: sizes };
  } catch (error) {
    await abortQuietly(ctx, to, upload.uploadId);
    // Every part was copied into the upload given up.
    if (from.size !== 0) progress?.(-from.size);
    throw error;
  }
}

/** An upload whose parts were copied, and whether it asked for a full-object CRC32. */
interface CopiedUpload extends StartedUpload {
  parts: UploadedPart[];
  fullObjectCrc32: boolean;
}

/**
 * Starts an upload and copies the parts of `source` into it (copyParts), asking for a full-object
 * CRC32 when `fullObjectCrc32` is set, so that the copy can keep its source's. A server that refuses
 * a part copied into such an upload (MinIO: InvalidArgument, "checksum missing": its UploadPartCopy
 * computes no checksum) has the parts copied again into an upload without one: the copy then keeps
 * no CRC32, and that is no failure. On any other failure the upload is aborted and the error thrown.
 */
async function startAndCopyParts(
  ctx: TransferContext,
  to: ObjectRef,
  stored: Record<string, string>,
  source: CopySource,
  parts: readonly PartToCopy[],
  { fullObjectCrc32 }: { fullObjectCrc32: boolean },
  copied: (bytes: number) => void,
): Promise<CopiedUpload> {
  const upload = await createMultipartUpload(ctx, to, stored, { fullObjectCrc32 });
  let copiedHere = 0;
  const counted = (bytes: number) => {
    copiedHere += bytes;
    copied(bytes);
  };
  try {
    return { ...upload, parts: await copyParts(ctx, to, upload.uploadId, source, parts, counted), fullObjectCrc32 };
  } catch (error) {
    await abortQuietly(ctx, to, upload.uploadId);
    // The parts copied into the upload given up are told back: copied again below, or not at all.
    if (copiedHere !== 0) copied(-copiedHere);
    if (!fullObjectCrc32 || errorCodeOf(error) !== 'InvalidArgument') throw error;
  }
  return startAndCopyParts(ctx, to, stored, source, parts, { fullObjectCrc32: false }, copied);
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
export async function onlyChecksumProvesParts(ctx: TransferContext, from: HeadDetails, to: ObjectRef, options: CopyOptions): Promise<boolean> {
  if (!hasWholeObjectChecksum(from.checksums)) return false;
  if (!etagReflectsContent({ serverSideEncryption: from.serverSideEncryption ?? undefined })) return true;
  const asked = placementFields(from, options).ServerSideEncryption as string | undefined;
  return !etagReflectsContent({ serverSideEncryption: asked }) || (asked === undefined && (await bucketDefaultIsKms(ctx, to.bucket)));
}

/** Whether the bucket encrypts with SSE-KMS by default; false when that cannot be read (not allowed, none set). */
export async function bucketDefaultIsKms(ctx: TransferContext, bucket: string): Promise<boolean> {
  const { GetBucketEncryptionCommand } = await sdk();
  const answer = await controlRequest(ctx, `GetBucketEncryption ${bucket}`, () => ctx.client.send(new GetBucketEncryptionCommand({ Bucket: bucket }), { abortSignal: ctx.signal })).catch(() => undefined);
  return (answer?.ServerSideEncryptionConfiguration?.Rules ?? []).some((rule) => rule.ApplyServerSideEncryptionByDefault?.SSEAlgorithm?.startsWith('aws:kms'));
}

/** The parts copied in a layout guessed from the first and last part do not give the source's ETag. */
export class LayoutGuessedWrong extends Error {}
