import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { crc32Base64, createTestBucket, emptyAndDeleteBucket, expectRunFailedAsAWhole, lastJson, listKeys, motoClient, motoEnv, runCli, tempDirectory, testClient, writeRandomFile } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');

interface PutJson {
  objects: Array<{ bucket: string; key: string; size: number; etag: string; md5?: string; crc32: string; parts: number }>;
  failed: Array<{ path?: string; key?: string; error: string }>;
}

let client: S3Client;
let bucket: string;
const work = tempDirectory('putget');

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'putget');
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

async function readObject(key: string): Promise<Buffer> {
  const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await output.Body!.transformToByteArray());
}

describe('round trips are byte-identical', () => {
  // The multipart threshold is one part (8 MiB by default): up to it a single PUT, above it parts.
  it.each([
    ['0 B', 0, 1],
    ['1 B', 1, 1],
    ['just under the threshold', 8 * MiB - 1, 1],
    ['exactly the threshold', 8 * MiB, 1],
    ['just over the threshold', 8 * MiB + 1, 2],
  ])('%s', async (label, size, parts) => {
    const path = join(work.path, `file-${size}`);
    const data = writeRandomFile(path, size);
    const key = `roundtrip/${size}.bin`;
    const put = await runCli(['put', path, `s3://${bucket}/${key}`, '--json']);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const uploaded = lastJson<PutJson>(put).objects[0]!;
    // Every object carries its full-object CRC32; a single PUT its whole-content MD5 too.
    expect(uploaded).toMatchObject({ bucket, key, size, crc32: crc32Base64(data), parts });
    expect(uploaded.md5).toBe(parts === 1 ? md5(data) : undefined);
    expect(uploaded.etag.endsWith(parts > 1 ? `-${parts}` : '')).toBe(true);
    expect(md5(await readObject(key))).toBe(md5(data));

    const back = join(work.path, `back-${size}`);
    const get = await runCli(['get', `s3://${bucket}/${key}`, back, '--json']);
    expect(get.code).toBe(0);
    expect(lastJson<PutJson>(get).objects[0]).toMatchObject({ key, size, crc32: crc32Base64(data), verifiedBy: expect.not.stringMatching(/^unverifiable$/) });
    expect(md5(readFileSync(back))).toBe(md5(data));
  });

  it('a 105 MiB file goes up in parts with a -N ETag, comes back identical, and other clients read it', async () => {
    const path = join(work.path, 'big.bin');
    const data = writeRandomFile(path, 105 * MiB);
    const put = await runCli(['put', path, '--bucket', bucket, '--key', 'big/big.bin', '--json']);
    expect(put.code).toBe(0);
    const uploaded = lastJson<PutJson>(put).objects[0]!;
    expect(uploaded.etag).toMatch(/^[0-9a-f]{32}-14$/);
    expect(uploaded.crc32).toBe(crc32Base64(data));

    // The full-object CRC32 is kept with the object, so multipart objects verify later, by any client.
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big/big.bin', ChecksumMode: 'ENABLED' }));
    expect({ crc32: head.ChecksumCRC32, type: head.ChecksumType }).toEqual({ crc32: crc32Base64(data), type: 'FULL_OBJECT' });
    expect(md5(await readObject('big/big.bin'))).toBe(md5(data));

    const back = join(work.path, 'big.back');
    const get = await runCli(['get', 'big/big.bin', back, '--bucket', bucket, '--json']);
    expect(get.code).toBe(0);
    expect(md5(readFileSync(back))).toBe(md5(data));
    expect(readdirSync(work.path).filter((name) => name.includes('datalake-tmp'))).toEqual([]);
  });

  it('downloads and verifies an object another client uploaded in parts, with no stored MD5', async () => {
    const data = Buffer.alloc(13 * MiB + 5, 7);
    data.write('some varied bytes at the start', 0);
    await new Upload({ client, params: { Bucket: bucket, Key: 'foreign/multi.bin', Body: data }, partSize: 5 * MiB }).done();
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'foreign/multi.bin' }));
    expect(head.ETag).toMatch(/-3"$/);
    // Where the server answers a part GET with the whole object (moto), datalake must fetch ranges instead.
    const part = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'foreign/multi.bin', PartNumber: 2 }));
    await part.Body!.transformToByteArray();
    expect(part.ContentRange).toBe(inject('s3').capabilities.partNumberGet ? `bytes ${5 * MiB}-${10 * MiB - 1}/${data.length}` : undefined);

    const back = join(work.path, 'foreign.bin');
    const get = await runCli(['get', `s3://${bucket}/foreign/multi.bin`, back, '--json']);
    expect(get.code).toBe(0);
    // A server that tells no part sizes it can be held to leaves the ETag unrecomputable: the bytes still arrive whole.
    const verifiedBy = inject('s3').capabilities.partSizes ? 'multipart-etag' : 'unverifiable';
    expect(lastJson(get)).toMatchObject({ objects: [{ crc32: crc32Base64(data), verifiedBy }] });
    expect(md5(readFileSync(back))).toBe(md5(data));
  });
});

