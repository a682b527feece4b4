import { describe, expect, it } from 'vitest';
import { combineCrc32cs, combineCrc32s, compositeCrc32c, crc32cAvailable, crc32cCombine, crc32cOf, compositeCrc32, compositeCrc32Parts, crc32ByTable, crc32Combine, crc32FromBase64, crc32Implementation, crc32Of, crc32ToBase64, md5FromMetadata, md5Of, md5ToMetadata, multipartEtag, multipartEtagPartCount, normalizeEtag } from '../../src/core/integrity/checksums.js';
import { contentProofOf } from '../../src/core/integrity/content-proof.js';
import { choosePartSize, splitIntoParts, MAX_PARTS } from '../../src/core/transfer/parts.js';
import * as zlib from 'node:zlib';

const MiB = 1024 ** 2;
const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('ETag arithmetic (vectors computed independently with Python hashlib)', () => {
  it('a single-part ETag is the MD5 of the content', () => {
    expect(md5Of(Buffer.from('hello world')).toString('hex')).toBe('5eb63bbbe01eeed093cb22bb8f5acdc3');
  });

  it('a multipart ETag is the MD5 of the part MD5s, then -N', () => {
    expect(multipartEtag([md5Of(Buffer.from('hello ')), md5Of(Buffer.from('world'))])).toBe('e09e4fd6265b36115fe3db32df945d84-2');
    const five = Buffer.alloc(5 * MiB, 'a');
    expect(multipartEtag([md5Of(five), md5Of(five), md5Of(Buffer.from('b'))])).toBe('58d18e69566f2324e6db9d3d11efab61-3');
  });

  it('normalises quoted and weak ETags and reads the part count', () => {
    expect(normalizeEtag('"ABC"')).toBe('abc');
    expect(normalizeEtag('W/"abc"')).toBe('abc');
    expect(normalizeEtag('"5EB63BBBE01EEED093CB22BB8F5ACDC3"')).toBe('5eb63bbbe01eeed093cb22bb8f5acdc3');
    expect(normalizeEtag('"5eb63bbbe01eeed0"3cb22bb8f5acdc3"')).toBe('5eb63bbbe01eeed03cb22bb8f5acdc3');
    expect(normalizeEtag('W/"5eb63bbbe01eeed093cb22bb8f5acd"')).toBe('5eb63bbbe01eeed093cb22bb8f5acd');
    expect(multipartEtagPartCount('e09e4fd6265b36115fe3db32df945d84-2')).toBe(2);
    expect(multipartEtagPartCount('5eb63bbbe01eeed093cb22bb8f5acdc3')).toBeUndefined();
  });

  it('stores the MD5 in metadata as rclone does (base64) and reads it back', () => {
    expect(md5ToMetadata(md5Of(Buffer.from('hello world')))).toBe('XrY7u+Ae7tCTyyK7j1rNww==');
    expect(md5FromMetadata({ md5chksum: 'XrY7u+Ae7tCTyyK7j1rNww==' })).toBe('5eb63bbbe01eeed093cb22bb8f5acdc3');
    expect(md5FromMetadata({ md5chksum: 'garbage' })).toBeUndefined();
  });
});

describe('content proof', () => {
  it('prefers the stored MD5, then a plain ETag, then a multipart ETag', () => {
    expect(contentProofOf({ etag: 'e09e4fd6265b36115fe3db32df945d84-2', metadata: { md5chksum: 'XrY7u+Ae7tCTyyK7j1rNww==' } })).toEqual({
      kind: 'md5',
      md5: '5eb63bbbe01eeed093cb22bb8f5acdc3',
      source: 'metadata',
    });
    expect(contentProofOf({ etag: '5eb63bbbe01eeed093cb22bb8f5acdc3', metadata: {} })).toMatchObject({ kind: 'md5', source: 'etag' });
    expect(contentProofOf({ etag: 'e09e4fd6265b36115fe3db32df945d84-2', metadata: {} })).toEqual({ kind: 'multipart-etag', etag: 'e09e4fd6265b36115fe3db32df945d84-2', partCount: 2 });
  });

  it('does not trust the ETag of an SSE-KMS or SSE-C object', () => {
    expect(contentProofOf({ etag: '5eb63bbbe01eeed093cb22bb8f5acdc3', metadata: {}, serverSideEncryption: 'aws:kms' }).kind).toBe('none');
    expect(contentProofOf({ etag: '5eb63bbbe01eeed093cb22bb8f5acdc3', metadata: {}, customerKey: true }).kind).toBe('none');
    expect(contentProofOf({ etag: '5eb63bbbe01eeed093cb22bb8f5acdc3', metadata: {}, serverSideEncryption: 'AES256' }).kind).toBe('md5');
  });
});

