import { formatS3Url, type ObjectRef } from '../config/address.js';
import { controlRequest, type TransferContext } from '../s3/context.js';
import { failure } from '../errors.js';
import { listedNameReader } from '../s3/answers.js';
import { compareKeys, listObjects } from '../s3/list.js';
import { forEachWindowed } from '../s3/limiter.js';
import { findObject, missingObjectOrBucket } from '../s3/objects.js';
import { sdk } from '../s3/sdk.js';
import { DELETE_BATCH, deleteObjects, type RemovalListener, type RemovalTarget } from './delete-objects.js';

/** DeleteObjects requests in flight at once: each already carries up to 1,000 deletions. */
const BATCHES_IN_FLIGHT = 4;

export interface RemovalPlan {
  /** One object, or with `recursive` a prefix (empty or ending in `/`). */
  target: ObjectRef;
  recursive: boolean;
  /** `--exclude/--include`, applied to names relative to the prefix. */
  includeName: (name: string) => boolean;
  /** Every version and delete marker instead of a new delete marker on a versioned bucket. */
  allVersions: boolean;
  dryRun: boolean;
  /** Refuse, before deleting anything, when more than this would go. */
  maxDelete: number | undefined;
}

/**
 * Deletes what a plan names: listed first, counted against `--max-delete` before the first delete,
 * then sent in batches of up to 1,000 keys (delete-objects.ts). Every key the server answers with an
 * error, or leaves out of its answer, is reported failed; nothing is assumed deleted that was not said to be.
 * A dry run lists and reports, and sends no delete.
 */
export async function removeObjects(ctx: TransferContext, plan: RemovalPlan, listener: RemovalListener): Promise<void> {
  if (plan.maxDelete !== undefined) {
    let count = 0;
    for await (const _target of removalTargets(ctx, plan)) {
      if (ctx.stopping?.aborted) throw ctx.stopping.reason;
      count += 1;
      if (count > plan.maxDelete) {
        throw failure(`refusing to delete more than --max-delete ${plan.maxDelete} under ${formatS3Url(plan.target)}; nothing was deleted`, {
          hint: 'raise --max-delete, or narrow the prefix or the --exclude/--include rules',
        });
      }
    }
  }
  let sent = 0;
  await forEachWindowed(
    batches(removalTargets(ctx, plan), DELETE_BATCH),
    BATCHES_IN_FLIGHT,
    async (batch) => {
      // Objects that appeared between the count and now never take the total past --max-delete.
      if (plan.maxDelete !== undefined) {
        const room = Math.max(plan.maxDelete - sent, 0);
        for (const refused of batch.slice(room)) listener.failed({ ...refused, error: `not deleted: more than --max-delete ${plan.maxDelete}` });
        batch = batch.slice(0, room);
      }
      sent += batch.length;
      if (batch.length === 0) return;
      if (plan.dryRun) {
        for (const target of batch) listener.removed(target);
        return;
      }
      await deleteObjects(ctx, plan.target.bucket, batch, listener);
    },
    ctx.stopping,
  );
}

/** What the plan would delete, in listing order. A single object that does not exist is an error. */
export async function* removalTargets(ctx: TransferContext, plan: RemovalPlan): AsyncGenerator<RemovalTarget> {
  const { target } = plan;
  if (!plan.recursive) {
    if (plan.allVersions) {
      let found = false;
      for await (const version of listVersions(ctx, target)) {
        if (version.key !== target.key) continue;
        found = true;
        yield version;
      }
      if (!found) throw await missingObjectOrBucket(ctx, target);
      return;
    }
    if (!(await findObject(ctx, target))) throw await missingObjectOrBucket(ctx, target);
    yield { key: target.key };
    return;
  }
  if (plan.allVersions) {
    for await (const version of listVersions(ctx, target)) {
      if (plan.includeName(version.key.slice(target.key.length))) yield version;
    }
    return;
  }
  for await (const entry of listObjects(ctx, target, { recursive: true })) {
    if (entry.kind === 'object' && plan.includeName(entry.object.key.slice(target.key.length))) yield { key: entry.object.key };
  }
}

/**
 * Every version and delete marker under a prefix (ListObjectVersions, all pages), asked URL-encoded as
 * ListObjectsV2 is (list.ts): XML 1.0 cannot carry every character a key may hold.
 */
async function* listVersions(ctx: TransferContext, where: ObjectRef): AsyncGenerator<RemovalTarget> {
  const { ListObjectVersionsCommand } = await sdk();
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const [key, version] = [keyMarker, versionIdMarker];
    const source = `ListObjectVersions ${formatS3Url(where)}`;
    const { page, entries } = await controlRequest(ctx, `ListObjectVersions ${where.key}`, async () => {
      const page = await ctx.client.send(
        new ListObjectVersionsCommand({
          Bucket: where.bucket,
          EncodingType: 'url',
          ...(where.key ? { Prefix: where.key } : {}),
          ...(key ? { KeyMarker: key } : {}),
          ...(version ? { VersionIdMarker: version } : {}),
        }),
        { abortSignal: ctx.signal },
      );
      const name = listedNameReader(page.EncodingType, source);
      const entries: RemovalTarget[] = [
        ...(page.Versions ?? []).map((item) => ({ key: name(item.Key) ?? '', versionId: item.VersionId })),
        ...(page.DeleteMarkers ?? []).map((item) => ({ key: name(item.Key) ?? '', versionId: item.VersionId, isDeleteMarker: true })),
      ];
      return { page: { ...page, NextKeyMarker: name(page.NextKeyMarker) }, entries };
    });
    if (entries.some((entry) => entry.key === '')) throw failure(`the server listed a version without a key under ${formatS3Url(where)}`);
    // In S3's order (UTF-8 bytes), as every listing is; each key's versions keep the order listed.
    entries.sort((a, b) => compareKeys(a.key, b.key));
    yield* entries;
    if (!page.IsTruncated) return;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
    if (!keyMarker && !versionIdMarker) throw failure(`the version listing of ${formatS3Url(where)} was cut short: truncated with no marker to go on from`);
  }
}

async function* batches<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
