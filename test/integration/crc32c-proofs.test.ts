/**
 * Objects another client uploaded with CRC32C (`aws s3 cp --checksum-algorithm CRC32C`, the SDKs'
 * `ChecksumAlgorithm: 'CRC32C'`) are proven by it: a full-object CRC32C (single PUT, or multipart
 * FULL_OBJECT) as the bytes land, a composite one (`…-N`) part by part. The uploads here are the AWS
 * SDK's own, with the CRC32C it computes; the whole-object CRC32C a FULL_OBJECT upload completes with
 * is computed by a table in this file, independently of datalake's native one.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultProxy } from '../support/fault-proxy.js';
import { lastJson, runCli, s3Env, tempDirectory } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('crc32c');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;

type Objects = { objects: Array<{ verifiedBy?: string }>; failed: Array<{ error: string }> };
const cli = (args: string[], through: NodeJS.ProcessEnv = env) => runCli([...args, '--json'], { env: through });

/** CRC32C (Castagnoli, reflected 0x82F63B78) a byte at a time: the test's own, not datalake's. */
const CRC32C_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
function crc32cBase64(data: Uint8Array): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(~crc >>> 0);
  return bytes.toString('base64');
}

/** Deterministic bytes (no randomness in what a failure would show). */
function pattern(size: number, seed: number): Buffer {
  const data = Buffer.alloc(size);
  let x = seed;
  for (let index = 0; index < size; index += 1) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[index] = x >>> 24;
  }
  return data;
}

const single = pattern(300_000, 1);
const big = pattern(17 * MiB + 5, 2);
const parts = [big.subarray(0, 5 * MiB), big.subarray(5 * MiB, 10 * MiB), big.subarray(10 * MiB, 15 * MiB), big.subarray(15 * MiB)];

async function multipart(key: string, type: 'FULL_OBJECT' | 'COMPOSITE'): Promise<void> {
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC32C', ChecksumType: type }));
  const done = [];
  for (const [index, body] of parts.entries()) {
    const part = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: index + 1, Body: body, ChecksumAlgorithm: 'CRC32C' }));
    done.push({ PartNumber: index + 1, ETag: part.ETag, ChecksumCRC32C: part.ChecksumCRC32C });
  }
  await client.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId: created.UploadId,
      MultipartUpload: { Parts: done },
      ...(type === 'FULL_OBJECT' ? { ChecksumType: 'FULL_OBJECT', ChecksumCRC32C: crc32cBase64(big) } : {}),
    }),
  );
}

beforeAll(async () => {
  let endpoint: string;
  ({ client, bucket, proxy, endpoint } = await openProxiedBucket('crc32c'));
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB' });
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB', DATALAKE_RETRIES: '2' });
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'c/single.bin', Body: single, ChecksumAlgorithm: 'CRC32C' }));
  await multipart('c/full.bin', 'FULL_OBJECT');
  await multipart('composite/parts.bin', 'COMPOSITE');
  mkdirSync(join(work.path, 'local'), { recursive: true });
  writeFileSync(join(work.path, 'local', 'single.bin'), single);
  writeFileSync(join(work.path, 'local', 'full.bin'), big);
});
afterAll(async () => {
  await closeProxiedBucket({ client, bucket, proxy });
  work.remove();
});

describe('what the server keeps', () => {
  it('the single PUT and the FULL_OBJECT upload carry the CRC32C of their bytes; the composite one a CRC32C-N', async () => {
    const head = (key: string) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    const singleHead = await head('c/single.bin');
    expect(singleHead.ChecksumCRC32C).toBe(crc32cBase64(single));
    expect(singleHead.ChecksumCRC32).toBeUndefined();
    expect(await head('c/full.bin')).toMatchObject({ ChecksumCRC32C: crc32cBase64(big), ChecksumType: 'FULL_OBJECT' });
    expect((await head('composite/parts.bin')).ChecksumCRC32C).toMatch(/^[A-Za-z0-9+/]{6}==-4$/);
  });
});

