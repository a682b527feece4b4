import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  type CopyObjectCommandOutput,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { etagReflectsContent, isPlainMd5Etag, normalizeEtag } from '../integrity/checksums.js';
import { limitedRequest, retrying, type TransferContext } from '../s3/context.js';
import { failure } from '../errors.js';
import { GiB } from '../config/units.js';
import { choosePartSize, splitIntoParts } from './parts.js';
import { storageFields, type PutOptions } from './put-options.js';
import { settleLostAnswer, settleMismatch, type ExpectedObject, type WriteAnswer } from '../integrity/upload-proof.js';

const MAX_COPY_OBJECT_SIZE = 5 * GiB;

/**
 * Copies an object onto itself with its metadata replaced, adding the whole-content MD5 that was only
 * known once the last byte of a stream was sent. The copy is conditional on the ETag just written, so
 * a concurrent writer is never overwritten. Its answer is proven like an upload's (upload-proof.ts):
 * a lost answer (the retry then finds the ETag changed) or one with an unexpected ETag is settled by a
 * fresh look, and only the copy just made is ever removed. Returns the new ETag and version.
 */
export async function rewriteMetadata(ctx: TransferContext, ref: ObjectRef, size: number, options: PutOptions, md5Hex: string, etag: string): Promise<WriteAnswer> {
  const copySource = `${ref.bucket}/${ref.key.split('/').map(encodeURIComponent).join('/')}`;
  const { Tagging: _tagging, ...fields } = storageFields(options, md5Hex);
  if (size <= MAX_COPY_OBJECT_SIZE) {
    // A copy keeps the ETag or makes it the MD5 of the whole content, depending on the server.
    const expected: ExpectedObject = { size, etags: [etag, md5Hex], md5: md5Hex };
    const operation = 'CopyObject';
    let output: CopyObjectCommandOutput;
    try {
      output = await retrying(ctx, `${operation} ${ref.key}`, () =>
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
    } catch (error) {
      return settleLostAnswer(ctx, ref, operation, expected, error, 'PreconditionFailed');
    }
    const answer: WriteAnswer = { etag: normalizeEtag(output.CopyObjectResult?.ETag) ?? etag, versionId: output.VersionId };
    const checkable = etagReflectsContent({ serverSideEncryption: output.ServerSideEncryption });
    if (checkable && !expected.etags.includes(answer.etag)) {
      // Only a plain MD5 other than the content's proves the copy wrong; another form may be the server's own.
      const settled = await settleMismatch(ctx, ref, operation, answer, expected, isPlainMd5Etag(answer.etag));
      if (!settled.proven) throw failure(`${formatS3Url(ref)} did not verify after adding its MD5: ${settled.reason}`);
      return settled.answer;
    }
    return answer;
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
    return { etag: normalizeEtag(output.ETag) ?? etag, versionId: output.VersionId };
  } catch (error) {
    await ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ref.bucket, Key: ref.key, UploadId: uploadId })).catch(() => undefined);
    throw error;
  }
}
