import { AbortMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { ObjectRef } from '../config/address.js';
import { dataRequest, controlRequest, type TransferContext } from './context.js';

export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated: string | null;
}

/**
 * Every incomplete multipart upload under a prefix, all pages. The listing asks for the whole bucket
 * and filters here: MinIO matches the Prefix parameter only against whole keys, so `raw/` would find
 * nothing there, while incomplete uploads are few enough that filtering costs nothing.
 */
export async function* listIncompleteUploads(ctx: TransferContext, where: ObjectRef): AsyncGenerator<IncompleteUpload> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const [key, id] = [keyMarker, uploadIdMarker];
    const page = await controlRequest(ctx, 'ListMultipartUploads', () =>
      ctx.client.send(
        new ListMultipartUploadsCommand({ Bucket: where.bucket, ...(key ? { KeyMarker: key } : {}), ...(id ? { UploadIdMarker: id } : {}) }),
        { abortSignal: ctx.signal },
      ),
    );
    for (const upload of page.Uploads ?? []) {
      if (!(upload.Key ?? '').startsWith(where.key)) continue;
      yield { key: upload.Key ?? '', uploadId: upload.UploadId ?? '', initiated: upload.Initiated?.toISOString() ?? null };
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