describe('how objects are stored', () => {
  it('put -r and sync with --zone place a tree already partitioned under the run’s date; a later day’s sync --delete leaves the day before alone', async () => {
    const tree = join(work.path, 'partitioned');
    mkdirSync(join(tree, 'dt=2026-12-01'), { recursive: true });
    writeFileSync(join(tree, 'dt=2026-12-01', 'a.csv'), 'a\n');
    const layout = ['--bucket', bucket, '--zone', 'raw', '--dataset', 'pt'];
    const put = await runCli(['put', '-r', tree, ...layout, '--date', '2026-12-01']);
    expect(put.code, put.stderr).toBe(0);
    // The next day's export holds that day alone.
    rmSync(join(tree, 'dt=2026-12-01'), { recursive: true });
    mkdirSync(join(tree, 'dt=2026-12-02'));
    writeFileSync(join(tree, 'dt=2026-12-02', 'b.csv'), 'b\n');
    const synced = await runCli(['sync', tree, ...layout, '--date', '2026-12-02', '--delete', '--json']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(lastJson(synced)).toMatchObject({ transferred: 1, deleted: 0 });
    expect((await listKeys(client, bucket, 'raw/pt/')).sort()).toEqual(['raw/pt/year=2026/month=12/day=01/dt=2026-12-01/a.csv', 'raw/pt/year=2026/month=12/day=02/dt=2026-12-02/b.csv']);
  });

  it('sets metadata, tags and content type, guessed from the extension by default', async () => {
    const path = join(work.path, 'events.csv');
    writeFileSync(path, 'id,name\n1,a\n');
    const put = await runCli(['put', path, '--bucket', bucket, '--zone', 'raw', '--dataset', 'reddit', '--date', '2024-01-15', '--meta', 'owner=etl', '--tag', 'team=data', '--tag', 'pii=no']);
    expect(put.code).toBe(0);
    const key = 'raw/reddit/year=2024/month=01/day=15/events.csv';
    expect(put.stdout).toContain(`s3://${bucket}/${key}`);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ContentType).toBe('text/csv');
    expect(head.Metadata).toMatchObject({ owner: 'etl' });
    const tags = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    expect(Object.fromEntries((tags.TagSet ?? []).map((tag) => [tag.Key, tag.Value]))).toEqual({ team: 'data', pii: 'no' });

    const explicit = await runCli(['put', path, `s3://${bucket}/typed/events.dat`, '--content-type', 'application/x-custom', '--sse', 'AES256']);
    expect(explicit.code).toBe(0);
    const typed = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'typed/events.dat' }));
    expect(typed.ContentType).toBe('application/x-custom');
    expect(typed.ServerSideEncryption).toBe('AES256');
  });

  it('a multipart upload carries metadata, tags, type, storage class and SSE-KMS (on moto), and reads back verified', async () => {
    const moto = motoClient();
    await moto.send(new CreateBucketCommand({ Bucket: 'kms-parts' }));
    try {
      const path = join(work.path, 'kms.parquet');
      const content = writeRandomFile(path, 11 * MiB);
      const env = motoEnv({ DATALAKE_PART_SIZE: '5MiB' });
      const put = await runCli(
        ['put', path, 's3://kms-parts/raw/kms.parquet', '--meta', 'owner=etl', '--tag', 'team=data', '--storage-class', 'STANDARD_IA', '--sse', 'aws:kms', '--sse-kms-key-id', 'alias/lake', '--json'],
        { env },
      );
      expect(put.code).toBe(0);
      expect(lastJson<PutJson>(put).objects[0]).toMatchObject({ parts: 3, crc32: crc32Base64(content) });
      const head = await moto.send(new HeadObjectCommand({ Bucket: 'kms-parts', Key: 'raw/kms.parquet' }));
      expect(head.ServerSideEncryption).toBe('aws:kms');
      expect(head.StorageClass).toBe('STANDARD_IA');
      expect(head.Metadata).toEqual({ owner: 'etl' });
      const tags = await moto.send(new GetObjectTaggingCommand({ Bucket: 'kms-parts', Key: 'raw/kms.parquet' }));
      expect(Object.fromEntries((tags.TagSet ?? []).map((tag) => [tag.Key, tag.Value]))).toEqual({ team: 'data' });
      const target = join(work.path, 'kms-back.parquet');
      const get = await runCli(['get', 's3://kms-parts/raw/kms.parquet', target, '--json'], { env });
      expect(get.code).toBe(0);
      expect(md5(readFileSync(target))).toBe(md5(content));
    } finally {
      await emptyAndDeleteBucket(moto, 'kms-parts');
      moto.destroy();
    }
  });

  it('uploads several files under a prefix, and a directory with --recursive', async () => {
    const tree = join(work.path, 'tree');
    writeRandomFile(join(work.path, 'one.txt'), 10);
    writeRandomFile(join(work.path, 'two.txt'), 20);
    const many = await runCli(['put', join(work.path, 'one.txt'), join(work.path, 'two.txt'), `s3://${bucket}/many/`, '--json']);
    expect(many.code).toBe(0);
    expect(lastJson<PutJson>(many).objects.map((o) => o.key).sort()).toEqual(['many/one.txt', 'many/two.txt']);

    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeRandomFile(join(tree, 'a.bin'), 100);
    writeRandomFile(join(tree, 'sub', 'b.bin'), 200);
    const recursive = await runCli(['put', '-r', tree, `s3://${bucket}/tree`, '--json']);
    expect(recursive.code).toBe(0);
    expect(lastJson<PutJson>(recursive).objects.map((o) => o.key).sort()).toEqual(['tree/a.bin', 'tree/sub/b.bin']);

    const out = join(work.path, 'tree-back');
    const get = await runCli(['get', '-r', `s3://${bucket}/tree/`, out, '--json']);
    expect(get.code).toBe(0);
    expect(readFileSync(join(out, 'sub', 'b.bin'))).toEqual(readFileSync(join(tree, 'sub', 'b.bin')));
    expect(readFileSync(join(out, 'a.bin'))).toEqual(readFileSync(join(tree, 'a.bin')));
  });

  it('keeps keys with spaces, unicode and reserved characters exact both ways', async () => {
    // Small objects travel by the directly signed PUT and GET: their path encoding must match S3's.
    const names = ['with space.txt', 'plus+sign.txt', "bang!quote'(paren)*star.txt", 'eq=amp&pct%25.txt', 'tilde~dot.txt', 'ünïcødé-日本.txt'];
    const tree = join(work.path, 'odd-names');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(tree, 'sub dir'), { recursive: true });
    for (const [index, name] of names.entries()) writeFileSync(join(tree, 'sub dir', name), `content ${index}`);
    const put = await runCli(['put', '-r', tree, `s3://${bucket}/odd`, '--json']);
    expect(put.code).toBe(0);
    const expected = names.map((name) => `odd/sub dir/${name}`).sort();
    expect(lastJson<PutJson>(put).objects.map((o) => o.key).sort()).toEqual(expected);
    for (const [index, name] of names.entries()) {
      expect((await readObject(`odd/sub dir/${name}`)).toString()).toBe(`content ${index}`);
    }
    const out = join(work.path, 'odd-back');
    const get = await runCli(['get', '-r', `s3://${bucket}/odd/`, out, '--json']);
    expect(get.code).toBe(0);
    expect(readdirSync(join(out, 'sub dir')).sort()).toEqual([...names].sort());
    for (const [index, name] of names.entries()) expect(readFileSync(join(out, 'sub dir', name), 'utf8')).toBe(`content ${index}`);
  });
});

