import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client as Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient, writeRandomFile } from '../support/harness.js';

/**
 * SSE-KMS (MinIO's dev key): ETags are not MD5s, so puts and copies are proven by the full-object CRC32
 * or by reading the copy back, never by a stored MD5 copied along with the object.
 */
let client: Client;
let plain: string;
let kms: string;
const work = tempDirectory('kmscopy');
const small = join(work.path, 'small.bin');
const big = join(work.path, 'big.bin');
const KEY = 'datalake-dev-key';
const md5Hex = (text: string) => createHash('md5').update(text).digest('hex');

beforeAll(async () => {
  client = testClient();
  plain = await createTestBucket(client, 'kmsplain');
  kms = await createTestBucket(client, 'kmsdefault');
  const init = await runCli(['init', '--bucket', kms, '--kms-key-id', KEY], { env: s3Env() });
  expect(init.code, init.stderr).toBe(0);
  writeRandomFile(small, 1000);
  writeRandomFile(big, 12 * 1024 * 1024);
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, plain);
  await emptyAndDeleteBucket(client, kms);
  client.destroy();
  work.remove();
});

async function getVerified(url: string): Promise<void> {
  const result = await runCli(['get', url, join(work.path, `back-${Math.random().toString(36).slice(2)}`), '--json'], { env: s3Env() });
  expect(result.code, result.stderr).toBe(0);
}

describe('SSE-KMS by bucket default or by flag', () => {
  it('put of a single-part and a multipart file into a KMS-default bucket proves and reads back', async () => {
    for (const [file, key] of [[small, 'in/small.bin'], [big, 'in/big.bin']] as const) {
      const put = await runCli(['put', file, `s3://${kms}/${key}`, '--part-size', '5MiB', '--json'], { env: s3Env() });
      expect(put.code, put.stderr).toBe(0);
      const head = await client.send(new HeadObjectCommand({ Bucket: kms, Key: key }));
      expect(head.ServerSideEncryption).toBe('aws:kms');
      await getVerified(`s3://${kms}/${key}`);
    }
  });

  it('cp and mv of single-part and multipart objects into SSE-KMS prove the copy', async () => {
    for (const [file, key] of [[small, 'small.bin'], [big, 'big.bin']] as const) {
      const put = await runCli(['put', file, `s3://${plain}/src/${key}`, '--part-size', '5MiB'], { env: s3Env() });
      expect(put.code, put.stderr).toBe(0);
      const byDefault = await runCli(['cp', `s3://${plain}/src/${key}`, `s3://${kms}/cp/${key}`, '--json'], { env: s3Env() });
      expect(byDefault.code, byDefault.stderr).toBe(0);
      expect(['checksum', 'read-back']).toContain(lastJson<{ objects: Array<{ verifiedBy: string }> }>(byDefault).objects[0]!.verifiedBy);
      const byFlag = await runCli(['cp', `s3://${plain}/src/${key}`, `s3://${plain}/kms/${key}`, '--sse', 'aws:kms', '--sse-kms-key-id', KEY], { env: s3Env() });
      expect(byFlag.code, byFlag.stderr).toBe(0);
      const moved = await runCli(['mv', `s3://${kms}/cp/${key}`, `s3://${kms}/mv/${key}`], { env: s3Env() });
      expect(moved.code, moved.stderr).toBe(0);
      for (const url of [`s3://${kms}/mv/${key}`, `s3://${plain}/kms/${key}`]) await getVerified(url);
    }
    expect(await listKeys(client, kms, 'cp/')).toEqual([]);
  });

  it('cp and mv name the checksum (or the hash read back) that proved an SSE-KMS copy, as get names its proof', async () => {
    const put = await runCli(['put', small, `s3://${kms}/named/small.bin`], { env: s3Env() });
    expect(put.code, put.stderr).toBe(0);
    const copied = await runCli(['cp', `s3://${kms}/named/small.bin`, `s3://${kms}/named/copy.bin`, '--json'], { env: s3Env() });
    expect(copied.code, copied.stderr).toBe(0);
    const object = lastJson<{ objects: Array<{ verifiedBy: string; verifiedWith?: string }> }>(copied).objects[0]!;
    expect(object).toMatchObject({ verifiedBy: 'checksum', verifiedWith: 'crc32' });
    const moved = await runCli(['mv', `s3://${kms}/named/copy.bin`, `s3://${kms}/named/moved.bin`], { env: s3Env() });
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(/ verified by checksum \(crc32\)$/m);
    // No checksum: the copy is read back and hashed against the stored MD5, and the line says so.
    await client.send(new PutObjectCommand({ Bucket: kms, Key: 'named/md5.bin', Body: 'bytes', Metadata: { md5chksum: Buffer.from(md5Hex('bytes'), 'hex').toString('base64') } }));
    const readBack = await runCli(['mv', `s3://${kms}/named/md5.bin`, `s3://${kms}/named/md5-moved.bin`, '--json'], { env: s3Env() });
    expect(readBack.code, readBack.stderr).toBe(0);
    expect(lastJson<{ objects: Array<{ verifiedBy: string; verifiedWith?: string }> }>(readBack).objects[0]).toMatchObject({ verifiedBy: 'read-back', verifiedWith: 'metadata-md5' });
  });

  it('mv of an SSE-KMS object whose stored MD5 is wrong keeps the source: the copy is read back and refused', async () => {
    // No checksum sent: the stored MD5 is all there is, and it is wrong.
    await client.send(new PutObjectCommand({ Bucket: kms, Key: 'lie/data.bin', Body: 'the real bytes', Metadata: { md5chksum: Buffer.alloc(16, 7).toString('base64') } }));
    const moved = await runCli(['mv', `s3://${kms}/lie/data.bin`, `s3://${kms}/lie/moved.bin`, '--json'], { env: s3Env() });
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(/did not verify/);
    expect(await listKeys(client, kms, 'lie/')).toEqual(['lie/data.bin']);
  });
});
