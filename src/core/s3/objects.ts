import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { failure } from '../errors.js';
import { httpStatusOf, errorCodeOf } from './retry.js';
import { controlRequest, laneRequest, type Lane, type TransferContext } from './context.js';
import { compositeCrc32Parts, crc32FromBase64, normalizeEtag } from '../integrity/checksums.js';
import { headerText, metadataFromHeaders, type HeaderBag } from './requests.js';
import { sdk } from './sdk.js';

/** What HEAD tells about an object, in our own names. */
export interface ObjectHead {
  ref: ObjectRef;
  size: number;
  etag: string | undefined;
  /** The full-object CRC32 (base64) the server keeps for it, if any; a composite one is not kept here. */
  crc32: string | undefined;
  /** A composite CRC32 (`<base64>-N`, the CRC32 of the part CRC32s), if that is what it keeps. */
  compositeCrc32?: string | undefined;
  /** The same two for CRC32C, for objects other tools uploaded with it. */
  crc32c?: string | undefined;
  compositeCrc32c?: string | undefined;
  lastModified: Date | undefined;
  metadata: Record<string, string>;
  contentType: string | undefined;
  serverSideEncryption: string | undefined;
  customerKey: boolean;
  storageClass: string | undefined;
}

export function isNotFound(error: unknown): boolean {
  const code = errorCodeOf(error);
  return httpStatusOf(error) === 404 || code === 'NotFound' || code === 'NoSuchKey';
}

/** The headers HEAD and a whole-object GET share. */
type ObjectHeaders = Pick<
  HeadObjectCommandOutput,
  'ContentLength' | 'ETag' | 'LastModified' | 'Metadata' | 'ContentType' | 'ServerSideEncryption' | 'SSECustomerAlgorithm' | 'StorageClass' | 'ChecksumCRC32' | 'ChecksumCRC32C' | 'ChecksumType'
>;

/**
 * A CRC32 (or CRC32C) that covers the whole object: FULL_OBJECT, or a plain value from a server that names no
 * type. A COMPOSITE one (a CRC of part CRCs, `…-N`) is kept apart: it proves the parts fetched by number.
 */
function fullObjectCrc32(value: string | undefined, type: string | undefined): string | undefined {
  if (value === undefined || (type !== undefined && type !== 'FULL_OBJECT')) return undefined;
  return crc32FromBase64(value) === undefined ? undefined : value;
}

export function headFromOutput(ref: ObjectRef, output: ObjectHeaders): ObjectHead {
  return {
    ref,
    size: output.ContentLength ?? 0,
    etag: normalizeEtag(output.ETag),
    crc32: fullObjectCrc32(output.ChecksumCRC32, output.ChecksumType),
    compositeCrc32: compositeCrc32Parts(output.ChecksumCRC32) && output.ChecksumType !== 'FULL_OBJECT' ? output.ChecksumCRC32 : undefined,
    crc32c: fullObjectCrc32(output.ChecksumCRC32C, output.ChecksumType),
    compositeCrc32c: compositeCrc32Parts(output.ChecksumCRC32C) && output.ChecksumType !== 'FULL_OBJECT' ? output.ChecksumCRC32C : undefined,
    lastModified: output.LastModified,
    metadata: output.Metadata ?? {},
    contentType: output.ContentType,
    serverSideEncryption: output.ServerSideEncryption,
    customerKey: output.SSECustomerAlgorithm !== undefined,
    storageClass: output.StorageClass,
  };
}

/**
 * The same, read from the raw headers of a direct HEAD or GET. S3 names every object by an ETag: an
 * answer without one (a web page, a proxy's own 200) is not about an object, and nothing is fetched
 * or written on its word.
 */
export function headFromHeaders(ref: ObjectRef, headers: HeaderBag): ObjectHead {
  if (!headerText(headers, 'etag')) {
    throw failure(`${formatS3Url(ref)}: the server's answer has no ETag, so it is not an S3 object`, { hint: 'check that the endpoint is an S3 service' });
  }
  const lastModified = headerText(headers, 'last-modified');
  return headFromOutput(ref, {
    ContentLength: Number(headerText(headers, 'content-length') ?? 0),
    ETag: headerText(headers, 'etag'),
    ChecksumCRC32: headerText(headers, 'x-amz-checksum-crc32'),
    ChecksumCRC32C: headerText(headers, 'x-amz-checksum-crc32c'),
    ChecksumType: headerText(headers, 'x-amz-checksum-type') as ObjectHeaders['ChecksumType'],
    LastModified: lastModified ? new Date(lastModified) : undefined,
    Metadata: metadataFromHeaders(headers),
    ContentType: headerText(headers, 'content-type'),
    ServerSideEncryption: headerText(headers, 'x-amz-server-side-encryption') as ObjectHeaders['ServerSideEncryption'],
    SSECustomerAlgorithm: headerText(headers, 'x-amz-server-side-encryption-customer-algorithm'),
    StorageClass: headerText(headers, 'x-amz-storage-class') as ObjectHeaders['StorageClass'],
  });
}

