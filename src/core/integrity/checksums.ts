/**
 * integrity/: how content is proven. This file: MD5 and ETag arithmetic, files read for hashing, and
 * the hashes of each part of a file or stream (PartHasher, the one place part MD5s are computed);
 * CRC32 arithmetic is crc32.ts and CRC32C crc32c.ts, re-exported here. The proof an object offers
 * (content-proof.ts), hashing off the main thread (hash-worker.ts, background-hasher.ts). Nothing
 * here asks the server (a multipart object's part sizes and the proof of what an upload wrote, which
 * do, are transfer/part-layout.ts and transfer/upload-proof.ts). Imports config/ and errors.ts, and
 * from s3/ only limiter.ts, the one home of concurrency, whose slots bound the files hashed at once.
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { fileHashing } from '../s3/limiter.js';
import { crc32Of } from './crc32.js';
import { crc32cOf } from './crc32c.js';

export { combineCrc32s, compositeCrc32, compositeCrc32Parts, crc32ByTable, crc32Combine, crc32FromBase64, crc32Implementation, crc32Of, crc32ToBase64 } from './crc32.js';
export { combineCrc32cs, compositeCrc32c, crc32cAvailable, crc32cCombine, crc32cOf } from './crc32c.js';

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
 * chunk, and the thread hashes while the thread pool reads. `buffers` (two of HASH_CHUNK bytes) are
 * read into instead of new ones, by a caller that keeps them for its next file.
 */
export async function readFileChunks(
  path: string,
  range: { start: number; end: number } | undefined,
  consume: (chunk: Buffer) => void,
  buffers?: readonly [Buffer, Buffer],
): Promise<void> {
  const file = await open(path, 'r');
  try {
    const start = range?.start ?? 0;
    const end = range?.end ?? (await file.stat()).size;
    const length = end - start;
    if (length <= 0) return;
    const chunk = Math.min(HASH_CHUNK, length);
    const single = length <= chunk;
    const pair = buffers ?? (single ? [Buffer.allocUnsafe(chunk)] : [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)]);
    let position = start;
    let turn = 0;
    let reading: Promise<{ bytesRead: number; buffer: Buffer }> | undefined = file.read(pair[0]!, 0, chunk, position);
    while (reading) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break; // the file is shorter than the range: what is there is consumed
      position += bytesRead;
      const next = () => (position < end ? file.read(pair[turn]!, 0, Math.min(chunk, end - position), position) : undefined);
      if (single) {
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

/**
 * The CRC32 of a file (or of a byte range of it) and, when asked, its CRC32C, in one read: a resumed
 * download's ranges proven still there, a local file compared with an object's CRC32C.
 */
export function crcsOfFile(path: string, range: { start: number; end: number } | undefined, withCrc32c: boolean): Promise<{ crc32: number; crc32c?: number }> {
  return fileHashing.run(async () => {
    let crc32 = 0;
    let crc32c = 0;
    await readFileChunks(path, range, (chunk) => {
      crc32 = crc32Of(chunk, crc32);
      if (withCrc32c) crc32c = crc32cOf(chunk, crc32c);
    });
    return withCrc32c ? { crc32, crc32c } : { crc32 };
  });
}

/** Files are hashed 4 MiB at a time. */
export const HASH_CHUNK = 4 * 1024 * 1024;


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

/** One part's hashes: its MD5, and its CRC32 where asked for. */
export interface PartHashes {
  md5: Buffer;
  crc32: number;
}

/**
 * The MD5 (and, when asked, the CRC32) of each part of content laid out in parts of the given sizes,
 * in order, from chunks handed in as they are read: the one place part hashes are computed from a
 * file (a multipart ETag recomputed, a resumed upload's parts proven) or a stream (a copy read
 * back). Chunks are cut at the part bounds; bytes beyond the last part are not hashed.
 */
export class PartHasher {
  private readonly done: PartHashes[] = [];
  private part = newMd5();
  private crc32 = 0;
  private index = 0;
  private left: number;
  /** Bytes hashed into parts so far. */
  bytes = 0;

  constructor(
    private readonly sizes: readonly number[],
    private readonly withCrc32 = true,
  ) {
    this.left = sizes[0] ?? 0;
    this.closeEmptyParts();
  }

  update(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length && this.index < this.sizes.length) {
      const take = Math.min(this.left, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + take);
      this.part.update(piece);
      if (this.withCrc32) this.crc32 = crc32Of(piece, this.crc32);
      offset += take;
      this.left -= take;
      this.bytes += take;
      this.closeEmptyParts();
    }
  }

  /** The parts every byte of which was handed in, in order. */
  completed(): PartHashes[] {
    return this.done;
  }

  /** Every part: those the content did not reach in full are hashes of what reached them (nothing, for some). */
  all(): PartHashes[] {
    const parts = [...this.done];
    for (let index = this.index; index < this.sizes.length; index += 1) {
      const partial = index === this.index;
      parts.push({ md5: partial ? this.part.digest() : md5Of(new Uint8Array(0)), crc32: partial ? this.crc32 : 0 });
    }
    return parts;
  }

  /** Closes the part just filled, and any of size 0 after it. */
  private closeEmptyParts(): void {
    while (this.left === 0 && this.index < this.sizes.length) {
      this.done.push({ md5: this.part.digest(), crc32: this.crc32 });
      this.part = newMd5();
      this.crc32 = 0;
      this.index += 1;
      this.left = this.sizes[this.index] ?? 0;
    }
  }
}

/** Sizes of `partSize` over `size` bytes, the last the rest. */
export function evenPartSizes(size: number, partSize: number): number[] {
  const sizes: number[] = [];
  for (let start = 0; start < size; start += partSize) sizes.push(Math.min(partSize, size - start));
  return sizes;
}

/**
 * The multipart ETag a file would have if uploaded in parts of these sizes, in order: how another
 * tool's object is compared with a local file. The sizes are the object's own (see part-layout.ts).
 * The file is read once (one of the files hashed at once); a part past its end is the MD5 of what is there.
 */
export function multipartEtagOfFile(path: string, partSizes: readonly number[]): Promise<string> {
  return fileHashing.run(async () => {
    const hasher = new PartHasher(partSizes, false);
    const total = partSizes.reduce((sum, size) => sum + size, 0);
    await readFileChunks(path, { start: 0, end: total }, (chunk) => hasher.update(chunk));
    return multipartEtag(hasher.all().map((part) => part.md5));
  });
}