describe('standard input and output', () => {
  it.each([
    ['small', 1000],
    ['multipart', 20 * MiB + 3],
  ])('a %s stream uploads with its MD5 stored (--md5-metadata), and downloads to stdout', async (label, size) => {
    const data = randomBytes(size);
    const key = `stdin/${label}.bin`;
    const put = await runCli(['put', '-', `s3://${bucket}/${key}`, '--json', '--md5-metadata'], { input: data });
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect(lastJson<PutJson>(put).objects[0]).toMatchObject({ key, size, md5: md5(data), crc32: crc32Base64(data) });
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(Buffer.from(head.Metadata?.md5chksum ?? '', 'base64').toString('hex')).toBe(md5(data));

    const get = await runCli(['get', `s3://${bucket}/${key}`, '-']);
    expect(get.code).toBe(0);
    expect(get.stdoutBytes.length).toBe(size);
    expect(md5(get.stdoutBytes)).toBe(md5(data));
  });
});

describe('a bucket that does not exist', () => {
  it('put -r into it fails the whole run with one line naming it: --json and the log say that alone, no per-file failures', async () => {
    const missing = `nosuch-${randomBytes(4).toString('hex')}`;
    const tree = join(work.path, 'to-no-bucket');
    mkdirSync(tree, { recursive: true });
    for (const name of ['a.csv', 'b.csv']) writeFileSync(join(tree, name), name);
    const log = join(work.path, 'no-bucket-put.log');
    const result = await runCli(['put', '-r', tree, `s3://${missing}/y/`, '--json', '--log-file', log]);
    if (!inject('s3').capabilities.putNeedsBucket) {
      // The server made the bucket on the first PUT into it: the files are there, as asked.
      expect(result.code, result.stderr).toBe(0);
      expect(await listKeys(client, missing, 'y/')).toEqual(['y/a.csv', 'y/b.csv']);
      await emptyAndDeleteBucket(client, missing);
      return;
    }
    expectRunFailedAsAWhole(result, log, new RegExp(`^datalake: error: no such bucket '${missing}'`));
  });
});

describe('a missing object', () => {
  it('exits 1 naming it, and writes no file', async () => {
    const target = join(work.path, 'never.bin');
    const result = await runCli(['get', `s3://${bucket}/no/such/key.bin`, target]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no/such/key.bin');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(work.path).filter((name) => name.includes('never'))).toEqual([]);
  });
});
