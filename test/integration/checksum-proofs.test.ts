/**
 * Where the proofs of issue 16 could be fooled: a resumed download trusting saved CRC32s over bytes
 * changed on disk, proofs that disagree with each other, a crafted CRC32 collision in sync and
 * verify, composite CRC32s, and what the output says about an object nothing proves.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { lastJson, runCli, s3Env, startCli, tempDirectory, waitFor, writeRandomFile } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('proofs');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;
let big: Buffer;

const cli = (args: string[], through: NodeJS.ProcessEnv = env) => runCli([...args, '--json'], { env: through });

beforeAll(async () => {
  let endpoint: string;
  ({ client, bucket, proxy, endpoint } = await openProxiedBucket('proofs'));
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB' });
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB', DATALAKE_RETRIES: '3' });
  big = writeRandomFile(join(work.path, 'big.bin'), 17 * MiB + 5);
  expect((await cli(['put', join(work.path, 'big.bin'), `s3://${bucket}/big.bin`])).code).toBe(0);
});
afterAll(async () => {
  await closeProxiedBucket({ client, bucket, proxy });
  work.remove();
});

/** Recorded ranges of an interrupted download, from its record beside the temporary file. */
function recorded(record: string): Array<{ start: number; end: number }> {
  try {
    return (JSON.parse(readFileSync(record, 'utf8')) as { done: Array<{ start: number; end: number }> }).done;
  } catch {
    return [];
  }
}

describe('a resumed download reads back what it had received', () => {
  for (const damage of ['one byte changed', 'the file emptied'] as const) {
    it(`kill -9 after two ranges, then ${damage} in the temporary file: the re-run refetches, the file is whole`, async () => {
      const directory = join(work.path, `resume-${damage.replace(/ /g, '-')}`);
      mkdirSync(directory);
      const target = join(directory, 'big.bin');
      const temporary = join(directory, '.big.bin.datalake-part');
      // The fourth GET is held (of four ranges): two ranges are recorded by then even if one GET had to be sent twice.
      proxy.setRules([{ method: 'GET', match: /\/big\.bin/, skip: 3, fault: { kind: 'hold', gate: damage } }]);
      const run = startCli(['get', `s3://${bucket}/big.bin`, target, '--concurrency', '1'], proxied);
      await waitFor(() => proxy.held(damage) >= 1 && recorded(`${temporary}.json`).length >= 2, 'two ranges recorded, a later one held');
      run.child.kill('SIGKILL');
      expect(await run.done).toBe(null);
      proxy.setRules([]);
      const [first] = recorded(`${temporary}.json`);
      if (damage === 'one byte changed') {
        const file = openSync(temporary, 'r+');
        const at = first!.start + 1000;
        writeSync(file, Buffer.from([big[at]! ^ 0xff]), 0, 1, at);
        closeSync(file);
      } else {
        truncateSync(temporary, 0);
      }
      const again = await cli(['get', `s3://${bucket}/big.bin`, target]);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      expect(md5(readFileSync(target))).toBe(md5(big));
      expect(existsSync(temporary)).toBe(false);
    });
  }
});

