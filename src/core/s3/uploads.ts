import { AbortMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { ObjectRef } from '../config/address.js';
import { listedNameReader } from './answers.js';
import { dataRequest, controlRequest, type TransferContext } from './context.js';

export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated: string | null;
}

/**
 * Every incomplete multipart upload under a prefix, all pages. The listing asks for the whole bucket
 * and filters here: MinIO matches the Prefix parameter only against whole keys, so `raw/` would find
 * nothing there, while incomplete uploads are few enough that filtering costs nothing. Asked
 * URL-encoded, as ListObjectsV2 is (list.ts): XML 1.0 cannot carry every character a key may hold.
 */
export async function* listIncompleteUploads(ctx: TransferContext, where: ObjectRef): AsyncGenerator<IncompleteUpload> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const [key, id] = [keyMarker, uploadIdMarker];
    const { page, uploads } = await controlRequest(ctx, 'ListMultipartUploads', async () => {
      const page = await ctx.client.send(
        new ListMultipartUploadsCommand({ Bucket: where.bucket, EncodingType: 'url', ...(key ? { KeyMarker: key } : {}), ...(id ? { UploadIdMarker: id } : {}) }),
        { abortSignal: ctx.signal },
      );
      const name = listedNameReader(page.EncodingType, `ListMultipartUploads s3://${where.bucket}/`);
      const uploads = (page.Uploads ?? []).map((upload) => ({ key: name(upload.Key) ?? '', uploadId: upload.UploadId ?? '', initiated: upload.Initiated?.toISOString() ?? null }));
      return { page: { ...page, NextKeyMarker: name(page.NextKeyMarker) }, uploads };
    });
    for (const upload of uploads) {
      if (upload.key.startsWith(where.key)) yield upload;
    }
    if (!page.IsTruncated) return;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
    if (!keyMarker && !uploadIdMarker) return;
  }
}

export async function abortUpload(ctx: TransferContext, bucket: string, upload: IncompleteUpload): Promise<void> {
  await dataRequest(ctx, `AbortMultipartUpload ${upload.key}`, () =>
    ctx.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId }), { abortSignal: ctx.signal }),
  );
}