describe('part sizing', () => {
  it('keeps the requested size while it fits in 10,000 parts', () => {
    expect(choosePartSize(100 * MiB, 8 * MiB)).toBe(8 * MiB);
    expect(choosePartSize(10_000 * 8 * MiB, 8 * MiB)).toBe(8 * MiB);
  });

  it('grows to a whole MiB so no file needs more than 10,000 parts', () => {
    const size = 10_000 * 8 * MiB + 1;
    const partSize = choosePartSize(size, 8 * MiB);
    expect(partSize).toBe(9 * MiB);
    expect(Math.ceil(size / partSize)).toBeLessThanOrEqual(MAX_PARTS);
  });

  it('handles a 5 TiB file on paper and refuses anything larger', () => {
    const fiveTiB = 5 * 1024 ** 4;
    const partSize = choosePartSize(fiveTiB, 8 * MiB);
    expect(partSize).toBe(525 * MiB);
    expect(Math.ceil(fiveTiB / partSize)).toBeLessThanOrEqual(MAX_PARTS);
    expect(() => choosePartSize(fiveTiB + 1, 8 * MiB)).toThrow(/5 TiB/);
  });

  it('splits into consecutive ranges with a short last part', () => {
    expect(splitIntoParts(20, 8)).toEqual([
      { partNumber: 1, start: 0, end: 8 },
      { partNumber: 2, start: 8, end: 16 },
      { partNumber: 3, start: 16, end: 20 },
    ]);
    expect(splitIntoParts(0, 8)).toEqual([]);
  });
});