describe('proofs that disagree with each other remove nothing', () => {
  it('multipart: Complete and HEAD both say CRC32 AAAAAA== while the ETag matches: exit 1, one line, the object kept', async () => {
    const key = 'disagree/multi.bin';
    proxy.setRules([
      { method: 'POST', match: /disagree\/multi\.bin\?uploadId=/, fault: { kind: 'set-response-header', name: 'x-amz-checksum-crc32', value: 'AAAAAA==' } },
      { method: 'HEAD', match: /disagree\/multi\.bin/, fault: { kind: 'set-response-header', name: 'x-amz-checksum-crc32', value: 'AAAAAA==' } },
    ]);
    const put = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/${key}`], { env: proxied });
    proxy.setRules([]);
    expect(put.code).toBe(1);
    expect(put.stderr.trim().split('\n')).toHaveLength(1);
    expect(put.stderr).toMatch(/disagree/);
    expect(put.stderr).toMatch(/kept/);
    const get = await cli(['get', `s3://${bucket}/${key}`, join(work.path, 'disagree-multi.bin')]);
    expect(get.code).toBe(0);
    expect(md5(readFileSync(join(work.path, 'disagree-multi.bin')))).toBe(md5(big));
  });

  it('single PUT: a false CRC32 in the answer alone is settled by a fresh look (the upload stands); in the answer and on HEAD, the object is kept and exit 1', async () => {
    const small = writeRandomFile(join(work.path, 'small.bin'), 100_000);
    const answerOnly = { method: 'PUT', match: /disagree\/small/, fault: { kind: 'set-response-header', name: 'x-amz-checksum-crc32', value: 'AAAAAA==' } } as const;
    proxy.setRules([answerOnly]);
    const stands = await runCli(['put', join(work.path, 'small.bin'), `s3://${bucket}/disagree/small.bin`], { env: proxied });
    expect(stands.code).toBe(0);
    expect(stands.stderr).not.toMatch(/the server stored CRC32/);
    proxy.setRules([answerOnly, { ...answerOnly, method: 'HEAD' }]);
    const kept = await runCli(['put', join(work.path, 'small.bin'), `s3://${bucket}/disagree/small2.bin`], { env: proxied });
    proxy.setRules([]);
    expect(kept.code).toBe(1);
    expect(kept.stderr.trim().split('\n')).toHaveLength(1);
    expect(kept.stderr).toMatch(/disagree/);
    const get = await cli(['get', `s3://${bucket}/disagree/small2.bin`, join(work.path, 'disagree-small.bin')]);
    expect(get.code).toBe(0);
    expect(md5(readFileSync(join(work.path, 'disagree-small.bin')))).toBe(md5(small));
  });
});

/**
 * `data` with 5 bytes from `at` changed so that its CRC32 stays the same: the CRC is affine, so the
 * change's own CRC contribution is solved to zero over GF(2) (byte `at` flipped, the 4 after chosen).
 */
function crc32Collision(data: Buffer, at: number): Buffer {
  const tail = data.length - at;
  const effect = (delta: Buffer) => (zlibCrc32(delta) ^ zlibCrc32(Buffer.alloc(tail))) >>> 0;
  const withBit = (bit: number) => {
    const delta = Buffer.alloc(tail);
    delta[1 + (bit >> 3)] = 1 << (bit & 7);
    return effect(delta);
  };
  const first = Buffer.alloc(tail);
  first[0] = 0xa5;
  // Gaussian elimination: find bits b with XOR of withBit(b) equal to effect(first).
  const rows = Array.from({ length: 32 }, (_, bit) => ({ value: withBit(bit), combo: 1n << BigInt(bit) }));
  let target = effect(first);
  let chosen = 0n;
  const basis: Array<{ value: number; combo: bigint }> = [];
  for (const row of rows) {
    let { value, combo } = row;
    for (const b of basis) if ((value ^ b.value) >>> 0 < value) ((value = (value ^ b.value) >>> 0), (combo ^= b.combo));
    if (value) basis.push({ value, combo }), basis.sort((x, y) => y.value - x.value);
  }
  for (const b of basis) if ((target ^ b.value) >>> 0 < target) ((target = (target ^ b.value) >>> 0), (chosen ^= b.combo));
  expect(target).toBe(0);
  const changed = Buffer.from(data);
  changed[at] = changed[at]! ^ 0xa5;
  for (let bit = 0; bit < 32; bit++) if ((chosen >> BigInt(bit)) & 1n) changed[at + 1 + (bit >> 3)] = changed[at + 1 + (bit >> 3)]! ^ (1 << (bit & 7));
  return changed;
}

describe('a crafted CRC32 collision', () => {
  it('verify --local of a multipart object against a file with 5 bytes changed and the same CRC32: content differs', async () => {
    const edited = crc32Collision(big, 7 * MiB);
    expect(zlibCrc32(edited)).toBe(zlibCrc32(big));
    expect(md5(edited)).not.toBe(md5(big));
    writeFileSync(join(work.path, 'collision.bin'), edited);
    const result = await cli(['verify', `s3://${bucket}/big.bin`, '--local', join(work.path, 'collision.bin')]);
    expect(result.code).toBe(1);
    expect(lastJson<{ mismatched: Array<{ reason: string }> }>(result).mismatched[0]!.reason).toMatch(/content differs/);
    const same = await cli(['verify', `s3://${bucket}/big.bin`, '--local', join(work.path, 'big.bin')]);
    expect(same.code).toBe(0);
  });
});

