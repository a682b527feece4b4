import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, runCli, s3Env, testClient } from '../support/harness.js';

let client: S3Client;
let bucket: string;
const COUNT = 1005;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'ls');
  const keys = Array.from({ length: COUNT }, (_, i) => `many/k${String(i).padStart(5, '0')}.txt`);
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(keys.slice(i, i + 50).map((Key) => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x'.repeat(10) }))));
  }
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'other/a.csv', Body: 'abc' }));
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
});

interface LsJson {
  objects: Array<{ key: string; size: number; lastModified: string; etag: string }>;
  prefixes: string[];
}

describe('ls', () => {
  it('lists past 1,000 keys, every page, in key order', async () => {
    const result = await runCli(['ls', `s3://${bucket}/many/`, '--recursive', '--json']);
    expect(result.code).toBe(0);
    const listed = lastJson<LsJson>(result);
    expect(listed.objects).toHaveLength(COUNT);
    expect(listed.objects[0]).toMatchObject({ key: 'many/k00000.txt', size: 10 });
    expect(listed.objects[COUNT - 1]!.key).toBe('many/k01004.txt');
    expect(new Date(listed.objects[0]!.lastModified).getTime()).toBeGreaterThan(0);
    expect(listed.objects[0]!.etag).toMatch(/^[0-9a-f]{32}$/);
  });

  it('shows one level with prefixes, and a human total', async () => {
    const result = await runCli(['ls', '--bucket', bucket]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/PRE many\//);
    expect(result.stdout).toMatch(/PRE other\//);
    const human = await runCli(['ls', 'many/', '-r'], { env: s3Env({ DATALAKE_BUCKET: bucket }) });
    expect(human.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+10 B many\/k00000\.txt$/m);
    expect(human.stdout.trim().split('\n').pop()).toBe(`Total: ${COUNT} objects, 9.8 KiB in s3://${bucket}/many/`);
  });

  it('lists the buckets when no bucket is named or configured', async () => {
    const result = await runCli(['ls', '--json'], { env: s3Env({ DATALAKE_BUCKET: undefined }) });
    expect(result.code).toBe(0);
    const listed = lastJson<{ buckets: Array<{ name: string; creationDate: string }> }>(result);
    expect(listed.buckets.map((entry) => entry.name)).toContain(bucket);
  });

  it('reads keys with XML-escaped characters back exactly', async () => {
    const key = `odd/a&b <c> "d" 'e' 日本 +%.txt`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'odd' }));
    const result = await runCli(['ls', `s3://${bucket}/odd/`, '--json']);
    expect(result.code).toBe(0);
    expect(lastJson<LsJson>(result).objects).toEqual([expect.objectContaining({ key, size: 3 })]);
  });

  it('fails with exit 1 and a hint for a bucket that does not exist', async () => {
    const result = await runCli(['ls', 's3://no-such-bucket-datalake-test/']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/no such bucket.*datalake init/);
  });
});
