/**
 * What proves a copy holds the source's bytes: its ETag or full-object checksum as the server gives
 * them, else the copy read back and hashed against the source's own proof.
 */
import { formatS3Url } from '../config/address.js';
import { crc32Of, crc32ToBase64, isPlainMd5Etag, multipartEtag, multipartEtagPartCount, newMd5, PartHasher } from '../integrity/checksums.js';
import { contentProofOf, etagReflectsContent, type ContentProof } from '../integrity/content-proof.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { ContentMismatch } from '../errors.js';
import { sdk } from '../s3/sdk.js';
import { hasWholeObjectChecksum, type HeadDetails, type StoredChecksums } from './stat.js';

/** The MD5 of no bytes. */
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/** What proved the copy holds the source's bytes: always something computed from the copy's own bytes. */
export type CopyProof =
  /** The copy's ETag equals the one the source's ETag implies: its MD5, or its multipart ETag copied part for part. */
  | 'etag'
  /** The full-object checksum (CRC32…) the server gives for the copy is the source's, and the sizes are equal. */
  | 'checksum'
  /** The copy was read back and hashed: its CRC32, MD5 or multipart ETag is the source's. */
  | 'read-back'
  /** Only the sizes could be compared: the source carries no MD5 ETag, stored MD5 or checksum to hash against. */
  | 'size-only';

/**
 * What proved the copy, and with what: for `checksum`, the checksum both carry (`crc32`, `crc32c`,
 * `crc64nvme`, `sha256`, `sha1`); for `read-back`, the source's proof the copy was hashed against,
 * named as `get` names its proofs (`crc32`, `metadata-md5`, `etag`, `multipart-etag`).
 */
export interface CopyVerdict {
  verifiedBy: CopyProof;
  verifiedWith?: string;
}

/**
 * Proves the copy from what the server says of it, where that is computed from the copy's own bytes:
 * the ETag where both ETags are MD5s, and a full-object checksum both carry; the sizes always.
 * Undefined when neither applies (SSE-KMS without a checksum): the copy must then be read back. A
 * stored MD5 (md5chksum) is never a proof here: it is metadata copied from the source, not a hash of the copy.
 */
export function proveCopy(from: HeadDetails, copy: HeadDetails, expectedEtag: string | undefined): CopyVerdict | undefined {
  const where = `the copy ${formatS3Url(copy)} of ${formatS3Url(from)}`;
  if (copy.size !== from.size) throw new ContentMismatch(`${where} did not verify: ${copy.size} bytes, the source has ${from.size}`);
  // An ETag counts where it has an MD5's form (MinIO gives some objects under SSE-S3, keys ending in
  // `/` among them, a 96-hex ETag of its own that changes with every copy).
  const etagsCount =
    expectedEtag !== undefined &&
    (isPlainMd5Etag(expectedEtag) || multipartEtagPartCount(expectedEtag) !== undefined) &&
    etagReflectsContent({ serverSideEncryption: from.serverSideEncryption ?? undefined }) &&
    etagReflectsContent({ serverSideEncryption: copy.serverSideEncryption ?? undefined });
  if (etagsCount && copy.etag !== expectedEtag) throw new ContentMismatch(`${where} did not verify: ETag ${copy.etag ?? 'none'}, expected ${expectedEtag}`);
  // Where the ETag proves the copy, a checksum the server stored for it must agree too: it is computed apart.
  const shared = sharedFullObjectChecksum(from.checksums, copy.checksums);
  if (shared && shared.copy !== shared.source) throw new ContentMismatch(`${where} did not verify: ${shared.name} ${shared.copy}, the source's is ${shared.source}`);
  if (etagsCount) return { verifiedBy: 'etag' };
  return shared ? { verifiedBy: 'checksum', verifiedWith: shared.name } : undefined;
}

