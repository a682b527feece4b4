/**
 * integrity/: the proof an object offers (contentProofOf) — which of its stored checksums or its ETag
 * a downloaded, compared or copied copy must match, in the order of cost and strength. Split from
 * checksums.ts, whose arithmetic it uses.
 */
import { compositeCrc32Parts, crc32FromBase64 } from './crc32.js';
import { crc32cAvailable } from './crc32c.js';
import { isPlainMd5Etag, md5FromMetadata, multipartEtagPartCount, normalizeEtag } from './checksums.js';

/**
 * Whether an object's ETag is derived from its plaintext MD5. It is not under SSE-KMS or SSE-C, where
 * S3 returns an opaque value; that is why the whole-content MD5 is also kept in metadata.
 */
export function etagReflectsContent(encryption: { serverSideEncryption?: string | undefined; customerKey?: boolean }): boolean {
  if (encryption.customerKey) return false;
  const sse = encryption.serverSideEncryption;
  return sse === undefined || sse === 'AES256';
}

/** What a downloaded or compared copy must match to count as the same bytes. */
export type ContentProof =
  | { kind: 'crc32'; crc32: string }
  | { kind: 'md5'; md5: string; source: 'metadata' | 'etag' }
  | { kind: 'multipart-etag'; etag: string; partCount: number }
  /** A COMPOSITE CRC32 (`…-N`): the CRC32 of the parts' CRC32s, recomputed from the parts fetched by number. */
  | { kind: 'composite-crc32'; crc32: string; partCount: number }
  /** The same two for CRC32C, proven where the native CRC32C loads (crc32c.ts). */
  | { kind: 'crc32c'; crc32c: string }
  | { kind: 'composite-crc32c'; crc32c: string; partCount: number }
  | { kind: 'none'; reason: string };

/** Whether the proof is a CRC32 or CRC32C of the bytes (as opposed to an MD5 or ETag). */
export function isCrcProof(proof: ContentProof): boolean {
  return proof.kind === 'crc32' || proof.kind === 'composite-crc32' || proof.kind === 'crc32c' || proof.kind === 'composite-crc32c';
}

/** Whether the proof needs the CRC32C of the bytes received. */
export function needsCrc32c(proof: ContentProof): boolean {
  return proof.kind === 'crc32c' || proof.kind === 'composite-crc32c';
}

export interface ObjectFingerprint {
  etag: string | undefined;
  /** The object's full-object CRC32 (base64), when the server keeps one; never a composite one. */
  crc32?: string | undefined;
  /** A composite CRC32 (`<base64>-N`), when that is what the server keeps. */
  compositeCrc32?: string | undefined;
  /** The same for CRC32C: a full-object one, or a composite one (`<base64>-N`). */
  crc32c?: string | undefined;
  compositeCrc32c?: string | undefined;
  metadata: Record<string, string> | undefined;
  serverSideEncryption?: string | undefined;
  customerKey?: boolean;
}

/**
 * Picks the cheapest strong proof an object offers: its full-object CRC32 (hashed as the bytes land,
 * in pieces, combined), its composite CRC32 (the parts' CRC32s, fetched part by part), the same two
 * for CRC32C where the native CRC32C loads, then a stored MD5, a plain-MD5 ETag, and the multipart ETag.
 */
export function contentProofOf(object: ObjectFingerprint): ContentProof {
  if (object.crc32 !== undefined && crc32FromBase64(object.crc32) !== undefined) return { kind: 'crc32', crc32: object.crc32 };
  const composite = compositeCrc32Parts(object.compositeCrc32);
  if (composite) return { kind: 'composite-crc32', ...composite };
  if (crc32cAvailable()) {
    if (object.crc32c !== undefined && crc32FromBase64(object.crc32c) !== undefined) return { kind: 'crc32c', crc32c: object.crc32c };
    const compositeC = compositeCrc32Parts(object.compositeCrc32c);
    if (compositeC) return { kind: 'composite-crc32c', crc32c: compositeC.crc32, partCount: compositeC.partCount };
  }
  const stored = md5FromMetadata(object.metadata);
  if (stored) return { kind: 'md5', md5: stored, source: 'metadata' };
  const etag = normalizeEtag(object.etag);
  if (etag && etagReflectsContent(object)) {
    if (isPlainMd5Etag(etag)) return { kind: 'md5', md5: etag, source: 'etag' };
    const partCount = multipartEtagPartCount(etag);
    if (partCount !== undefined) return { kind: 'multipart-etag', etag, partCount };
  }
  return { kind: 'none', reason: etag ? `ETag ${etag} is not an MD5 and no MD5 was stored at upload` : 'no ETag' };
}
