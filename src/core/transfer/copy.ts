/**
 * `cp` and `mv` of one object, server side: the copy made (copy-requests.ts), read back with HEAD
 * and proven against the source (copy-proof.ts), an unproven copy removed; a move deletes its source
 * only once the copy is proven and the source is still the version copied.
 */
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { multipartEtagPartCount, normalizeEtag } from '../integrity/checksums.js';
import { controlRequest, type TransferContext } from '../s3/context.js';
import { describeError, failure } from '../errors.js';
import { findObject } from '../s3/objects.js';
import { sdk } from '../s3/sdk.js';
import { errorCodeOf } from '../s3/retry.js';
import { detailsFromHead, findWithChecksums, headWithChecksums, type HeadDetails } from './stat.js';
import { LayoutGuessedWrong, MAX_SINGLE_COPY, copyInParts, copyWhole, onlyChecksumProvesParts, putMarker, type CopyOptions } from './copy-requests.js';
import { proveCopy, readBack, type CopyVerdict } from './copy-proof.js';
import { LeftBehind } from './item-failure.js';

export { MAX_SINGLE_COPY, type CopyOptions } from './copy-requests.js';
export { proveCopy, type CopyProof, type CopyVerdict } from './copy-proof.js';

export interface CopiedObject extends CopyVerdict {
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
  // --no-clobber: a missing source is the failure it is without the flag, not a skip (a listed one is there).
  const sourceRead = options.noClobber && !options.sourceListed ? await headWithChecksums(ctx, source) : undefined;
  if (options.noClobber && (await findObject(ctx, destination))) {
    return { kind: 'skipped', bucket: destination.bucket, key: destination.key, reason: 'exists (--no-clobber)' };
  }
  const sourceHead = sourceRead ?? (await headWithChecksums(ctx, source));
  const from = detailsFromHead(source, sourceHead);
  // Told as a transfer (progress, logs): the destination is its object, the source its path.
  const id = ctx.events.newTransferId();
  const path = formatS3Url(source);
  ctx.events.emit('transfer:start', { id, direction: 'copy', ref: destination, path, size: from.size });
  try {
    const outcome = await copyAndProve(ctx, source, sourceHead, from, destination, options, (bytes) => ctx.events.emit('transfer:progress', { id, bytes }));
    if (outcome.kind === 'copied') ctx.events.emit('transfer:done', { id, ref: destination, path, size: outcome.object.size, result: { ...outcome.object, path } });
    return outcome;
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref: destination, path, error });
    throw error;
  }
}

/** copyObject once the source is read: the copy made, read back and proven (or removed). */
async function copyAndProve(
  ctx: TransferContext,
  source: ObjectRef,
  sourceHead: Awaited<ReturnType<typeof headWithChecksums>>,
  from: HeadDetails,
  destination: ObjectRef,
  options: CopyOptions,
  progress: (bytes: number) => void,
): Promise<CopyOutcome> {
  if (sourceHead.SSECustomerAlgorithm) throw failure(`${formatS3Url(source)} is encrypted with a customer key (SSE-C): it cannot be copied without it`);
  const partCount = from.etag ? multipartEtagPartCount(from.etag) : undefined;
  const limit = Math.min(options.singleCopyLimit ?? MAX_SINGLE_COPY, MAX_SINGLE_COPY);
  const wholeCopy = from.size <= limit && (partCount === undefined || (await onlyChecksumProvesParts(ctx, from, destination, options)));
  const copied = await (async () =>
    wholeCopy
      ? copyWhole(ctx, from, sourceHead, destination, options).catch(async (error: unknown) => {
          if (!(await markerCopyRefused(ctx, source, from, error))) throw error;
          return putMarker(ctx, from, sourceHead, destination, options);
        })
      : copyInParts(ctx, from, sourceHead, partCount, destination, options, 'guess', progress).catch((error: unknown) => {
          // Parts of unequal sizes between an equal first and last: copy again in the layout asked part by part.
          if (!(error instanceof LayoutGuessedWrong)) throw error;
          return copyInParts(ctx, from, sourceHead, partCount, destination, options, 'exact', progress);
        }))().catch((error: unknown) => {
    // The source's bucket was just read: a bucket missing now is the destination's, whatever the
    // answer names (MinIO names the source's).
    if (errorCodeOf(error) === 'NoSuchBucket') Object.assign(error as object, { BucketName: destination.bucket });
    throw error;
  }).catch(async (error: unknown) => {
    // --no-clobber: a conditional copy refused because another writer put the destination first (the
    // same answer as a source changed since it was read: the destination there now tells them apart).
    if (options.noClobber && errorCodeOf(error) === 'PreconditionFailed' && (await findObject(ctx, destination))) return undefined;
    throw error;
  });
  if (!copied) return { kind: 'skipped', bucket: destination.bucket, key: destination.key, reason: 'exists (--no-clobber)' };
  // The copy is there from now on: a proof that cannot be had leaves it, named (LeftBehind), even when
  // the reason ends the run (the server gone); a copy proven wrong is removed.
  const unproven = (error: unknown) =>
    new LeftBehind(`${formatS3Url(source)} was copied to ${formatS3Url(destination)}, but the copy was not proven`, error, 'the copy is there unproven; run the copy again, or delete it');
  const written = detailsFromHead(
    destination,
    await headWithChecksums(ctx, destination, copied.versionId ?? undefined).catch((error: unknown) => {
      throw unproven(error);
    }),
  );
  let verdict: CopyVerdict;
  try {
    verdict = proveCopy(from, written, copied.expectedEtag) ?? (await readBack(ctx, from, written, copied.partSizes));
  } catch (error) {
    if (await removeCopy(ctx, destination, copied.versionId, written.etag)) throw error;
    throw unproven(error);
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
      ...verdict,
    },
  };
}

