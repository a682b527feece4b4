/**
 * CRC32C (Castagnoli), the checksum S3 names CRC32C: the proof of objects other tools uploaded with it
 * (`aws s3 cp --checksum-algorithm CRC32C`, boto3's `ChecksumAlgorithm='CRC32C'`). Computed by
 * @node-rs/crc32's native code (several GiB/s a core; a table in JavaScript would be slower than MD5,
 * which such objects can still be proven by). Loaded on first use, since only those objects need it;
 * where its binary does not load on this platform, `crc32cAvailable()` is false and the object's MD5
 * or ETag proves it instead. checksums.ts re-exports all of it: import from there.
 */
import { crcCombiner, crc32ToBase64, nativeCrcs } from './crc32.js';

/** Whether CRC32C can be computed here (the native library loads). */
export function crc32cAvailable(): boolean {
  return nativeCrcs() !== null;
}

/** CRC32C of `data`, continuing from `previous`. Only call where crc32cAvailable() said yes. */
export function crc32cOf(data: Uint8Array, previous = 0): number {
  const library = nativeCrcs();
  if (library === null) throw new Error('CRC32C is not available on this platform (@node-rs/crc32 did not load)');
  return library.crc32c(data, previous) >>> 0;
}

/** The reflected Castagnoli polynomial. */
const CRC32C_POLYNOMIAL = 0x82f63b78;

/** The CRC32C of A followed by B from the CRC32Cs of A and B and B's length. */
export const crc32cCombine = crcCombiner(CRC32C_POLYNOMIAL);

/** The CRC32C of pieces laid end to end, in order. */
export function combineCrc32cs(pieces: ReadonlyArray<{ crc32c: number; size: number }>): number {
  let crc = 0;
  for (const piece of pieces) crc = crc32cCombine(crc, piece.crc32c, piece.size);
  return crc;
}

/** A composite CRC32C as S3 shows it: the CRC32C of the parts' CRC32Cs (4 bytes each, big-endian), base64, `-N`. */
export function compositeCrc32c(partCrc32cs: readonly number[]): string {
  const joined = Buffer.alloc(partCrc32cs.length * 4);
  partCrc32cs.forEach((crc, index) => joined.writeUInt32BE(crc >>> 0, index * 4));
  return `${crc32ToBase64(crc32cOf(joined))}-${partCrc32cs.length}`;
}
