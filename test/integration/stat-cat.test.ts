import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, runCli, s3Env, tempDirectory, testClient, writeRandomFile } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('stat-cat');
let client: S3Client;
let bucket: string;
let big: Buffer;
let small: Buffer;
const env = () => s3Env({ DATALAKE_PART_SIZE: '5MiB', DATALAKE_STATE_DIR: join(work.path, 'state') });

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'statcat');
  small = writeRandomFile(join(work.path, 'small.csv'), 70_000);
  big = writeRandomFile(join(work.path, 'big.bin'), 12 * MiB + 123);
  const puts = await Promise.all([
    runCli(['put', join(work.path, 'small.csv'), `s3://${bucket}/s/small.csv`, '--meta', 'owner=etl', '--tag', 'team=data'], { env: env() }),
    runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/s/big.bin`], { env: env() }),
  ]);
  for (const put of puts) expect(put.code, put.stderr).toBe(0);
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

interface Stat {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  md5: string | null;
  versionId: string | null;
  contentType: string | null;
  storageClass: string;
  metadata: Record<string, string>;
  tags: Record<string, string> | null;
  checksums: Record<string, string>;
  parts: { count: number; sizes: number[] } | null;
}

describe('stat', () => {
  it('a single-PUT object: size, ETag, stored MD5, type, class, metadata, tags, no parts, no version', async () => {
    const result = await runCli(['stat', `s3://${bucket}/s/small.csv`, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const stat = lastJson<Stat>(result);
    expect(stat).toMatchObject({
      bucket,
      key: 's/small.csv',
      size: small.length,
      etag: md5(small),
      md5: md5(small),
      versionId: null,
      contentType: 'text/csv',
      storageClass: 'STANDARD',
      tags: { team: 'data' },
      parts: null,
    });
    expect(stat.metadata.owner).toBe('etl');
    const human = await runCli(['stat', `s3://${bucket}/s/small.csv`]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`s3://${bucket}/s/small.csv`);
    expect(human.stdout).toMatch(/size\s+70000 bytes/);
    expect(human.stdout).toMatch(/tags\s+team=data/);
    expect(human.stdout).toMatch(/parts\s+1 \(a single PUT\)/);
  });

  it("a multipart object: its part count and each part's size", async () => {
    const result = await runCli(['stat', `s3://${bucket}/s/big.bin`, '--json']);
    expect(result.code).toBe(0);
    const stat = lastJson<Stat>(result);
    expect(stat.etag).toMatch(/-3$/);
    expect(stat.parts).toEqual({ count: 3, sizes: [5 * MiB, 5 * MiB, 2 * MiB + 123] });
    const human = await runCli(['stat', `s3://${bucket}/s/big.bin`]);
    expect(human.stdout).toMatch(/parts\s+3: 2 × 5\.0 MiB, 1 × 2\.0 MiB/);
  });

  it('the checksums S3 keeps (checksum mode enabled)', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 's/crc.bin', Body: Buffer.from('checksummed'), ChecksumAlgorithm: 'CRC32' }));
    const stat = lastJson<Stat>(await runCli(['stat', `s3://${bucket}/s/crc.bin`, '--json']));
    expect(stat.checksums.crc32).toMatch(/^[A-Za-z0-9+/]{6}==$/);
  });

  it('a version id, and an older version by --version-id', async () => {
    const versioned = `dl-test-statv-${randomBytes(4).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: versioned }));
    await client.send(new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: 'Enabled' } }));
    try {
      const first = await client.send(new PutObjectCommand({ Bucket: versioned, Key: 'a.txt', Body: 'one' }));
      const second = await client.send(new PutObjectCommand({ Bucket: versioned, Key: 'a.txt', Body: 'three' }));
      const latest = lastJson<Stat>(await runCli(['stat', `s3://${versioned}/a.txt`, '--json']));
      expect(latest).toMatchObject({ versionId: second.VersionId, size: 5 });
      const older = lastJson<Stat>(await runCli(['stat', `s3://${versioned}/a.txt`, '--version-id', first.VersionId!, '--json']));
      expect(older).toMatchObject({ versionId: first.VersionId, size: 3 });
      // A delete marker's id names no object version: said so, one line, exit 1 (was "UnknownError").
      const marker = await client.send(new DeleteObjectCommand({ Bucket: versioned, Key: 'a.txt' }));
      const ofMarker = await runCli(['stat', `s3://${versioned}/a.txt`, '--version-id', marker.VersionId!]);
      expect(ofMarker.code).toBe(1);
      expect(ofMarker.stderr.trim()).toBe(`datalake: error: s3://${versioned}/a.txt version ${marker.VersionId} is a delete marker, not a version of the object (list the versions with \`aws s3api list-object-versions\`)`);
    } finally {
      const versions = await client.send(new ListObjectVersionsCommand({ Bucket: versioned }));
      for (const v of [...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])]) await client.send(new DeleteObjectCommand({ Bucket: versioned, Key: v.Key, VersionId: v.VersionId }));
      await client.send(new DeleteBucketCommand({ Bucket: versioned }));
    }
  });

  it('every label stands apart from its value, the longest (content-disposition) included, and every value starts in one column', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 's/headers.json', Body: '{}', ContentType: 'application/json', ContentDisposition: 'attachment; filename="a.json"', ContentEncoding: 'identity', CacheControl: 'no-cache' }),
    );
    const human = await runCli(['stat', `s3://${bucket}/s/headers.json`]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^ {2}content-disposition {2,}attachment; filename="a\.json"$/m);
    expect(human.stdout).toMatch(/^ {2}content-encoding {2,}identity$/m);
    const rows = human.stdout.trimEnd().split('\n').slice(1);
    const starts = rows.map((row) => row.length - /^ {2}\S+(?: \S+)*? {2,}(.*)$/.exec(row)![1]!.length);
    expect(new Set(starts).size).toBe(1);
  });

  it('an object whose latest version is a delete marker: said so, with the marker and how to read an older version; exit 1', async () => {
    const versioned = `dl-test-statd-${randomBytes(4).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: versioned }));
    await client.send(new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: 'Enabled' } }));
    try {
      const kept = await client.send(new PutObjectCommand({ Bucket: versioned, Key: 'gone.txt', Body: 'one' }));
      const marker = await client.send(new DeleteObjectCommand({ Bucket: versioned, Key: 'gone.txt' }));
      const result = await runCli(['stat', `s3://${versioned}/gone.txt`, '--json']);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `datalake: error: s3://${versioned}/gone.txt was deleted: its latest version is a delete marker (${marker.VersionId}) (older versions may remain: list them with \`aws s3api list-object-versions\`, and look at one with \`datalake stat --version-id\`)`,
      );
      expect(lastJson(result)).toMatchObject({ error: { code: 'NoSuchKey' } });
      // cat (a GET for a small object) and cp (the SDK's HEAD) say the same.
      for (const args of [['cat', `s3://${versioned}/gone.txt`], ['cp', `s3://${versioned}/gone.txt`, `s3://${versioned}/copy.txt`]]) {
        const other = await runCli(args);
        expect(other.code, args.join(' ')).toBe(1);
        expect(other.stderr, args.join(' ')).toContain(`s3://${versioned}/gone.txt was deleted: its latest version is a delete marker (${marker.VersionId})`);
      }
      const older = await runCli(['stat', `s3://${versioned}/gone.txt`, '--version-id', kept.VersionId!, '--json']);
      expect(older.code, older.stderr).toBe(0);
    } finally {
      const versions = await client.send(new ListObjectVersionsCommand({ Bucket: versioned }));
      for (const v of [...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])]) await client.send(new DeleteObjectCommand({ Bucket: versioned, Key: v.Key, VersionId: v.VersionId }));
      await client.send(new DeleteBucketCommand({ Bucket: versioned }));
    }
  });

  it('a missing object is exit 1 naming it; a prefix is exit 2', async () => {
    const missing = await runCli(['stat', `s3://${bucket}/s/nope.csv`, '--json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no such object s3://${bucket}/s/nope.csv`);
    expect(lastJson(missing)).toMatchObject({ error: { code: 'NoSuchKey' } });
    const prefix = await runCli(['stat', `s3://${bucket}/s/`]);
    expect(prefix.code).toBe(2);
  });
});

