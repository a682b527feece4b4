import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

let client: S3Client;
let bucket: string;
const COUNT = 1005;
const work = tempDirectory('ls');

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
  work.remove();
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

/**
 * XML 1.0 cannot carry ESC, BEL and most other C0 controls, which S3 allows in keys: a listing asked
 * without `encoding-type=url` gets them as U+FFFD (MinIO, SeaweedFS), a key no request can reach. Asked
 * URL-encoded and decoded, as the AWS CLI asks, every command that lists reaches the key itself.
 */
describe('keys XML 1.0 cannot carry', () => {
  const keys = ['ctl/a\u001b[31mred.txt', 'ctl/bell\u0007.txt', 'ctl/dir\u001bx/inner.txt', 'ctl/plus+ space%25.txt'];

  beforeAll(async () => {
    for (const key of keys) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
  });

  it('ls lists them exactly: keys and prefixes in --json, escaped in the human lines', async () => {
    const recursive = await runCli(['ls', '-r', `s3://${bucket}/ctl/`, '--json']);
    expect(recursive.code, recursive.stderr).toBe(0);
    expect(lastJson<LsJson>(recursive).objects.map((object) => object.key)).toEqual(keys);
    const level = await runCli(['ls', `s3://${bucket}/ctl/`, '--json']);
    expect(level.code, level.stderr).toBe(0);
    expect(lastJson<LsJson>(level).prefixes).toEqual(['ctl/dir\u001bx/']);
    const human = await runCli(['ls', '-r', `s3://${bucket}/ctl/`]);
    expect(human.stdout).toContain('ctl/a\\x1b[31mred.txt');
    expect(human.stdout).toContain('ctl/bell\\x07.txt');
  });

  it('get -r and sync down fetch them; cp -r, mv -r and rm -r copy, move and delete them', async () => {
    const got = join(work.path, 'got');
    const get = await runCli(['get', '-r', `s3://${bucket}/ctl/`, got]);
    expect(get.code, get.stderr).toBe(0);
    expect(readFileSync(join(got, 'a\u001b[31mred.txt'), 'utf8')).toBe('body of ctl/a\u001b[31mred.txt');
    expect(readFileSync(join(got, 'dir\u001bx', 'inner.txt'), 'utf8')).toBe('body of ctl/dir\u001bx/inner.txt');
    expect(readdirSync(got).sort()).toEqual(['a\u001b[31mred.txt', 'bell\u0007.txt', 'dir\u001bx', 'plus+ space%25.txt']);

    const synced = join(work.path, 'synced');
    const sync = await runCli(['sync', `s3://${bucket}/ctl/`, synced, '--json']);
    expect(sync.code, sync.stderr).toBe(0);
    expect(lastJson(sync)).toMatchObject({ transferred: 4, failed: 0 });
    const again = await runCli(['sync', `s3://${bucket}/ctl/`, synced, '--json']);
    expect(lastJson(again)).toMatchObject({ transferred: 0, skipped: 4, deleted: 0, failed: 0 });

    const cp = await runCli(['cp', '-r', `s3://${bucket}/ctl/`, `s3://${bucket}/ctl-copy/`]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'ctl-copy/')).toEqual(keys.map((key) => key.replace(/^ctl\//, 'ctl-copy/')));
    const mv = await runCli(['mv', '-r', `s3://${bucket}/ctl-copy/`, `s3://${bucket}/ctl-moved/`]);
    expect(mv.code, mv.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'ctl-copy/')).toEqual([]);
    expect(await listKeys(client, bucket, 'ctl-moved/')).toEqual(keys.map((key) => key.replace(/^ctl\//, 'ctl-moved/')));
    const rm = await runCli(['rm', '-r', `s3://${bucket}/ctl-moved/`]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'ctl-moved/')).toEqual([]);
  });

  it('sync up --delete deletes a remote key with ESC or BEL that the local tree lacks, and the rest', async () => {
    for (const key of ['up/keep.txt', 'up/gone\u001b.txt', 'up/gone\u0007.txt', 'up/gone.txt']) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const tree = join(work.path, 'up');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'keep.txt'), 'up/keep.txt');
    const result = await runCli(['sync', tree, `s3://${bucket}/up/`, '--delete', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ deleted: 3, failed: 0 });
    expect(await listKeys(client, bucket, 'up/')).toEqual(['up/keep.txt']);
  });
});
