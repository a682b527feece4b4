import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { fileHashing } from './limiter.js';

/**
 * The one place that knows how content is proven: MD5s, ETag arithmetic and the whole-content MD5
 * kept in user metadata.
 *
 * The metadata key is rclone's (`x-amz-meta-md5chksum`, base64 of the MD5), so objects written by
 * either tool verify with the other.
 */
export const MD5_METADATA_KEY = 'md5chksum';

export function newMd5(): Hash {
  return createHash('md5');
}

export function md5Of(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

/**
 * MD5 of a file, or of the byte range [start, end) of it. Read in large chunks into two buffers in
 * turn, the next read under way while this one is hashed: no buffer allocated per chunk, and the
 * thread hashes while the thread pool reads.
 */
export function md5OfFile(path: string, range?: { start: number; end: number }): Promise<Buffer> {
  return fileHashing.run(() => hashFile(path, range));
}

async function hashFile(path: string, range?: { start: number; end: number }): Promise<Buffer> {
  const hash = newMd5();
  const file = await open(path, 'r');
  try {
    const start = range?.start ?? 0;
    const end = range?.end ?? (await file.stat()).size;
    const length = end - start;
    if (length <= 0) return hash.digest();
    const chunk = Math.min(HASH_CHUNK, length);
    const buffers = length > chunk ? [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)] : [Buffer.allocUnsafe(chunk)];
    let position = start;
    let turn = 0;
    let reading: Promise<{ bytesRead: number; buffer: Buffer }> | undefined = file.read(buffers[0]!, 0, chunk, position);
    while (reading) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break; // the file is shorter than the range: what is there is hashed
      position += bytesRead;
      const next = () => (position < end ? file.read(buffers[turn]!, 0, Math.min(chunk, end - position), position) : undefined);
      if (buffers.length === 1) {
        // One buffer (a short range read short): hashed before it is read into again.
        hash.update(buffer.subarray(0, bytesRead));
        reading = next();
      } else {
        turn = 1 - turn;
        reading = next();
        hash.update(buffer.subarray(0, bytesRead));
      }
    }
  } finally {
    await file.close();
  }
  return hash.digest();
}

/** Files are hashed 4 MiB at a time. */
const HASH_CHUNK = 4 * 1024 * 1024;

/** `"abc…"` → `abc…`, lower case; undefined stays undefined. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  // The usual form, `"<32 hex digits>"`, without regular expressions.
  if (etag.length === 34 && etag.charCodeAt(0) === 34 && etag.indexOf('"', 1) === 33) {
    return etag.slice(1, 33).toLowerCase();
  }
  return etag.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
}

/** The ETag S3 gives a multipart object: MD5 of the concatenated part MD5s, then `-` and the part count. */
export function multipartEtag(partMd5s: readonly Uint8Array[]): string {
  const hash = createHash('md5');
  for (const partMd5 of partMd5s) hash.update(partMd5);
  return `${hash.digest('hex')}-${partMd5s.length}`;
}

export function isPlainMd5Etag(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag);
}

/** The part count of a multipart ETag (`…-N`), or undefined for any other ETag. */
export function multipartEtagPartCount(etag: string): number | undefined {
  const match = /^[0-9a-f]{32}-(\d+)$/.exec(etag);
  return match ? Number(match[1]) : undefined;
}

export function md5ToMetadata(md5: Uint8Array): string {
  return Buffer.from(md5).toString('base64');
}

/** The whole-content MD5 stored at upload, in hex, if the metadata holds a valid one. */
export function md5FromMetadata(metadata: Record<string, string> | undefined): string | undefined {
  const value = metadata?.[MD5_METADATA_KEY];
  if (!value) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === 16 ? bytes.toString('hex') : undefined;
}

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
  | { kind: 'md5'; md5: string; source: 'metadata' | 'etag' }
  | { kind: 'multipart-etag'; etag: string; partCount: number }
  | { kind: 'none'; reason: string };

export interface ObjectFingerprint {
  etag: string | undefined;
  metadata: Record<string, string> | undefined;
  serverSideEncryption?: string | undefined;
  customerKey?: boolean;
}

/** Picks the strongest proof an object offers: stored MD5, then a plain-MD5 ETag, then the multipart ETag. */
export function contentProofOf(object: ObjectFingerprint): ContentProof {
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

/**
 * The multipart ETag a file would have if uploaded in parts of these sizes, in order: how another
 * tool's object is compared with a local file. The sizes are the object's own (see part-layout.ts).
 */
export async function multipartEtagOfFile(path: string, partSizes: readonly number[]): Promise<string> {
  const partMd5s: Buffer[] = [];
  let start = 0;
  for (const size of partSizes) {
    partMd5s.push(await md5OfFile(path, { start, end: start + size }));
    start += size;
  }
  return multipartEtag(partMd5s);
}
