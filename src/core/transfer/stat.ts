import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { md5FromMetadata, multipartEtagPartCount, normalizeEtag } from '../integrity/checksums.js';
import { controlRequest, type TransferContext } from '../s3/context.js';
import { failure } from '../errors.js';
import { isNotFound, missingObjectOrBucket } from '../s3/objects.js';
import { evenPartSizesGuess, partSizesOf, type MultipartObject } from './part-layout.js';
import { errorCodeOf, httpStatusOf } from '../s3/retry.js';
import { sdk } from '../s3/sdk.js';

/** The checksums S3 keeps beside an object (base64, as S3 shows them), and whether they cover the whole object. */
export interface StoredChecksums {
  crc32?: string;
  crc32c?: string;
  crc64nvme?: string;
  sha1?: string;
  sha256?: string;
  /** `FULL_OBJECT`, or `COMPOSITE` (a checksum of the parts' checksums, `-N`). */
  type?: string;
}

/**
 * Whether the object carries checksums of its whole content: FULL_OBJECT, or, from a server that names
 * no type (SeaweedFS for a single PUT), values that are not a composite `…-N`, as downloads read them (objects.ts).
 */
export function hasWholeObjectChecksum(checksums: StoredChecksums): boolean {
  const values = [checksums.crc32, checksums.crc32c, checksums.crc64nvme, checksums.sha1, checksums.sha256].filter((value) => value !== undefined);
  if (values.length === 0) return false;
  return checksums.type !== undefined ? checksums.type === 'FULL_OBJECT' : values.every((value) => !/-\d+$/.test(value));
}

/** Everything one object carries but its bytes. */
export interface ObjectDetails {
  bucket: string;
  key: string;
  /** null on an unversioned bucket. */
  versionId: string | null;
  size: number;
  etag: string | undefined;
  lastModified: string | null;
  contentType: string | null;
  /** Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires, as stored. */
  headers: Record<string, string>;
  /** STANDARD when the server names none. */
  storageClass: string;
  serverSideEncryption: string | null;
  sseKmsKeyId: string | null;
  /** User metadata (`x-amz-meta-*`), md5chksum included. */
  metadata: Record<string, string>;
  /** Hex MD5 of the whole content, from md5chksum, when stored. */
  md5: string | null;
  checksums: StoredChecksums;
  /** null when the server does not give tags (not implemented, or not allowed). */
  tags: Record<string, string> | null;
  /** null for an object written in one PUT. */
  parts: { count: number; sizes: number[] } | null;
}

/** What one HEAD tells. */
export type HeadDetails = Omit<ObjectDetails, 'tags' | 'parts'>;

/** A HEAD through the SDK with `x-amz-checksum-mode: ENABLED`, so the stored checksums come back too. */
export async function headWithChecksums(ctx: TransferContext, ref: ObjectRef, versionId?: string, partNumber?: number): Promise<HeadObjectCommandOutput> {
  try {
    return await headOf(ctx, ref, versionId, partNumber);
  } catch (error) {
    if (isNotFound(error)) throw await missingObjectOrBucket(ctx, ref, versionId, error);
    throw error;
  }
}

/** The same; undefined when the object does not exist. */
export async function findWithChecksums(ctx: TransferContext, ref: ObjectRef, versionId?: string, partNumber?: number): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await headOf(ctx, ref, versionId, partNumber);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function headOf(ctx: TransferContext, ref: ObjectRef, versionId?: string, partNumber?: number): Promise<HeadObjectCommandOutput> {
  const { HeadObjectCommand } = await sdk();
  try {
    return await controlRequest(ctx, `HEAD ${ref.key}${partNumber ? ` part ${partNumber}` : ''}`, () =>
      ctx.client.send(
        new HeadObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          ChecksumMode: 'ENABLED',
          ...(versionId ? { VersionId: versionId } : {}),
          ...(partNumber ? { PartNumber: partNumber } : {}),
        }),
        { abortSignal: ctx.signal },
      ),
    );
  } catch (error) {
    // HEAD of a delete marker's version id: S3 answers 405 (x-amz-delete-marker), with no error body.
    if (versionId !== undefined && httpStatusOf(error) === 405) {
      throw failure(`${formatS3Url(ref)} version ${versionId} is a delete marker, not a version of the object`, { hint: 'list the versions with `aws s3api list-object-versions`' });
    }
    throw error;
  }
}

