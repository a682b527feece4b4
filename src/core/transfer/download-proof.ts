/**
 * What a download's bytes are checked against, and what it reports: the hashes computed of the bytes
 * received, compared with the proof the object offers (its full-object or composite CRC32 or CRC32C,
 * stored MD5, or plain or multipart ETag). One place for every download path (memory, whole, ranges, stream).
 */
import { formatS3Url, type ObjectRef } from '../config/address.js';
import type { TransferContext } from '../s3/context.js';
import { compositeCrc32, compositeCrc32c, crc32cOf, crc32Of, crc32ToBase64, multipartEtag } from '../integrity/checksums.js';
import { needsCrc32c, type ContentProof } from '../integrity/content-proof.js';
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
   * What the bytes were checked against: the object's full-object or composite CRC32 (or CRC32C), its
   * stored MD5, its ETag (plain or multipart), or nothing the object offers.
   */
  verifiedBy: 'crc32' | 'crc32-composite' | 'crc32c' | 'crc32c-composite' | 'metadata-md5' | 'etag' | 'multipart-etag' | 'unverifiable';
}

/** The proofs recomputed part by part: the multipart ETag (part MD5s), a composite CRC32 or CRC32C (part CRCs). */
export type PartProof = Extract<ContentProof, { kind: 'multipart-etag' | 'composite-crc32' | 'composite-crc32c' }>;

export function isPartProof(proof: ContentProof): proof is PartProof {
  return proof.kind === 'multipart-etag' || proof.kind === 'composite-crc32' || proof.kind === 'composite-crc32c';
}

/** What was computed of the bytes received: the CRC32 always, MD5s where the proof needs them. */
export interface ReceivedHashes {
  crc32: number;
  md5: string | undefined;
  partMd5s: Buffer[];
  /** Each segment's CRC32, in order: the parts' when a composite CRC32 is to be recomputed. */
  partCrc32s?: number[];
  /** The CRC32C of the whole content, and of each segment, where the proof is a CRC32C. */
  crc32c?: number;
  partCrc32cs?: number[];
}

/**
 * The CRCs of bytes as they arrive: the CRC32 always (the hash cache keeps it), the CRC32C too when
 * the object's proof is one.
 */
export class ReceivedCrcs {
  crc32 = 0;
  crc32c: number | undefined;

  constructor(withCrc32c: boolean) {
    this.crc32c = withCrc32c ? 0 : undefined;
  }

  static for(proof: ContentProof): ReceivedCrcs {
    return new ReceivedCrcs(needsCrc32c(proof));
  }

  update(chunk: Uint8Array): void {
    this.crc32 = crc32Of(chunk, this.crc32);
    if (this.crc32c !== undefined) this.crc32c = crc32cOf(chunk, this.crc32c);
  }
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
  if (proof.kind === 'crc32c') {
    const crc32c = received.crc32c === undefined ? '(not computed)' : crc32ToBase64(received.crc32c);
    if (crc32c !== proof.crc32c) throw mismatch(`received CRC32C ${crc32c}, expected ${proof.crc32c} (the object's full-object CRC32C)`);
    return 'crc32c';
  }
  if (proof.kind === 'composite-crc32c') {
    const computed = received.partCrc32cs === undefined ? '(not computed)' : compositeCrc32c(received.partCrc32cs);
    if (computed !== proof.crc32c) throw mismatch(`received parts give composite CRC32C ${computed}, expected ${proof.crc32c}`);
    return 'crc32c-composite';
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