describe('what the output says about the proof', () => {
  // As an SSE-KMS object another tool uploaded: no CRC32, no stored MD5, an ETag that is no MD5.
  const opaque = [{ match: /big\.bin/, fault: { kind: 'set-response-headers', headers: { 'x-amz-checksum-crc32': '', 'x-amz-server-side-encryption': 'aws:kms' } } }] as const;

  it('get of an unverifiable object says unverifiable in its line, not a CRC32 it was checked by', async () => {
    proxy.setRules([...opaque]);
    const get = await runCli(['get', `s3://${bucket}/big.bin`, join(work.path, 'opaque.bin')], { env: proxied });
    proxy.setRules([]);
    expect(get.code).toBe(0);
    const line = get.stdout.split('\n').find((text) => text.startsWith('downloaded'));
    expect(line).toMatch(/unverifiable/);
    expect(line).not.toMatch(/crc32 /);
  });

  it('verify counts unverifiable objects apart from mismatched ones, and --json names the proof of each', async () => {
    proxy.setRules([...opaque]);
    const opaqueRun = await cli(['verify', `s3://${bucket}/big.bin`], proxied);
    proxy.setRules([]);
    expect(opaqueRun.code).toBe(1);
    expect(lastJson(opaqueRun)).toMatchObject({ ok: false, mismatched: [], unverifiable: [{ key: 'big.bin' }], objects: [{ key: 'big.bin', proof: 'unverifiable' }] });
    const plain = await cli(['verify', `s3://${bucket}/big.bin`]);
    expect(plain.code).toBe(0);
    expect(lastJson(plain)).toMatchObject({ ok: true, objects: [{ key: 'big.bin', proof: 'crc32' }] });
    const local = await cli(['verify', `s3://${bucket}/big.bin`, '--local', join(work.path, 'big.bin')]);
    expect(lastJson(local)).toMatchObject({ ok: true, objects: [{ key: 'big.bin', proof: expect.stringMatching(/^crc32/) }] });
  });
});

describe('composite CRC32s (aws-cli and boto3 multipart default)', () => {
  it('an SSE-KMS-like multipart object with a composite CRC32 downloads verified by crc32-composite; a damaged byte fails it', async () => {
    const { CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand, HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const key = 'composite/obj.bin';
    const parts = [big.subarray(0, 5 * MiB), big.subarray(5 * MiB, 10 * MiB), big.subarray(10 * MiB, 12 * MiB + 7)];
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC32' }));
    const done = [];
    for (const [index, body] of parts.entries()) {
      const part = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: index + 1, Body: body, ChecksumAlgorithm: 'CRC32' }));
      done.push({ PartNumber: index + 1, ETag: part.ETag, ChecksumCRC32: part.ChecksumCRC32 });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, MultipartUpload: { Parts: done } }));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    // The CRC32 of the part CRC32s (each 4 bytes, big-endian), then -N: recomputed here independently.
    const partCrcs = Buffer.concat(parts.map((body) => { const b = Buffer.alloc(4); b.writeUInt32BE(zlibCrc32(body)); return b; }));
    const expected = Buffer.alloc(4);
    expected.writeUInt32BE(zlibCrc32(partCrcs));
    expect(head.ChecksumCRC32).toBe(`${expected.toString('base64')}-3`);
    const kms = { match: /composite\/obj\.bin/, fault: { kind: 'set-response-header', name: 'x-amz-server-side-encryption', value: 'aws:kms' } } as const;
    proxy.setRules([kms]);
    const get = await cli(['get', `s3://${bucket}/${key}`, join(work.path, 'composite', 'obj.bin')], proxied);
    expect(get.stderr).toBe('');
    expect(lastJson<{ objects: Array<{ verifiedBy: string }> }>(get).objects[0]!.verifiedBy).toBe('crc32-composite');
    expect(md5(readFileSync(join(work.path, 'composite', 'obj.bin')))).toBe(md5(Buffer.concat(parts)));
    const streamed = await cli(['verify', `s3://${bucket}/${key}`], proxied);
    expect(lastJson(streamed)).toMatchObject({ ok: true, objects: [{ proof: 'crc32-composite' }] });
    proxy.setRules([{ ...kms, fault: { kind: 'flip-response-byte', offset: 1000 } }]);
    const damaged = await cli(['get', `s3://${bucket}/${key}`, join(work.path, 'composite', 'bad.bin')], proxied);
    proxy.setRules([]);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/composite CRC32/);
    expect(existsSync(join(work.path, 'composite', 'bad.bin'))).toBe(false);
  });
});