export function checksumsOf(head: Pick<HeadObjectCommandOutput, 'ChecksumCRC32' | 'ChecksumCRC32C' | 'ChecksumCRC64NVME' | 'ChecksumSHA1' | 'ChecksumSHA256' | 'ChecksumType'>): StoredChecksums {
  return {
    ...(head.ChecksumCRC32 ? { crc32: head.ChecksumCRC32 } : {}),
    ...(head.ChecksumCRC32C ? { crc32c: head.ChecksumCRC32C } : {}),
    ...(head.ChecksumCRC64NVME ? { crc64nvme: head.ChecksumCRC64NVME } : {}),
    ...(head.ChecksumSHA1 ? { sha1: head.ChecksumSHA1 } : {}),
    ...(head.ChecksumSHA256 ? { sha256: head.ChecksumSHA256 } : {}),
    ...(head.ChecksumType ? { type: head.ChecksumType } : {}),
  };
}

/** The object's tags; null when the server does not implement or allow GetObjectTagging. */
export async function objectTags(ctx: TransferContext, ref: ObjectRef, versionId?: string): Promise<Record<string, string> | null> {
  const { GetObjectTaggingCommand } = await sdk();
  try {
    const output = await controlRequest(ctx, `GetObjectTagging ${ref.key}`, () =>
      ctx.client.send(new GetObjectTaggingCommand({ Bucket: ref.bucket, Key: ref.key, ...(versionId ? { VersionId: versionId } : {}) }), { abortSignal: ctx.signal }),
    );
    return Object.fromEntries((output.TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  } catch (error) {
    if (isUnsupported(error)) return null;
    throw error;
  }
}

/**
 * The size of each part of a multipart object, in order (transfer/part-layout.ts finds them). `guess`
 * takes the even cut part 1 suggests, as every common uploader makes it, when its sizes add up — a
 * copy's ETag check catches a guess that was wrong; `exact` asks the server for every part.
 */
export async function partSizes(ctx: TransferContext, object: MultipartObject, options: { exact?: boolean } = {}): Promise<number[]> {
  if (object.partCount === 1) return [object.size];
  const sizes = (options.exact ? undefined : await evenPartSizesGuess(ctx, object)) ?? (await partSizesOf(ctx, object));
  if (!sizes) throw failure(`the server does not tell the sizes of the parts of ${formatS3Url(object.ref)}`, { hint: 'it ignores partNumber and has no GetObjectAttributes' });
  return sizes;
}

/** An answer that says the server does not do this, rather than that something went wrong. */
function isUnsupported(error: unknown): boolean {
  const code = errorCodeOf(error);
  const status = httpStatusOf(error);
  return code === 'NotImplemented' || code === 'InvalidArgument' || code === 'MethodNotAllowed' || code === 'InvalidRequest' || status === 501 || status === 405;
}

/** `datalake stat`: one HEAD (checksums enabled), the tags, and the parts' sizes of a multipart object. */
export async function statObject(ctx: TransferContext, ref: ObjectRef, versionId?: string): Promise<ObjectDetails> {
  const head = await headWithChecksums(ctx, ref, versionId);
  const pinned = head.VersionId && head.VersionId !== 'null' ? head.VersionId : undefined;
  const details = detailsFromHead(ref, head);
  const etagParts = details.etag ? multipartEtagPartCount(details.etag) : undefined;
  const partCount = etagParts ?? (head.PartsCount && head.PartsCount > 1 ? head.PartsCount : undefined);
  const [tags, sizes] = await Promise.all([
    objectTags(ctx, ref, pinned),
    partCount === undefined || !details.etag
      ? Promise.resolve(undefined)
      : partSizes(ctx, { ref, size: details.size, etag: details.etag, partCount, versionId: pinned }, { exact: true }),
  ]);
  return { ...details, tags, parts: sizes ? { count: sizes.length, sizes } : null };
}

export function detailsFromHead(ref: ObjectRef, head: HeadObjectCommandOutput): HeadDetails {
  const headers: Record<string, string> = {};
  if (head.CacheControl) headers['cache-control'] = head.CacheControl;
  if (head.ContentDisposition) headers['content-disposition'] = head.ContentDisposition;
  if (head.ContentEncoding) headers['content-encoding'] = head.ContentEncoding;
  if (head.ContentLanguage) headers['content-language'] = head.ContentLanguage;
  if (head.ExpiresString) headers.expires = head.ExpiresString;
  const metadata = head.Metadata ?? {};
  return {
    bucket: ref.bucket,
    key: ref.key,
    versionId: head.VersionId && head.VersionId !== 'null' ? head.VersionId : null,
    size: head.ContentLength ?? 0,
    etag: normalizeEtag(head.ETag),
    lastModified: head.LastModified?.toISOString() ?? null,
    contentType: head.ContentType ?? null,
    headers,
    storageClass: head.StorageClass ?? 'STANDARD',
    serverSideEncryption: head.ServerSideEncryption ?? null,
    sseKmsKeyId: head.SSEKMSKeyId ?? null,
    metadata,
    md5: md5FromMetadata(metadata) ?? null,
    checksums: checksumsOf(head),
  };
}
