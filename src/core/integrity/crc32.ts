/**
 * CRC32 as S3 uses it: the checksum itself, the CRC32 of pieces combined without reading them again,
 * and its base64 and composite (`…-N`) forms; and the loader of @node-rs/crc32, the native library
 * that computes both CRC32 and CRC32C (crc32c.ts). checksums.ts re-exports all of it: import from there.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';

type CrcFunction = (data: Uint8Array, previous?: number) => number;

/** @node-rs/crc32's functions: null where its binary does not load on this platform. */
let native: { crc32: CrcFunction; crc32c: CrcFunction } | null | undefined;

/** @node-rs/crc32, loaded on first call (about 10 ms); null where it does not load. */
export function nativeCrcs(): { crc32: CrcFunction; crc32c: CrcFunction } | null {
  if (native === undefined) {
    try {
      native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32: CrcFunction; crc32c: CrcFunction };
    } catch {
      native = null;
    }
  }
  return native;
}

/** Node's own CRC32 (zlib's, Node 20.15 and later), else a table. */
const builtInCrc32: CrcFunction = (zlib as { crc32?: CrcFunction }).crc32 ?? crc32ByTable;

/**
 * Bytes hashed by the built-in CRC32 before the native one is loaded: the native one is several times
 * faster, but loading it costs a few milliseconds once, which a run that hashes a few small files
 * never needs to pay (the measurements: README, Packages).
 */
const BUILT_IN_BYTES = 8 * 1024 * 1024;
let hashedByBuiltIn = 0;
let fastCrc32: CrcFunction | undefined;

/** CRC32 (the ISO-HDLC polynomial S3 names CRC32) of `data`, continuing from `previous`. */
export function crc32Of(data: Uint8Array, previous = 0): number {
  if (fastCrc32) return fastCrc32(data, previous);
  hashedByBuiltIn += data.length;
  if (hashedByBuiltIn > BUILT_IN_BYTES) fastCrc32 = nativeCrc32() ?? builtInCrc32;
  return builtInCrc32(data, previous);
}

/** Which CRC32 serves now: the native library's once enough was hashed (and it loads), else Node's own. */
export function crc32Implementation(): 'native' | 'built-in' {
  return fastCrc32 !== undefined && fastCrc32 !== builtInCrc32 ? 'native' : 'built-in';
}

function nativeCrc32(): CrcFunction | undefined {
  const library = nativeCrcs();
  if (!library) return undefined;
  const { crc32 } = library;
  return (data, previous = 0) => crc32(data, previous) >>> 0;
}

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

/** a·b modulo a CRC polynomial, both as bit-reflected polynomials (zlib's multmodp). */
function multiplyModP(a: number, b: number, polynomial: number): number {
  let product = 0;
  for (let bit = 0x80000000; bit !== 0; bit >>>= 1) {
    if (a & bit) {
      product ^= b;
      if ((a & (bit - 1)) === 0) break;
    }
    b = b & 1 ? (b >>> 1) ^ polynomial : b >>> 1;
  }
  return product >>> 0;
}

/**
 * x^(2^k) modulo the polynomial, k = 0…63: enough for any length in bits of a JavaScript number
 * (zlib keeps 32 and wraps around, which holds for CRC32's polynomial but not for CRC32C's).
 */
function powersOfTwo(polynomial: number): number[] {
  const powers = [0x40000000]; // x^1
  for (let k = 1; k < 64; k += 1) powers.push(multiplyModP(powers[k - 1]!, powers[k - 1]!, polynomial));
  return powers;
}

/**
 * The CRC of A followed by B from the CRCs of A and B and B's length (zlib's crc32_combine), for the
 * reflected polynomial given: pieces hashed apart, in any order, give the whole object's CRC.
 * Lengths beyond 4 GiB are exact.
 */
export function crcCombiner(polynomial: number): (crcA: number, crcB: number, lengthB: number) => number {
  const powers = powersOfTwo(polynomial);
  return (crcA, crcB, lengthB) => {
    // x^(8·lengthB) modulo the polynomial: what appending lengthB zero bytes multiplies a CRC by.
    let shift = 0x80000000; // x^0
    let k = 3; // 8 bits a byte
    for (let rest = lengthB; rest > 0; rest = Math.floor(rest / 2), k += 1) {
      if (rest % 2 === 1) shift = multiplyModP(powers[k]!, shift, polynomial);
    }
    return (multiplyModP(shift, crcA, polynomial) ^ crcB) >>> 0;
  };
}

/** The CRC32 of A followed by B from the CRC32s of A and B and B's length. */
export const crc32Combine = crcCombiner(CRC32_POLYNOMIAL);

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
