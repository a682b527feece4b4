/**
 * integrity/: how content is proven. CRC32 and MD5 (this file), hashing off the main thread
 * (hash-worker.ts, background-hasher.ts), a multipart object's part sizes (part-layout.ts) and the
 * proof of what an upload wrote (upload-proof.ts). Imports config/, errors.ts and s3/ (the last two
 * files ask the server; hashing takes its slots from s3/limiter.ts).
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import { fileHashing } from '../s3/limiter.js';

/**
 * The one place that knows how content is proven: S3's full-object CRC32 and its combination from
 * pieces, MD5s, ETag arithmetic and the whole-content MD5 kept in user metadata.
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

/** MD5 of a file, or of the byte range [start, end) of it. */
export function md5OfFile(path: string, range?: { start: number; end: number }): Promise<Buffer> {
  return fileHashing.run(() => hashFile(path, range));
}

async function hashFile(path: string, range?: { start: number; end: number }): Promise<Buffer> {
  const hash = newMd5();
  await readFileChunks(path, range, (chunk) => hash.update(chunk));
  return hash.digest();
}

/**
 * Hands the file (or the range [start, end) of it) to `consume` in large chunks, read into two
 * buffers in turn, the next read under way while this one is consumed: no buffer allocated per
 * chunk, and the thread hashes while the thread pool reads.
 */
async function readFileChunks(path: string, range: { start: number; end: number } | undefined, consume: (chunk: Buffer) => void): Promise<void> {
  const file = await open(path, 'r');
  try {
    const start = range?.start ?? 0;
    const end = range?.end ?? (await file.stat()).size;
    const length = end - start;
    if (length <= 0) return;
    const chunk = Math.min(HASH_CHUNK, length);
    const buffers = length > chunk ? [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)] : [Buffer.allocUnsafe(chunk)];
    let position = start;
    let turn = 0;
    let reading: Promise<{ bytesRead: number; buffer: Buffer }> | undefined = file.read(buffers[0]!, 0, chunk, position);
    while (reading) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break; // the file is shorter than the range: what is there is consumed
      position += bytesRead;
      const next = () => (position < end ? file.read(buffers[turn]!, 0, Math.min(chunk, end - position), position) : undefined);
      if (buffers.length === 1) {
        // One buffer (a short range read short): consumed before it is read into again.
        consume(buffer.subarray(0, bytesRead));
        reading = next();
      } else {
        turn = 1 - turn;
        reading = next();
        consume(buffer.subarray(0, bytesRead));
      }
    }
  } finally {
    await file.close();
  }
}

/**
 * CRC32 (the ISO-HDLC polynomial S3 names CRC32) of `data`, continuing from `previous`. Node's own
 * (zlib's, about 3 GiB/s here) where the runtime has it (Node 20.15 and later), else a table.
 */
