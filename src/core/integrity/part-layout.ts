import pLimit from 'p-limit';
import type { ObjectRef } from '../config/address.js';
import { normalizeEtag } from './checksums.js';
import { PART_BUFFERS_IN_FLIGHT } from '../config/config.js';
import { limitedRequest, type TransferContext } from '../s3/context.js';
import { headerText } from '../s3/requests.js';
import { classifyError } from '../s3/retry.js';
import { sdk } from '../s3/sdk.js';

/**
 * How a multipart object was cut: the size of each of its parts, in order. Its ETag is the MD5 of the
 * parts' MD5s, so recomputing that ETag from a local file needs each part's real size. S3 asks only
 * that every part but the last be at least 5 MiB: boto3, rclone or a hand-made upload may mix sizes
 * (5, 7, 5, 3 MiB), so the first part's size says nothing certain about the others.
 *
 * The sizes come from GetObjectAttributes (ObjectParts) where the server lists them — AWS does only
 * for uploads made with additional checksums, MinIO for all — else from a HEAD with partNumber=N per
 * part. Every request goes through the limiter; the HEADs of one object keep at most a few in flight.
 * A server that ignores partNumber (it answers with the whole object) tells nothing: undefined.
 */
export interface MultipartObject {
  ref: ObjectRef;
  size: number;
  /** The object's ETag, `…-N`: every answer must be about this object, not a newer one. */
  etag: string;
  partCount: number;
  /** The version asked about, in a versioned bucket (`stat --version-id`, a copy's pinned source). */
  versionId?: string | undefined;
}

/** Each part's size, exactly, or undefined when the server will not tell. */
export async function partSizesOf(ctx: TransferContext, object: MultipartObject): Promise<number[] | undefined> {
  return (await listedPartSizes(ctx, object)) ?? (await partSizesByHead(ctx, object));
}

/**
 * A guess from part 1 alone (one HEAD): every part as large as it, the last the rest, as every tool
 * that cuts evenly leaves them. Only a comparison that confirms it by the ETag it gives may use it.
 */
export async function evenPartSizesGuess(ctx: TransferContext, object: MultipartObject): Promise<number[] | undefined> {
  const first = await onePartSize(ctx, object, 1);
  if (first === undefined) return undefined;
  const rest = object.size - first * (object.partCount - 1);
  if (rest <= 0 || rest > first) return undefined;
  return Array.from({ length: object.partCount }, (_, index) => (index === object.partCount - 1 ? rest : first));
}

/**
 * Clients whose server refused GetObjectAttributes (not implemented, not allowed): not asked again in
 * this run, so a sync of many such objects pays for the refusal once.
 */
const attributesRefused = new WeakSet<object>();

/** The sizes as GetObjectAttributes lists them, a page of up to 1,000 parts at a time. */
export async function listedPartSizes(ctx: TransferContext, object: MultipartObject): Promise<number[] | undefined> {
  if (attributesRefused.has(ctx.client)) return undefined;
  const sizes: number[] = [];
  let marker: string | undefined;
  try {
    const { GetObjectAttributesCommand } = await sdk();
    for (;;) {
      const output = await limitedRequest(ctx, `GetObjectAttributes ${object.ref.key}`, async () =>
        ctx.client.send(
          new GetObjectAttributesCommand({
            Bucket: object.ref.bucket,
            Key: object.ref.key,
            // ObjectParts alone: MinIO refuses the SDK's "ETag, ObjectParts" (it does not trim the space).
            ObjectAttributes: ['ObjectParts'],
            MaxParts: 1000,
            ...(marker ? { PartNumberMarker: marker } : {}),
            ...(object.versionId ? { VersionId: object.versionId } : {}),
          }),
          { abortSignal: ctx.signal },
        ),
      );
      const parts = output.ObjectParts;
      // The ETag is not asked for: sizes of a newer object can only make the file's ETag differ (the
      // ETag covers every part's MD5), never make a different file look the same.
      if (!parts?.Parts || parts.Parts.length === 0) return undefined;
      for (const part of parts.Parts) {
        if (part.PartNumber !== sizes.length + 1 || part.Size === undefined) return undefined;
        sizes.push(part.Size);
      }
      if (!parts.IsTruncated) break;
      marker = parts.NextPartNumberMarker;
      if (!marker) return undefined;
    }
  } catch (error) {
    if (ctx.signal?.aborted) throw error;
    // Not implemented, not allowed (it needs its own permission on AWS), or not understood: the HEADs will tell.
    if (classifyError(error) === 'permanent') attributesRefused.add(ctx.client);
    return undefined;
  }
  return wholeLayout(object, sizes);
}

/**
 * The sizes by HEAD partNumber=N, one request per part. Sizes that do not add up to the object's are
 * an answer damaged on the way as often as a server that will not tell: asked once more.
 */
export async function partSizesByHead(ctx: TransferContext, object: MultipartObject): Promise<number[] | undefined> {
  return (await partSizesByHeadOnce(ctx, object)) ?? (await partSizesByHeadOnce(ctx, object));
}

async function partSizesByHeadOnce(ctx: TransferContext, object: MultipartObject): Promise<number[] | undefined> {
  const window = pLimit(Math.min(ctx.limiter.concurrency, PART_BUFFERS_IN_FLIGHT));
  const stop = new AbortController();
  const sizes = await Promise.all(
    Array.from({ length: object.partCount }, (_, index) =>
      window(async () => {
        if (stop.signal.aborted) return undefined;
        const size = await onePartSize(ctx, object, index + 1);
        if (size === undefined) stop.abort();
        return size;
      }),
    ),
  );
  if (sizes.some((size) => size === undefined)) return undefined;
  return wholeLayout(object, sizes as number[]);
}

/** One part's size by HEAD; undefined when the answer is not about that part of this object. */
async function onePartSize(ctx: TransferContext, object: MultipartObject, partNumber: number): Promise<number | undefined> {
  const response = await limitedRequest(ctx, `HEAD ${object.ref.key} part ${partNumber}`, () => ctx.direct.headObject(object.ref, ctx.signal, { partNumber, versionId: object.versionId }));
  const size = Number(headerText(response.headers, 'content-length'));
  const count = headerText(response.headers, 'x-amz-mp-parts-count');
  if (normalizeEtag(headerText(response.headers, 'etag')) !== object.etag) return undefined;
  if (count !== undefined && Number(count) !== object.partCount) return undefined;
  if (!Number.isSafeInteger(size) || size <= 0) return undefined;
  // The whole object for one of several parts: the server ignored partNumber.
  if (object.partCount > 1 && size >= object.size) return undefined;
  return size;
}

/** Sizes that account for every part and every byte, or undefined. */
function wholeLayout(object: MultipartObject, sizes: number[]): number[] | undefined {
  if (sizes.length !== object.partCount || sizes.some((size) => !Number.isSafeInteger(size) || size <= 0)) return undefined;
  return sizes.reduce((sum, size) => sum + size, 0) === object.size ? sizes : undefined;
}