describe('md5OfFile', () => {
  it('hashes a whole file and byte ranges of it, across its 4 MiB chunks, as one hash of the same bytes', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { md5OfFile } = await import('../../src/core/integrity/checksums.js');
    const directory = mkdtempSync(join(tmpdir(), 'datalake-md5-'));
    try {
      const content = Buffer.alloc(9 * MiB + 3);
      for (let i = 0; i < content.length; i += 4093) content[i] = i % 251;
      const path = join(directory, 'f.bin');
      writeFileSync(path, content);
      expect((await md5OfFile(path)).equals(md5Of(content))).toBe(true);
      for (const [start, end] of [[0, 1], [5, 4 * MiB + 7], [4 * MiB, 8 * MiB], [8 * MiB - 1, content.length], [100, 100]] as const) {
        expect([start, end, (await md5OfFile(path, { start, end })).toString('hex')]).toEqual([start, end, md5Of(content.subarray(start, end)).toString('hex')]);
      }
      writeFileSync(join(directory, 'empty'), '');
      expect((await md5OfFile(join(directory, 'empty'))).toString('hex')).toBe('d41d8cd98f00b204e9800998ecf8427e');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('CRC32, as S3 keeps it (vectors from zlib and the CRC catalogue)', () => {

  it('the check value and S3 base64 form', () => {
    expect(crc32Of(bytes('123456789'))).toBe(0xcbf43926);
    expect(crc32Of(bytes('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    expect(crc32Of(new Uint8Array(0))).toBe(0);
    expect(crc32ToBase64(0xcbf43926)).toBe('y/Q5Jg==');
    expect(crc32FromBase64('y/Q5Jg==')).toBe(0xcbf43926);
    expect(crc32FromBase64('y/Q5Jg==-3')).toBeUndefined();
    expect(crc32FromBase64('AAA=')).toBeUndefined();
  });

  it('the table fallback (a Node 20 without zlib.crc32) gives the same values', () => {
    const data = Buffer.from(Array.from({ length: 100_003 }, (_, index) => (index * 7919) & 0xff));
    expect(crc32ByTable(bytes('123456789'))).toBe(0xcbf43926);
    expect(crc32ByTable(data)).toBe(crc32Of(data));
    expect(crc32ByTable(data.subarray(500), crc32ByTable(data.subarray(0, 500)))).toBe(crc32Of(data));
  });

  it('continues over chunks', () => {
    expect(crc32Of(bytes('56789'), crc32Of(bytes('1234')))).toBe(0xcbf43926);
  });

  it('past its first 8 MiB, the native library takes over and gives the same values, continuing the built-in one', () => {
    const piece = Buffer.from(Array.from({ length: 1 << 20 }, (_, index) => (index * 7919 + 13) & 0xff));
    let crc = 0;
    let byTable = 0;
    for (let round = 0; round < 12; round += 1) {
      crc = crc32Of(piece, crc);
      byTable = crc32ByTable(piece, byTable);
      expect(crc).toBe(byTable);
    }
    expect(crc32Implementation()).toBe('native');
    expect(crc32Of(bytes('123456789'))).toBe(0xcbf43926);
    expect(crc32Of(bytes('56789'), crc32Of(bytes('1234')))).toBe(0xcbf43926);
    // Above 2^31: the native library's signed answer is read as unsigned, as zlib's.
    expect(crc32Of(bytes('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    expect(crc32Of(new Uint8Array(0), 0xcbf43926)).toBe(0xcbf43926);
  });

  it('combines pieces hashed apart into the CRC of the whole, at every split', () => {
    const whole = bytes('The quick brown fox jumps over the lazy dog');
    for (let split = 0; split <= whole.length; split += 1) {
      const a = whole.subarray(0, split);
      const b = whole.subarray(split);
      expect(crc32Combine(crc32Of(a), crc32Of(b), b.length)).toBe(0x414fa339);
    }
  });

  it('combines pieces longer than 4 GiB (4 GiB + 3 zero bytes, computed by streaming zlib)', () => {
    const zerosMiB = crc32Of(Buffer.alloc(MiB));
    let zeros4GiB = 0;
    for (let mebibytes = 0; mebibytes < 4096; mebibytes += 1) zeros4GiB = crc32Combine(zeros4GiB, zerosMiB, MiB);
    expect(crc32Combine(zeros4GiB, crc32Of(Buffer.alloc(3)), 3)).toBe(0x2144df1c);
    // The same length in one step: the length's high bits are not lost.
    const first = crc32Of(Buffer.alloc(3));
    expect(crc32Combine(first, zeros4GiB, 4 * 1024 * MiB)).toBe(0x2144df1c);
  });

  it('combines a list of parts in order', () => {
    const parts = [bytes('1234'), bytes(''), bytes('567'), bytes('89')];
    expect(combineCrc32s(parts.map((part) => ({ crc32: crc32Of(part), size: part.length })))).toBe(0xcbf43926);
  });

  it('a full-object CRC32 is the first proof, before a stored MD5', () => {
    expect(contentProofOf({ etag: '"abc-2"', metadata: { md5chksum: 'XrY7u+Ae7tCTyyK7j1rNww==' }, crc32: 'y/Q5Jg==' })).toEqual({ kind: 'crc32', crc32: 'y/Q5Jg==' });
    expect(contentProofOf({ etag: '"5eb63bbbe01eeed093cb22bb8f5acdc3"', metadata: {}, crc32: undefined })).toMatchObject({ kind: 'md5', source: 'etag' });
  });
});

describe('composite CRC32', () => {
  it('is the CRC32 of the part CRC32s (4 bytes each, big-endian), base64, then -N; parsed back only in that form', () => {
    const parts = [Buffer.from('first part'), Buffer.from('second'), Buffer.from('3')];
    const joined = Buffer.concat(parts.map((part) => { const b = Buffer.alloc(4); b.writeUInt32BE(zlib.crc32(part)); return b; }));
    const whole = Buffer.alloc(4);
    whole.writeUInt32BE(zlib.crc32(joined));
    const value = compositeCrc32(parts.map((part) => zlib.crc32(part)));
    expect(value).toBe(`${whole.toString('base64')}-3`);
    expect(compositeCrc32Parts(value)).toEqual({ crc32: value, partCount: 3 });
    expect(compositeCrc32Parts(whole.toString('base64'))).toBeUndefined();
    expect(compositeCrc32Parts('nope-2')).toBeUndefined();
    expect(contentProofOf({ etag: 'abc-3', compositeCrc32: value, metadata: {}, serverSideEncryption: 'aws:kms' })).toEqual({ kind: 'composite-crc32', crc32: value, partCount: 3 });
  });
});

describe('CRC32C (Castagnoli), for objects other tools uploaded with it', () => {
  it('the check value of "123456789" is 0xE3069283 (the CRC catalogue), also in pieces and continued', () => {
    expect(crc32cAvailable()).toBe(true);
    expect(crc32cOf(bytes('123456789'))).toBe(0xe3069283);
    expect(crc32cOf(bytes('56789'), crc32cOf(bytes('1234')))).toBe(0xe3069283);
    expect(crc32cOf(new Uint8Array(0))).toBe(0);
  });

  it('combines pieces (in order, empty ones too, and past 4 GiB) without reading them again', () => {
    const parts = [bytes('1234'), bytes(''), bytes('567'), bytes('89')];
    expect(combineCrc32cs(parts.map((part) => ({ crc32c: crc32cOf(part), size: part.length })))).toBe(0xe3069283);
    const zerosMiB = crc32cOf(Buffer.alloc(MiB));
    let zeros4GiB = 0;
    for (let mebibytes = 0; mebibytes < 4096; mebibytes += 1) zeros4GiB = crc32cCombine(zeros4GiB, zerosMiB, MiB);
    const streamed = (() => {
      let crc = 0;
      const block = Buffer.alloc(64 * MiB);
      for (let blocks = 0; blocks < 64; blocks += 1) crc = crc32cOf(block, crc);
      return crc;
    })();
    expect(zeros4GiB).toBe(streamed);
    expect(crc32cCombine(crc32cOf(Buffer.alloc(3)), zeros4GiB, 4 * 1024 * MiB)).toBe(crc32cOf(Buffer.alloc(3), streamed));
  });

  it('composite CRC32C is the CRC32C of the part CRC32Cs, then -N; it ranks after CRC32s and before MD5s', () => {
    const parts = [bytes('first part'), bytes('second')];
    const joined = Buffer.alloc(8);
    joined.writeUInt32BE(crc32cOf(parts[0]!), 0);
    joined.writeUInt32BE(crc32cOf(parts[1]!), 4);
    const value = compositeCrc32c(parts.map((part) => crc32cOf(part)));
    expect(value).toBe(`${crc32ToBase64(crc32cOf(joined))}-2`);
    const c = crc32ToBase64(crc32cOf(bytes('x')));
    expect(contentProofOf({ etag: '"5eb63bbbe01eeed093cb22bb8f5acdc3"', metadata: {}, crc32c: c })).toEqual({ kind: 'crc32c', crc32c: c });
    expect(contentProofOf({ etag: 'abc-2', metadata: {}, compositeCrc32c: value })).toEqual({ kind: 'composite-crc32c', crc32c: value, partCount: 2 });
    expect(contentProofOf({ etag: 'abc-2', metadata: {}, crc32: 'y/Q5Jg==', crc32c: c })).toEqual({ kind: 'crc32', crc32: 'y/Q5Jg==' });
  });
});