/** HEAD an object; a missing one is a clear failure naming it. */
export async function headObject(ctx: TransferContext, ref: ObjectRef, lane: Lane = 'control'): Promise<ObjectHead> {
  try {
    return await headOf(ctx, ref, lane);
  } catch (error) {
    if (isNotFound(error)) throw await missingObjectOrBucket(ctx, ref, undefined, error);
    throw error;
  }
}

/**
 * A HEAD's 404 has no body to say whether the object (or the version asked for) or its whole bucket
 * is missing: one HEAD of the bucket tells, so the message names what is really missing (only on
 * this failing path). Its headers do tell one thing: that the object's latest version is a delete
 * marker (`x-amz-delete-marker: true`, with the marker's version id), on a versioned bucket — said so,
 * since older versions may still be there.
 */
export async function missingObjectOrBucket(ctx: TransferContext, ref: ObjectRef, versionId?: string, notFound?: unknown): Promise<Error> {
  const { HeadBucketCommand } = await sdk();
  try {
    await controlRequest(ctx, 'HeadBucket', () => ctx.client.send(new HeadBucketCommand({ Bucket: ref.bucket }), { abortSignal: ctx.signal }));
  } catch (error) {
    if (isNotFound(error)) return failure(`no such bucket '${ref.bucket}'`, { hint: 'check the name, or create it with `datalake init`', code: 'NoSuchBucket' });
  }
  if (versionId !== undefined) return failure(`no version '${versionId}' of ${formatS3Url(ref)}`, { hint: 'list its versions with `aws s3api list-object-versions`', code: 'NoSuchVersion' });
  return noSuchObject(ref, notFound);
}

/** A not-found answer that says the object's latest version is a delete marker: that marker's version id, if given. */
function latestDeleteMarker(notFound: unknown): { versionId: string | undefined } | undefined {
  const headers = (notFound as { $response?: { headers?: HeaderBag } } | undefined)?.$response?.headers;
  if (!headers || headerText(headers, 'x-amz-delete-marker') !== 'true') return undefined;
  const versionId = headerText(headers, 'x-amz-version-id');
  return { versionId: versionId && versionId !== 'null' ? versionId : undefined };
}

/**
 * The failure a missing object is reported with, whatever request found it missing; `notFound`, that
 * request's answer, may say the latest version is a delete marker (on a versioned bucket).
 */
export function noSuchObject(ref: ObjectRef, notFound?: unknown): Error {
  const marker = latestDeleteMarker(notFound);
  if (marker) {
    return failure(`${formatS3Url(ref)} was deleted: its latest version is a delete marker${marker.versionId ? ` (${marker.versionId})` : ''}`, {
      hint: 'older versions may remain: list them with `aws s3api list-object-versions`, and look at one with `datalake stat --version-id`',
      code: 'NoSuchKey',
    });
  }
  return failure(`no such object ${formatS3Url(ref)}`, { hint: 'check the key with `datalake ls`', code: 'NoSuchKey' });
}

/** For `.catch` on a request for one object: not found becomes `noSuchObject`, anything else goes on. */
export function missingAsFailure(ref: ObjectRef): (error: unknown) => never {
  return (error) => {
    throw isNotFound(error) ? noSuchObject(ref, error) : error;
  };
}

/**
 * HEAD an object; undefined when it does not exist. A control request, unless the caller asks it of
 * each item of a bulk command (`lane` 'data': see limiter.ts).
 */
export async function findObject(ctx: TransferContext, ref: ObjectRef, lane: Lane = 'control'): Promise<ObjectHead | undefined> {
  try {
    return await headOf(ctx, ref, lane);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function headOf(ctx: TransferContext, ref: ObjectRef, lane: Lane): Promise<ObjectHead> {
  const response = await laneRequest(ctx, lane, `HEAD ${ref.key}`, () => ctx.direct.headObject(ref, ctx.signal));
  return headFromHeaders(ref, response.headers);
}