export const crc32Of: (data: Uint8Array, previous?: number) => number =
  (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32 ?? crc32ByTable;

const CRC32_POLYNOMIAL = 0xedb88320;
let crcTable: Uint32Array | undefined;

/** The same CRC32, a byte at a time from a table: for a runtime without zlib's. */
export function crc32ByTable(data: Uint8Array, previous = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n += 1) {
      let c = n;
      for (let k = 0; k < 8; k += 1) c = c & 1 ? (c >>> 1) ^ CRC32_POLYNOMIAL : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = ~previous >>> 0;
  for (let index = 0; index < data.length; index += 1) crc = crcTable[(crc ^ data[index]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** a·b modulo the CRC polynomial, both as bit-reflected polynomials (zlib's multmodp). */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let bit = 0x80000000; bit !== 0; bit >>>= 1) {
    if (a & bit) {
      product ^= b;
      if ((a & (bit - 1)) === 0) break;
    }
    b = b & 1 ? (b >>> 1) ^ CRC32_POLYNOMIAL : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0…31. */
const X_POWERS_OF_TWO: number[] = (() => {
  const powers = [0x40000000]; // x^1
  for (let k = 1; k < 32; k += 1) powers.push(multiplyModP(powers[k - 1]!, powers[k - 1]!));
  return powers;
})();

/** x^(8·bytes) modulo the polynomial: what appending `bytes` zero bytes multiplies a CRC by. */
function shiftForBytes(bytes: number): number {
  let power = 0x80000000; // x^0
  let k = 3; // 8 bits a byte
  for (let rest = bytes; rest > 0; rest = Math.floor(rest / 2), k += 1) {
    if (rest % 2 === 1) power = multiplyModP(X_POWERS_OF_TWO[k % 32]!, power);
  }
  return power;
}

/**
 * The CRC32 of A followed by B from the CRC32s of A and B and B's length (zlib's crc32_combine), so
 * pieces hashed apart, in any order, give the whole object's CRC32. Lengths beyond 4 GiB are exact.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multiplyModP(shiftForBytes(lengthB), crcA) ^ crcB) >>> 0;
}

/** The CRC32 of pieces laid end to end, in order. */
export function combineCrc32s(pieces: ReadonlyArray<{ crc32: number; size: number }>): number {
  let crc = 0;
  for (const piece of pieces) crc = crc32Combine(crc, piece.crc32, piece.size);
  return crc;
}

/** A CRC32 as S3 shows it: base64 of its four bytes, big-endian. */
export function crc32ToBase64(crc: number): string {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(crc >>> 0);
  return bytes.toString('base64');
}

/** S3's base64 CRC32 as a number; undefined for anything else (a composite `…-N`, a damaged value). */
export function crc32FromBase64(value: string): number | undefined {
  if (!/^[A-Za-z0-9+/]{6}==$/.test(value)) return undefined;
  return Buffer.from(value, 'base64').readUInt32BE(0);
}

/**
 * CRC32 of a file, or of the byte range [start, end) of it, read as md5OfFile reads (one of the files
 * hashed at once): the local side of a full-object CRC32 comparison, about six times cheaper than MD5.
 */
export function crc32OfFile(path: string, range?: { start: number; end: number }): Promise<number> {
  return fileHashing.run(async () => {
    let crc = 0;
    await readFileChunks(path, range, (chunk) => {
      crc = crc32Of(chunk, crc);
    });
    return crc;
  });
}

/** Files are hashed 4 MiB at a time. */
const HASH_CHUNK = 4 * 1024 * 1024;

/**
 * A composite CRC32 as S3 shows it: the CRC32 of the parts' CRC32s (each 4 bytes, big-endian,
 * in part order), base64, then `-` and the part count.
 */
export function compositeCrc32(partCrc32s: readonly number[]): string {
  const joined = Buffer.alloc(partCrc32s.length * 4);
  partCrc32s.forEach((crc, index) => joined.writeUInt32BE(crc >>> 0, index * 4));
  return `${crc32ToBase64(crc32Of(joined))}-${partCrc32s.length}`;
}

/** `<base64 CRC32>-N` → its parts; undefined for anything else. */
export function compositeCrc32Parts(value: string | undefined): { crc32: string; partCount: number } | undefined {
  const dash = value?.lastIndexOf('-') ?? -1;
  if (value === undefined || dash < 0) return undefined;
  const partCount = Number(value.slice(dash + 1));
  if (!Number.isInteger(partCount) || partCount < 1 || crc32FromBase64(value.slice(0, dash)) === undefined) return undefined;
  return { crc32: value, partCount };
}

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
  | { kind: 'crc32'; crc32: string }
  | { kind: 'md5'; md5: string; source: 'metadata' | 'etag' }
  | { kind: 'multipart-etag'; etag: string; partCount: number }
  /** A COMPOSITE CRC32 (`…-N`): the CRC32 of the parts' CRC32s, recomputed from the parts fetched by number. */
  | { kind: 'composite-crc32'; crc32: string; partCount: number }
  | { kind: 'none'; reason: string };

export interface ObjectFingerprint {
  etag: string | undefined;
  /** The object's full-object CRC32 (base64), when the server keeps one; never a composite one. */
  crc32?: string | undefined;
  /** A composite CRC32 (`<base64>-N`), when that is what the server keeps. */
  compositeCrc32?: string | undefined;
  metadata: Record<string, string> | undefined;
  serverSideEncryption?: string | undefined;
  customerKey?: boolean;
}

/**
 * Picks the cheapest strong proof an object offers: its full-object CRC32 (hashed as the bytes land,
 * in pieces, combined), its composite CRC32 (the parts' CRC32s, fetched part by part), then a stored MD5, a plain-MD5 ETag, and the multipart ETag.
 */
export function contentProofOf(object: ObjectFingerprint): ContentProof {
  if (object.crc32 !== undefined && crc32FromBase64(object.crc32) !== undefined) return { kind: 'crc32', crc32: object.crc32 };
  const composite = compositeCrc32Parts(object.compositeCrc32);
  if (composite) return { kind: 'composite-crc32', ...composite };
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
