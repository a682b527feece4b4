import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ObjectRef } from '../config/address.js';
import type { TransferContext } from './context.js';
import type { PresignedRequest } from './presign-request.js';
import { headObject } from './objects.js';

/** A GET URL for an object that exists (checked with HEAD unless `check` is false). */
export async function presignGet(ctx: TransferContext, ref: ObjectRef, expiresIn: number, check: boolean): Promise<PresignedRequest> {
  if (check) await headObject(ctx, ref);
  const url = await getSignedUrl(await ctx.client.resolve(), new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }), { expiresIn, signingDate: signingDate(ctx) });
  return { url, method: 'GET', expiresAt: expiry(expiresIn) };
}

/** A PUT URL, optionally bound to a Content-Type the uploader must then send. */
export async function presignPut(ctx: TransferContext, ref: ObjectRef, expiresIn: number, contentType: string | undefined): Promise<PresignedRequest> {
  const url = await getSignedUrl(await ctx.client.resolve(), new PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(contentType ? { ContentType: contentType } : {}) }), {
    expiresIn,
    signingDate: signingDate(ctx),
    ...(contentType ? { signableHeaders: new Set(['content-type']) } : {}),
  });
  return { url, method: 'PUT', expiresAt: expiry(expiresIn), ...(contentType ? { headers: { 'Content-Type': contentType } } : {}) };
}

/**
 * A browser-style POST policy: the key (or any key under `keyPrefix`), a content-length-range up to
 * `maxSize`, and an optional Content-Type condition.
 */
export async function presignPost(
  ctx: TransferContext,
  target: { bucket: string; key?: string; keyPrefix?: string },
  expiresIn: number,
  options: { maxSize: number; contentType?: string | undefined },
): Promise<PresignedRequest> {
  const conditions: Array<['content-length-range', number, number] | ['starts-with', string, string] | Record<string, string>> = [['content-length-range', 0, options.maxSize]];
  const fields: Record<string, string> = {};
  if (options.contentType) {
    conditions.push({ 'Content-Type': options.contentType });
    fields['Content-Type'] = options.contentType;
  }
  let key = target.key;
  if (target.keyPrefix !== undefined) {
    conditions.push(['starts-with', '$key', target.keyPrefix]);
    key = `${target.keyPrefix}\${filename}`;
  }
  const post = await createPresignedPost(await ctx.client.resolve(), { Bucket: target.bucket, Key: key ?? '', Conditions: conditions as never, Fields: fields, Expires: expiresIn });
  return { url: post.url, method: 'POST', expiresAt: expiry(expiresIn), fields: post.fields };
}

/** Now by the server's clock, where an answer of this run showed this machine's to be off. */
function signingDate(ctx: TransferContext): Date {
  return new Date(Date.now() + ctx.client.clockOffsetMs);
}

function expiry(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString();
}

