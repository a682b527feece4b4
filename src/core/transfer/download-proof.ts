/**
 * What a download's bytes are checked against, and what it reports: the hashes computed of the bytes
 * received, compared with the proof the object offers (its full-object or composite CRC32, stored
 * MD5, or plain or multipart ETag). One place for every download path (memory, whole, ranges, stream).
 */
import { formatS3Url, type ObjectRef } from '../config/address.js';
import type { TransferContext } from '../s3/context.js';
import { compositeCrc32, crc32ToBase64, multipartEtag, type ContentProof } from '../integrity/checksums.js';
import { ContentMismatch } from '../errors.js';
import type { ObjectHead } from '../s3/objects.js';

export interface DownloadedObject {
  bucket: string;
  key: string;
  size: number;
  etag: string | undefined;
  /** The CRC32 (base64, as S3 shows it) of the whole content, as received. */
  crc32: string;
  /** Hex MD5 of the whole content, as received, where the proof needed it. */
  md5?: string;
  /** Where it was written; `-` for standard output. */
  path: string;
  /**
   * What the bytes were checked against: the object's full-object CRC32, its stored MD5, its ETag
   * (plain or multipart), or nothing the object offers.
   */
  verifiedBy: 'crc32' | 'crc32-composite' | 'metadata-md5' | 'etag' | 'multipart-etag' | 'unverifiable';
}

/** The proofs recomputed part by part: the multipart ETag (part MD5s), the composite CRC32 (part CRC32s). */
export type PartProof = Extract<ContentProof, { kind: 'multipart-etag' | 'composite-crc32' }>;

export function isPartProof(proof: ContentProof): proof is PartProof {
  return proof.kind === 'multipart-etag' || proof.kind === 'composite-crc32';
}

/** What was computed of the bytes received: the CRC32 always, MD5s where the proof needs them. */
export interface ReceivedHashes {
  crc32: number;
  md5: string | undefined;
  partMd5s: Buffer[];
  /** Each segment's CRC32, in order: the parts' when a composite CRC32 is to be recomputed. */
  partCrc32s?: number[];
}

export function hashFields(received: ReceivedHashes): { crc32: string; md5?: string } {
  return { crc32: crc32ToBase64(received.crc32), ...(received.md5 !== undefined ? { md5: received.md5 } : {}) };
}

/**
 * Compares what arrived with what the object promises; a mismatch is a failure naming the object and
 * saying what became of the bytes (`outcome`: nothing written to a file, or already on standard output).
 */
export function checkProof(
  head: ObjectHead,
  proof: ContentProof,
  received: ReceivedHashes,
  outcome: { said: string; hint: string } = { said: 'nothing was written', hint: 'run the download again' },
): DownloadedObject['verifiedBy'] {
  const mismatch = (what: string) => new ContentMismatch(`${formatS3Url(head.ref)} did not verify: ${what}; ${outcome.said}`, outcome.hint);
  if (proof.kind === 'crc32') {
    const crc32 = crc32ToBase64(received.crc32);
    if (crc32 !== proof.crc32) throw mismatch(`received CRC32 ${crc32}, expected ${proof.crc32} (the object's full-object CRC32)`);
    return 'crc32';
  }
  if (proof.kind === 'composite-crc32') {
    const computed = compositeCrc32(received.partCrc32s ?? []);
    if (computed !== proof.crc32) throw mismatch(`received parts give composite CRC32 ${computed}, expected ${proof.crc32}`);
    return 'crc32-composite';
  }
  if (proof.kind === 'md5') {
    if (received.md5 !== proof.md5) throw mismatch(`received MD5 ${received.md5 ?? '(none)'}, expected ${proof.md5}`);
    return proof.source === 'metadata' ? 'metadata-md5' : 'etag';
  }
  if (proof.kind === 'multipart-etag') {
    const computed = multipartEtag(received.partMd5s);
    if (computed !== proof.etag) throw mismatch(`received parts give ETag ${computed}, expected ${proof.etag}`);
    return 'multipart-etag';
  }
  return 'unverifiable';
}

/**
 * Bytes damaged on the way: `fetch` runs once more before the mismatch stands, never a third time;
 * `beforeAgain` takes back what the failed attempt counted and wrote. The one place a download is
 * fetched again because it did not verify (transient errors are s3/retry.ts's).
 */
export async function fetchAgainOnMismatch<T>(ctx: TransferContext, ref: ObjectRef, fetch: () => Promise<T>, beforeAgain: () => unknown): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fetch();
    } catch (error) {
      if (!(error instanceof ContentMismatch) || attempt >= 2) throw error;
      ctx.events.emit('warning', { message: `${error.message}; downloading it once more`, ref });
      await beforeAgain();
    }
  }
}
