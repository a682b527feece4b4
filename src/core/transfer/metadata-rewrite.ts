/**
 * Adding the whole-content MD5 to a stream's metadata once its last byte was sent (`put -
 * --md5-metadata`): the object is copied onto itself with its metadata replaced. Up to 5 GiB one
 * CopyObject; above, the parts already uploaded are copied in their own layout through the one
 * multipart upload (multipart-upload.ts: copyParts, then the same completion and proof as an upload).
 */
import type { CopyObjectCommandOutput } from '@aws-sdk/client-s3';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { isPlainMd5Etag, normalizeEtag } from '../integrity/checksums.js';
import { etagReflectsContent } from '../integrity/content-proof.js';
import { controlRequest, type TransferContext } from '../s3/context.js';
import { sdk } from '../s3/sdk.js';
import { failure } from '../errors.js';
import { GiB } from '../config/units.js';
import { storageFields, storageHeaders, type PutOptions } from './put-options.js';
import { abortQuietly, completeMultipartUpload, copyParts, createMultipartUpload, type SentPart } from './multipart-upload.js';
import { partsOfSizes } from './parts.js';
import { settleLostAnswer, settleMismatch, type ExpectedObject, type WriteAnswer } from './upload-proof.js';

const MAX_COPY_OBJECT_SIZE = 5 * GiB;

/**
 * Copies an object onto itself with its metadata replaced, adding the whole-content MD5 that was only
 * known once the last byte of a stream was sent. The copy is conditional on the ETag just written, so
 * a concurrent writer is never overwritten. Its answer is proven like an upload's (upload-proof.ts):
 * a lost answer (the retry then finds the ETag changed) or one with an unexpected ETag is settled by a
 * fresh look, and only the copy just made is ever removed. Returns the new ETag and version.
 */
export async function rewriteMetadata(
  ctx: TransferContext,
  ref: ObjectRef,
  uploaded: { size: number; etag: string; parts: readonly SentPart[] },
  options: PutOptions,
  md5Hex: string,
): Promise<WriteAnswer> {
  const { size, etag } = uploaded;
  if (size > MAX_COPY_OBJECT_SIZE) return copyInParts(ctx, ref, uploaded, options, md5Hex);
  const copySource = `${ref.bucket}/${ref.key.split('/').map(encodeURIComponent).join('/')}`;
  const { Tagging: _tagging, ...fields } = storageFields(options, md5Hex);
  // A copy keeps the ETag or makes it the MD5 of the whole content, depending on the server.
  const expected: ExpectedObject = { size, etags: [etag, md5Hex], md5: md5Hex };
  const operation = 'CopyObject';
  const { CopyObjectCommand } = await sdk();
  let output: CopyObjectCommandOutput;
  try {
    output = await controlRequest(ctx, `${operation} ${ref.key}`, () =>
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

/**
 * Over 5 GiB a single CopyObject is refused: a new multipart upload of the key with the new metadata,
 * its parts copied from the object in the layout it was uploaded in, completed and proven as the
 * upload was (the same multipart ETag, each part's ETag the MD5 it was sent with, and now the MD5 in
 * its metadata; no full-object CRC32: none is asked for, as MinIO refuses part copies into an upload
 * that asks for one — cp asks and falls back, copy-requests.ts's startAndCopyParts).
 */
async function copyInParts(ctx: TransferContext, ref: ObjectRef, uploaded: { size: number; etag: string; parts: readonly SentPart[] }, options: PutOptions, md5Hex: string): Promise<WriteAnswer> {
  // Without a full-object CRC32: MinIO refuses part copies into an upload that asks for one.
  const upload = await createMultipartUpload(ctx, ref, storageHeaders(options, md5Hex), { fullObjectCrc32: false });
  try {
    // Each part from the range it was sent as, checked against what it was sent with.
    const sent = [...uploaded.parts].sort((a, b) => a.partNumber - b.partNumber);
    const ranges = partsOfSizes(sent.map((part) => part.size)).map((range, index) => ({ ...range, partNumber: sent[index]!.partNumber, sent: sent[index]! }));
    const parts = await copyParts(ctx, ref, upload.uploadId, { ref, etag: uploaded.etag }, ranges);
    const { crc32: _crc32, ...answer } = await completeMultipartUpload(ctx, ref, upload.uploadId, parts, { checkEtag: upload.etagReflectsContent, size: uploaded.size, md5: md5Hex, fullObjectCrc32: false });
    return answer;
  } catch (error) {
    await abortQuietly(ctx, ref, upload.uploadId);
    throw error;
  }
}