/**
 * A CopyObject of a zero-byte folder marker answered NoSuchKey while the marker is still there, the
 * very version read: a server that will not copy markers (SeaweedFS), not a source gone.
 */
async function markerCopyRefused(ctx: TransferContext, source: ObjectRef, from: HeadDetails, error: unknown): Promise<boolean> {
  if (!source.key.endsWith('/') || from.size !== 0 || errorCodeOf(error) !== 'NoSuchKey') return false;
  const now = await findWithChecksums(ctx, source, from.versionId ?? undefined);
  return now !== undefined && normalizeEtag(now.ETag) === from.etag;
}

/**
 * Deletes the copy just written that did not prove: that exact version on a versioned bucket; on an
 * unversioned one, the object at the key only while a fresh look shows it is still that copy (a
 * writer that replaced it meanwhile is left alone). False when the copy may still be there.
 */
async function removeCopy(ctx: TransferContext, ref: ObjectRef, versionId: string | null, etag: string | undefined): Promise<boolean> {
  const { DeleteObjectCommand } = await sdk();
  try {
    if (!versionId) {
      const now = await findWithChecksums(ctx, ref);
      if (!now || normalizeEtag(now.ETag) !== etag) {
        ctx.events.emit('warning', { message: `the unproven copy ${formatS3Url(ref)} was replaced meanwhile; what is there now is left alone`, ref });
        return true;
      }
    }
    await controlRequest(ctx, `DELETE ${ref.key}`, () => ctx.client.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(versionId ? { VersionId: versionId } : {}) })), undefined);
    return true;
  } catch (error) {
    ctx.events.emit('warning', { message: `could not remove the unproven copy ${formatS3Url(ref)}: ${describeError(error)}`, ref });
    return false;
  }
}

/**
 * `mv` of one object: copy, prove, and only then delete the source — never the other order. A copy
 * proven by its size alone is not enough to give the source up. The source is deleted only if it is
 * still the version that was copied; on a versioned bucket the delete makes a delete marker, as
 * `aws s3 mv` does, so the source version stays recoverable.
 */
export async function moveObject(ctx: TransferContext, source: ObjectRef, destination: ObjectRef, options: CopyOptions = {}): Promise<CopiedObject> {
  const outcome = await copyObject(ctx, source, destination, { ...options, noClobber: false }).catch((error: unknown) => {
    if (!(error instanceof LeftBehind)) throw error;
    throw new LeftBehind(`${error.state}; the source is kept`, error.reason, 'run the move again');
  });
  if (outcome.kind !== 'copied') throw failure(`${formatS3Url(source)} was not copied`);
  const copied = outcome.object;
  if (copied.verifiedBy === 'size-only') {
    throw failure(`the copy ${formatS3Url(destination)} could be checked by its size only; ${formatS3Url(source)} is kept`, {
      hint: 'the source has no MD5 ETag, stored MD5 or full-object checksum to hash the copy against; delete it yourself once satisfied',
    });
  }
  const kept = (error: unknown) =>
    new LeftBehind(`${formatS3Url(source)} was copied to ${formatS3Url(destination)} and proven, but could not be deleted`, error, 'both are there now; run the move again or delete the source');
  // The source must still be what was copied: a writer that replaced it meanwhile keeps it.
  const now = await findWithChecksums(ctx, source).catch((error: unknown) => {
    throw kept(error);
  });
  if (!now) throw failure(`${formatS3Url(source)} disappeared after it was copied to ${formatS3Url(destination)}`);
  if (normalizeEtag(now.ETag) !== copied.sourceEtag || (copied.sourceVersionId !== null && now.VersionId !== copied.sourceVersionId)) {
    throw failure(`${formatS3Url(source)} changed after it was copied to ${formatS3Url(destination)}; it is kept`, { hint: 'run the move again' });
  }
  const { DeleteObjectCommand } = await sdk();
  try {
    await controlRequest(ctx, `DELETE ${source.key}`, () => ctx.client.send(new DeleteObjectCommand({ Bucket: source.bucket, Key: source.key }), { abortSignal: ctx.signal }));
  } catch (error) {
    // Named as this move's failure even when the reason (the credentials, the endpoint gone) ends the run.
    throw kept(error);
  }
  return copied;
}
