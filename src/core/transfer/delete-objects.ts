/**
 * Deletes objects named by key (and version), for `rm` and `sync --delete`: DeleteObjects batches of up
 * to 1,000 keys, each answer read strictly. A DeleteObjects body is XML 1.0, which cannot carry ESC,
 * BEL and most other C0 controls (S3 allows them in keys: the server answers MalformedXML, and the
 * whole batch would fail for one key); such a key is deleted by a DeleteObject of its own, in the URL,
 * and so is every key of a batch the server refuses as MalformedXML all the same.
 */
import type { DeleteObjectsCommandOutput, ObjectIdentifier } from '@aws-sdk/client-s3';
import { describeError } from '../errors.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { errorCodeOf } from '../s3/retry.js';
import { sdk } from '../s3/sdk.js';
import { failureToRecord } from './item-failure.js';

/** S3 takes at most this many keys in one DeleteObjects request. */
export const DELETE_BATCH = 1000;

/** One thing to delete: an object's current version, or (with --all-versions) one exact version or marker. */
export interface RemovalTarget {
  key: string;
  versionId?: string | undefined;
  /** The version being removed is itself a delete marker. */
  isDeleteMarker?: boolean;
}

export interface Removed extends RemovalTarget {
  /** The delete made a delete marker (a versioned bucket, without --all-versions): the data is still there. */
  deleteMarkerCreated?: boolean;
}

export interface RemovalFailure extends RemovalTarget {
  error: string;
}

export interface RemovalListener {
  removed(entry: Removed): void;
  failed(entry: RemovalFailure): void;
}

/**
 * Deletes up to DELETE_BATCH targets, each reported removed or failed once. A request that fails as a
 * whole fails every key in it, unless the failure would meet every other request too (credentials, no
 * bucket: thrown, see failureToRecord).
 */
export async function deleteObjects(ctx: TransferContext, bucket: string, targets: readonly RemovalTarget[], listener: RemovalListener): Promise<void> {
  const alone = targets.filter((target) => !xmlCarries(target.key));
  const batch = targets.filter((target) => xmlCarries(target.key));
  await Promise.all([deleteBatch(ctx, bucket, batch, listener), ...alone.map((target) => deleteOne(ctx, bucket, target, listener))]);
}

/** XML 1.0's characters: tab, line feed, carriage return, and from U+0020 on, less the surrogates, U+FFFE and U+FFFF. */
const NOT_XML_CHARACTER = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

/** Whether an XML 1.0 document can name the key. */
export function xmlCarries(key: string): boolean {
  return !NOT_XML_CHARACTER.test(key);
}

/**
 * One DeleteObjects request. Its answer is read strictly: each key is reported deleted only if the
 * answer says so, and failed with the server's code otherwise. Refused as MalformedXML (a server's XML
 * reader stricter than S3's), its keys are deleted one by one instead.
 */
async function deleteBatch(ctx: TransferContext, bucket: string, batch: readonly RemovalTarget[], listener: RemovalListener): Promise<void> {
  if (batch.length === 0) return;
  const { DeleteObjectsCommand } = await sdk();
  const objects: ObjectIdentifier[] = batch.map((target) => ({ Key: target.key, ...(target.versionId ? { VersionId: target.versionId } : {}) }));
  let answer: DeleteObjectsCommandOutput;
  try {
    answer = await dataRequest(ctx, `DeleteObjects (${batch.length} keys)`, () =>
      ctx.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: false } }), { abortSignal: ctx.signal }),
    );
  } catch (error) {
    if (errorCodeOf(error) === 'MalformedXML' && !ctx.stopping?.aborted) {
      await Promise.all(batch.map((target) => deleteOne(ctx, bucket, target, listener)));
      return;
    }
    const reason = describeError(failureToRecord(error, { stopping: ctx.stopping, bucket, limiter: ctx.limiter }));
    for (const target of batch) listener.failed({ ...target, error: reason });
    return;
  }
  const identity = (key: string | undefined, versionId: string | undefined) => `${key ?? ''}\u0000${versionId ?? ''}`;
  const deleted = new Map((answer.Deleted ?? []).map((item) => [identity(item.Key, item.VersionId), item]));
  const errors = new Map((answer.Errors ?? []).map((item) => [identity(item.Key, item.VersionId), item]));
  for (const target of batch) {
    const id = identity(target.key, target.versionId);
    const error = errors.get(id);
    const done = deleted.get(id);
    if (error) listener.failed({ ...target, error: `${error.Code ?? 'error'}: ${error.Message ?? 'the server refused to delete it'}` });
    else if (done) listener.removed({ ...target, ...(done.DeleteMarker && !target.versionId ? { deleteMarkerCreated: true } : {}) });
    else listener.failed({ ...target, error: 'the server did not report this key deleted' });
  }
}

/** One DeleteObject request, the key in its URL: a success status is the server saying it is gone. */
async function deleteOne(ctx: TransferContext, bucket: string, target: RemovalTarget, listener: RemovalListener): Promise<void> {
  const { DeleteObjectCommand } = await sdk();
  try {
    const answer = await dataRequest(ctx, `DeleteObject ${target.key}`, () =>
      ctx.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: target.key, ...(target.versionId ? { VersionId: target.versionId } : {}) }), { abortSignal: ctx.signal }),
    );
    listener.removed({ ...target, ...(answer.DeleteMarker && !target.versionId ? { deleteMarkerCreated: true } : {}) });
  } catch (error) {
    listener.failed({ ...target, error: describeError(failureToRecord(error, { stopping: ctx.stopping, bucket, limiter: ctx.limiter })) });
  }
}