/**
 * Reads the copy (that very version) back and hashes it against the source's own proof: its
 * full-object CRC32, its stored MD5, or its MD5 or multipart ETag. A source that offers none leaves
 * the sizes only ('size-only', which mv refuses to act on).
 */
export async function readBack(ctx: TransferContext, from: HeadDetails, copy: HeadDetails, partSizes: number[] | undefined): Promise<CopyVerdict> {
  const crc32 = hasWholeObjectChecksum(from.checksums) ? from.checksums.crc32 : undefined;
  // An empty source (a folder marker) needs no proof of its own: the copy read back must be empty too.
  const proof: ContentProof =
    from.size === 0 ? { kind: 'md5', md5: EMPTY_MD5, source: 'etag' } : contentProofOf({ etag: from.etag, crc32, metadata: from.metadata, serverSideEncryption: from.serverSideEncryption ?? undefined });
  // Composite CRC32s and CRC32Cs are not offered here (none passed): read-back hashes whole parts by MD5.
  if (proof.kind === 'none' || proof.kind === 'composite-crc32' || proof.kind === 'crc32c' || proof.kind === 'composite-crc32c') return { verifiedBy: 'size-only' };
  if (proof.kind === 'multipart-etag' && partSizes === undefined) return { verifiedBy: 'size-only' };
  const { GetObjectCommand } = await sdk();
  const hashes = await dataRequest(ctx, `GET ${copy.key} (read back)`, async () => {
    const output = await ctx.client.send(
      new GetObjectCommand({ Bucket: copy.bucket, Key: copy.key, ...(copy.versionId ? { VersionId: copy.versionId } : {}), ...(copy.etag ? { IfMatch: `"${copy.etag}"` } : {}) }),
      { abortSignal: ctx.signal },
    );
    return hashCopy(output.Body as AsyncIterable<Uint8Array>, partSizes ?? [copy.size]);
  });
  const where = `the copy ${formatS3Url(copy)} of ${formatS3Url(from)}, read back,`;
  const found =
    proof.kind === 'crc32' ? { name: 'CRC32', with: 'crc32', got: crc32ToBase64(hashes.crc32), want: proof.crc32 }
    : proof.kind === 'md5' ? { name: proof.source === 'metadata' ? 'MD5 (the source stores as md5chksum)' : 'MD5', with: proof.source === 'metadata' ? 'metadata-md5' : 'etag', got: hashes.md5, want: proof.md5 }
    : { name: 'multipart ETag', with: 'multipart-etag', got: multipartEtag(hashes.partMd5s), want: proof.etag };
  if (found.got !== found.want) throw new ContentMismatch(`${where} did not verify: its ${found.name} is ${found.got}, the source's is ${found.want}`);
  return { verifiedBy: 'read-back', verifiedWith: found.with };
}

/** CRC32, MD5 and the MD5 of each part (in the given sizes, by checksums.ts's PartHasher) of a stream, in one pass. */
async function hashCopy(body: AsyncIterable<Uint8Array>, partSizes: readonly number[]): Promise<{ crc32: number; md5: string; partMd5s: Buffer[] }> {
  let crc32 = 0;
  const whole = newMd5();
  const parts = new PartHasher(partSizes, false);
  for await (const chunk of body) {
    crc32 = crc32Of(chunk, crc32);
    whole.update(chunk);
    parts.update(chunk);
  }
  return { crc32, md5: whole.digest('hex'), partMd5s: parts.completed().map((part) => part.md5) };
}

function sharedFullObjectChecksum(source: StoredChecksums, copy: StoredChecksums): { name: string; source: string; copy: string } | undefined {
  if (!hasWholeObjectChecksum(source) || !hasWholeObjectChecksum(copy)) return undefined;
  for (const name of ['crc64nvme', 'crc32c', 'crc32', 'sha256', 'sha1'] as const) {
    const [a, b] = [source[name], copy[name]];
    if (a !== undefined && b !== undefined) return { name, source: a, copy: b };
  }
  return undefined;
}