describe('cat', () => {
  it('streams a single-part and a multipart object to stdout, byte for byte', async () => {
    const one = await runCli(['cat', `s3://${bucket}/s/small.csv`]);
    expect(one.stderr).toBe('');
    expect(one.code).toBe(0);
    expect(md5(one.stdoutBytes)).toBe(md5(small));
    const many = await runCli(['cat', `s3://${bucket}/s/big.bin`]);
    expect(many.code).toBe(0);
    expect(md5(many.stdoutBytes)).toBe(md5(big));
  });

  it('an object whose stored MD5 is wrong: the bytes went out, the command says so and exits 1', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 's/bad.csv', Body: small }));
    const wrong = Buffer.from(md5(Buffer.from('something else')), 'hex').toString('base64');
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: 's/bad.csv', CopySource: `${bucket}/s/bad.csv`, MetadataDirective: 'REPLACE', Metadata: { md5chksum: wrong } }));
    const result = await runCli(['cat', `s3://${bucket}/s/bad.csv`]);
    expect(result.code).toBe(1);
    expect(result.stdoutBytes.length).toBe(small.length);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`s3://${bucket}/s/bad.csv did not verify`);
    expect(lines[0]).toContain(`the ${small.length} bytes already written to standard output are not the object's content`);
    expect(lines[0]).not.toContain('nothing was written');
  });

  it('a missing object is exit 1; --json is refused, exit 2', async () => {
    const missing = await runCli(['cat', `s3://${bucket}/s/nope.csv`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('no such object');
    const json = await runCli(['cat', `s3://${bucket}/s/small.csv`, '--json']);
    expect(json.code).toBe(2);
    expect(lastJson(json)).toMatchObject({ error: { code: 'usage' } });
  });
});
