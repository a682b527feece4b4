import type { ObjectRef } from '../config/address.js';
import { normalizeEtag } from '../integrity/checksums.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { headerText } from '../s3/requests.js';
import { TransientError, classifyError } from '../s3/retry.js';
import { sdk } from '../s3/sdk.js';

/**
 * How a multipart object was cut: the size of each of its parts, in order. Its ETag is the MD5 of the
 * parts' MD5s, so recomputing that ETag from a local file needs each part's real size. S3 asks only
 * that every part but the last be at least 5 MiB: boto3, rclone or a hand-made upload may mix sizes
 * (5, 7, 5, 3 MiB), so the first part's size says nothing certain about the others.
 *
 * The sizes come from GetObjectAttributes (ObjectParts) where the server lists them — AWS does only
 * for uploads made with additional checksums, MinIO for all — else from a HEAD with partNumber=N per
 * part. Every request goes through the limiter; the HEADs of one object keep at most a part window
 * (limiter.ts) in flight. A server that ignores partNumber (it answers with the whole object) tells
 * nothing: undefined.
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
      const output = await dataRequest(ctx, `GetObjectAttributes ${object.ref.key}`, async () =>
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
 * The sizes by HEAD partNumber=N, one request per part. Each answer's Content-Range (MinIO, SeaweedFS
 * and AWS send one) must agree with its Content-Length and the object's size: one that does not was
 * damaged on the way, and is asked again by the one retry policy like any transient error; one still
 * damaged once the retries are spent, or sizes that do not add up, tell nothing: undefined.
 */
export async function partSizesByHead(ctx: TransferContext, object: MultipartObject): Promise<number[] | undefined> {
  const window = ctx.limiter.partWindow();
  const stop = new AbortController();
  const parts = await Promise.all(
    Array.from({ length: object.partCount }, (_, index) =>
      window.run(async () => {
        if (stop.signal.aborted) return undefined;
        const part = await onePart(ctx, object, index + 1);
        if (part === undefined) stop.abort();
        return part;
      }),
    ),
  );
  if (parts.some((part) => part === undefined)) return undefined;
  return wholeLayout(object, parts as PartAnswer[]);
}

/** An answer about one part whose headers contradict each other: damaged on the way, worth another attempt. */
class DamagedPartAnswer extends TransientError {
  override readonly name = 'DamagedPartAnswer';
}

/** Where one part lies, by its HEAD: its size, and its first byte where the answer says (Content-Range). */
interface PartAnswer {
  size: number;
  start?: number | undefined;
}

/** One part's size by HEAD; undefined when the answer is not about that part of this object, or stays damaged. */
async function onePartSize(ctx: TransferContext, object: MultipartObject, partNumber: number): Promise<number | undefined> {
  return (await onePart(ctx, object, partNumber))?.size;
}

async function onePart(ctx: TransferContext, object: MultipartObject, partNumber: number): Promise<PartAnswer | undefined> {
  try {
    return await dataRequest(ctx, `HEAD ${object.ref.key} part ${partNumber}`, async () => {
      const response = await ctx.direct.headObject(object.ref, ctx.signal, { partNumber, versionId: object.versionId });
      const size = Number(headerText(response.headers, 'content-length'));
      const count = headerText(response.headers, 'x-amz-mp-parts-count');
      if (normalizeEtag(headerText(response.headers, 'etag')) !== object.etag) return undefined;
      if (count !== undefined && Number(count) !== object.partCount) return undefined;
      if (!Number.isSafeInteger(size) || size <= 0) return undefined;
      // The whole object for one of several parts: the server ignored partNumber.
      if (object.partCount > 1 && size >= object.size) return undefined;
      const range = headerText(response.headers, 'content-range');
      if (range === undefined) return { size };
      const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(range);
      const start = Number(match?.[1]);
      if (!match || Number(match[2]) - start + 1 !== size || Number(match[3]) !== object.size) {
        throw new DamagedPartAnswer(`HEAD ${object.ref.key} part ${partNumber}: Content-Range ${range} does not fit Content-Length ${size} of a ${object.size}-byte object`);
      }
      return { size, start };
    });
  } catch (error) {
    if (error instanceof DamagedPartAnswer) return undefined;
    throw error;
  }
}

/** Sizes that account for every part and every byte (each part starting where the one before ended, where an answer says), or undefined. */
function wholeLayout(object: MultipartObject, parts: ReadonlyArray<number | PartAnswer>): number[] | undefined {
  const sizes = parts.map((part) => (typeof part === 'number' ? part : part.size));
  if (sizes.length !== object.partCount || sizes.some((size) => !Number.isSafeInteger(size) || size <= 0)) return undefined;
  let position = 0;
  for (const part of parts) {
    if (typeof part !== 'number' && part.start !== undefined && part.start !== position) return undefined;
    position += typeof part === 'number' ? part : part.size;
  }
  return position === object.size ? sizes : undefined;
}
