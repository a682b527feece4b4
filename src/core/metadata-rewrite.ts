import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { formatS3Url, type ObjectRef } from './address.js';
import { etagReflectsContent, isPlainMd5Etag, normalizeEtag } from './checksums.js';
import { limitedRequest, retrying, type TransferContext } from './context.js';
import { failure } from './errors.js';
import { GiB } from './units.js';
import { choosePartSize, splitIntoParts } from './parts.js';
import type { PutOptions } from './upload.js';
import { storageFields } from './upload.js';

const MAX_COPY_OBJECT_SIZE = 5 * GiB;

/**
 * Copies an object onto itself with its metadata replaced, adding the whole-content MD5 that was only
 * known once the last byte of a stream was sent. The copy is conditional on the ETag just written, so
 * a concurrent writer is never overwritten. Returns the new ETag.
 */
export async function rewriteMetadata(ctx: TransferContext, ref: ObjectRef, size: number, options: PutOptions, md5Hex: string, etag: string): Promise<string> {
  const copySource = `${ref.bucket}/${ref.key.split('/').map(encodeURIComponent).join('/')}`;
  const { Tagging: _tagging, ...fields } = storageFields(options, md5Hex);
  if (size <= MAX_COPY_OBJECT_SIZE) {
    const output = await retrying(ctx, `CopyObject ${ref.key}`, () =>
      ctx.client.send(
        new CopyObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          CopySource: copySource,
          CopySourceIfMatch: `"${etag}"`,
          MetadataDirective: 'REPLACE',
          TaggingDirective: 'COPY',
          ...fields,
        }),
        { abortSignal: ctx.signal },
      ),
    );
    const newEtag = normalizeEtag(output.CopyObjectResult?.ETag) ?? etag;
    const checkable = etagReflectsContent({ serverSideEncryption: output.ServerSideEncryption });
    if (checkable && newEtag !== etag && isPlainMd5Etag(newEtag) && newEtag !== md5Hex) {
      throw failure(`${formatS3Url(ref)} did not verify after adding its MD5: ETag ${newEtag}, expected ${md5Hex}`);
    }
    return newEtag;
  }

  // Over 5 GiB a single CopyObject is refused: copy in parts, server side.
  const created = await retrying(ctx, `CreateMultipartUpload ${ref.key}`, () =>
    ctx.client.send(new CreateMultipartUploadCommand({ Bucket: ref.bucket, Key: ref.key, ...storageFields(options, md5Hex) }), { abortSignal: ctx.signal }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw failure(`the server returned no upload id for ${formatS3Url(ref)}`);
  try {
    const ranges = splitIntoParts(size, choosePartSize(size, 1 * GiB));
    const parts = await Promise.all(
      ranges.map((range) =>
        limitedRequest(ctx, `UploadPartCopy ${range.partNumber} of ${ref.key}`, async () => {
          const output = await ctx.client.send(
            new UploadPartCopyCommand({
              Bucket: ref.bucket,
              Key: ref.key,
              UploadId: uploadId,
              PartNumber: range.partNumber,
              CopySource: copySource,
              CopySourceIfMatch: `"${etag}"`,
              CopySourceRange: `bytes=${range.start}-${range.end - 1}`,
            }),
            { abortSignal: ctx.signal },
          );
          return { PartNumber: range.partNumber, ETag: output.CopyPartResult?.ETag };
        }),
      ),
    );
    const output = await retrying(ctx, `CompleteMultipartUpload ${ref.key}`, () =>
      ctx.client.send(new CompleteMultipartUploadCommand({ Bucket: ref.bucket, Key: ref.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), {
        abortSignal: ctx.signal,
      }),
    );
    return normalizeEtag(output.ETag) ?? etag;
  } catch (error) {
    await ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ref.bucket, Key: ref.key, UploadId: uploadId })).catch(() => undefined);
    throw error;
  }
}