describe('downloads proven by CRC32C', () => {
  it('get of the single and the multipart FULL_OBJECT object: verifiedBy crc32c, identical files', async () => {
    for (const [key, data] of [
      ['c/single.bin', single],
      ['c/full.bin', big],
    ] as const) {
      const target = join(work.path, 'down', key);
      const result = await cli(['get', `s3://${bucket}/${key}`, target]);
      expect(result.code, result.stderr).toBe(0);
      expect(lastJson<Objects>(result).objects[0]!.verifiedBy).toBe('crc32c');
      expect(md5(readFileSync(target))).toBe(md5(data));
    }
  });

  it('get of the composite object (its ETag made opaque, as under SSE-KMS): verifiedBy crc32c-composite', async () => {
    proxy.setRules([{ match: /composite\/parts\.bin/, fault: { kind: 'set-response-header', name: 'x-amz-server-side-encryption', value: 'aws:kms' } }]);
    const target = join(work.path, 'down', 'composite.bin');
    const result = await cli(['get', `s3://${bucket}/composite/parts.bin`, target], proxied);
    proxy.setRules([]);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson<Objects>(result).objects[0]!.verifiedBy).toBe('crc32c-composite');
    expect(md5(readFileSync(target))).toBe(md5(big));
  });

  it('cat streams them proven; verify and verify --local pass by CRC32C', async () => {
    const cat = await runCli(['cat', `s3://${bucket}/c/full.bin`], { env });
    expect(cat.code, cat.stderr).toBe(0);
    expect(md5(cat.stdoutBytes)).toBe(md5(big));
    const verify = await cli(['verify', `s3://${bucket}/c/`]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(lastJson(verify)).toMatchObject({ ok: true, mismatched: [], objects: expect.arrayContaining([expect.objectContaining({ proof: 'crc32c' })]) });
    const local = await cli(['verify', `s3://${bucket}/c/full.bin`, '--local', join(work.path, 'local', 'full.bin')]);
    expect(local.code, local.stderr).toBe(0);
    expect(lastJson(local)).toMatchObject({ ok: true, objects: [{ proof: 'crc32c' }] });
  });
});

describe('bytes that disagree with the CRC32C', () => {
  it('a stored CRC32C that does not match the bytes fails get (nothing at the target) and verify', async () => {
    const wrong = crc32cBase64(Buffer.from('not these bytes'));
    for (const key of ['c/single.bin', 'c/full.bin']) {
      proxy.setRules([{ match: new RegExp(key.replace('.', '\\.')), fault: { kind: 'set-response-header', name: 'x-amz-checksum-crc32c', value: wrong } }]);
      const directory = join(work.path, 'bad-crc32c', key.replace('/', '-'));
      const get = await cli(['get', `s3://${bucket}/${key}`, join(directory, 'file.bin')], proxied);
      const verify = await cli(['verify', `s3://${bucket}/${key}`], proxied);
      proxy.setRules([]);
      expect(get.code).toBe(1);
      expect(get.stderr).toMatch(/CRC32C/);
      expect(existsSync(directory) ? readdirSync(directory) : []).toEqual([]);
      expect(verify.code).toBe(1);
      expect(lastJson(verify)).toMatchObject({ ok: false, mismatched: [expect.objectContaining({ key })] });
    }
  });

  it('a byte flipped on the way of a ranged download or of a part fails it after one more try, nothing at the target', async () => {
    // The composite object's CRC32C ranks above its ETag: no need to make the ETag opaque (one rule per request).
    for (const key of ['c/full.bin', 'composite/parts.bin']) {
      proxy.setRules([{ method: 'GET', match: new RegExp(key.replace('.', '\\.')), fault: { kind: 'flip-response-byte', offset: MiB } }]);
      const directory = join(work.path, 'flipped', key.replace('/', '-'));
      const get = await cli(['get', `s3://${bucket}/${key}`, join(directory, 'file.bin')], proxied);
      proxy.setRules([]);
      expect(get.code, key).toBe(1);
      expect(get.stderr).toMatch(/CRC32C/);
      expect(existsSync(directory) ? readdirSync(directory) : []).toEqual([]);
    }
  });

  it('verify --local against a file one byte different: content differs, by CRC32C', async () => {
    const changed = Buffer.from(big);
    changed[12 * MiB]! ^= 0x01;
    writeFileSync(join(work.path, 'changed.bin'), changed);
    const result = await cli(['verify', `s3://${bucket}/c/full.bin`, '--local', join(work.path, 'changed.bin')]);
    expect(result.code).toBe(1);
    expect(lastJson(result)).toMatchObject({ ok: false, mismatched: [expect.objectContaining({ key: 'c/full.bin', reason: expect.stringMatching(/CRC32C/) })] });
  });
});

describe('sync decides by the CRC32C too', () => {
  it('with no hash cache, identical files are not sent again and a changed byte is', async () => {
    const fresh = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'fresh-state'), DATALAKE_CACHE_DIR: join(work.path, 'fresh-cache'), DATALAKE_PART_SIZE: '5MiB' });
    const same = await cli(['sync', join(work.path, 'local'), `s3://${bucket}/c/`], fresh);
    expect(same.code, same.stderr).toBe(0);
    expect(lastJson(same)).toMatchObject({ transferred: 0, failed: 0 });
    const tree = join(work.path, 'changed-tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'single.bin'), single);
    const changed = Buffer.from(big);
    changed[3]! ^= 0x80;
    writeFileSync(join(tree, 'full.bin'), changed);
    const other = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'other-state'), DATALAKE_CACHE_DIR: join(work.path, 'other-cache'), DATALAKE_PART_SIZE: '5MiB' });
    const plan = await cli(['sync', tree, `s3://${bucket}/c/`, '--dry-run'], other);
    expect(plan.code, plan.stderr).toBe(0);
    expect(lastJson(plan)).toMatchObject({ transferred: 1 });
  });
});
