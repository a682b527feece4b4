import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { copyObject } from '../../src/core/transfer/copy.js';
import { openRuntime, type Runtime } from '../../src/cli/runtime.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { BIN, createTestBucket, emptyAndDeleteBucket, expectRunFailedAsAWhole, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient, waitFor, writeRandomFile } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('cp-mv');
let client: S3Client;
let bucket: string;
let big: Buffer;
let small: Buffer;
const env = (extra: Record<string, string> = {}) => s3Env({ DATALAKE_PART_SIZE: '5MiB', DATALAKE_STATE_DIR: join(work.path, 'state'), ...extra });
const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: env(extra) });

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'cpmv');
  small = writeRandomFile(join(work.path, 'small.csv'), 70_000);
  big = writeRandomFile(join(work.path, 'big.bin'), 12 * MiB + 7);
  const puts = await Promise.all([
    cli(['put', join(work.path, 'small.csv'), `s3://${bucket}/src/small.csv`, '--meta', 'owner=etl', '--tag', 'team=data']),
    cli(['put', join(work.path, 'big.bin'), `s3://${bucket}/src/big.bin`, '--meta', 'owner=etl', '--tag', 'team=data']),
  ]);
  for (const put of puts) expect(put.code, put.stderr).toBe(0);
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** The core's runtime on the test server, without the CLI: for what only the core tells (events, lowered limits). */
async function openCoreRuntime(): Promise<Runtime> {
  const s3 = inject('s3');
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
  return openRuntime({ endpoint: s3.endpoint, region: s3.region, progress: false, quiet: true }, { signal: new AbortController().signal, stopping: new AbortController().signal, beforeNotice: () => undefined });
}

/** A date's partition in the default layout, by UTC as the CLI dates a key. */
function partitionOf(date: Date): string {
  return `year=${date.getUTCFullYear()}/month=${String(date.getUTCMonth() + 1).padStart(2, '0')}/day=${String(date.getUTCDate()).padStart(2, '0')}`;
}

/**
 * The partitions a run between `started` and `ended` may date a key by: the day it started, and the
 * next one too should it have crossed midnight UTC (the CLI reads the date as it goes).
 */
function partitionsBetween(started: Date, ended: Date): string[] {
  return [...new Set([partitionOf(started), partitionOf(ended)])];
}

/** `actual` equals one of `candidates` (the same listing, each with the key dated by one of the run's days). */
function expectOneOf(actual: string[], candidates: string[][]): void {
  expect(actual).toEqual(candidates.find((candidate) => JSON.stringify(candidate) === JSON.stringify(actual)) ?? candidates[0]);
}

async function head(key: string) {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}
async function tags(key: string): Promise<Record<string, string>> {
  const output = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return Object.fromEntries((output.TagSet ?? []).map((tag) => [tag.Key!, tag.Value!]));
}
async function body(key: string): Promise<Buffer> {
  const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await output.Body!.transformToByteArray());
}

interface Copied {
  source: string;
  key: string;
  size: number;
  etag: string;
  parts: number;
  verifiedBy: string;
  sourceDeleted?: boolean;
}

describe('cp', () => {
  it('copies one object server-side, keeping metadata, tags and type; the ETag proves it', async () => {
    const result = await cli(['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/one/small.csv`, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const copied = lastJson<{ objects: Copied[] }>(result).objects[0]!;
    expect(copied).toMatchObject({ key: 'one/small.csv', size: small.length, etag: md5(small), parts: 1, verifiedBy: 'etag' });
    const copy = await head('one/small.csv');
    expect(copy.Metadata?.owner).toBe('etl');
    expect(copy.ContentType).toBe('text/csv');
    expect(await tags('one/small.csv')).toEqual({ team: 'data' });
    const human = await cli(['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/one/`]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`copied s3://${bucket}/src/small.csv → s3://${bucket}/one/small.csv`);
  });

  it("a multipart object is copied part for part in its own layout: the copy's ETag is the source's", async () => {
    const source = await head('src/big.bin');
    expect(source.ETag).toMatch(/-3"$/);
    const result = await cli(['cp', `s3://${bucket}/src/big.bin`, `s3://${bucket}/multi/big.bin`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const copied = lastJson<{ objects: Copied[] }>(result).objects[0]!;
    expect(copied).toMatchObject({ parts: 3, verifiedBy: 'etag', size: big.length });
    const copy = await head('multi/big.bin');
    expect(copy.ETag).toBe(source.ETag);
    expect(copy.Metadata?.owner).toBe('etl');
    expect(await tags('multi/big.bin')).toEqual({ team: 'data' });
    expect(md5(await body('multi/big.bin'))).toBe(md5(big));
  });

  it('a multipart copy tells its progress part by part, each part as it is copied, before the copy is done', async () => {
    const runtime = await openCoreRuntime();
    const told: string[] = [];
    let moved = 0;
    runtime.ctx.events.on('transfer:progress', (e) => {
      moved += e.bytes;
      told.push(`progress ${e.bytes}`);
    });
    runtime.ctx.events.on('transfer:done', (e) => told.push(`done ${e.size}`));
    try {
      const outcome = await copyObject(runtime.ctx, { bucket, key: 'src/big.bin' }, { bucket, key: 'progress/big.bin' });
      expect(outcome.kind).toBe('copied');
      // The source's parts: 5 MiB, 5 MiB and the rest, told in the order they were copied.
      const parts = told.filter((line) => line.startsWith('progress')).map((line) => Number(line.split(' ')[1]));
      expect([...parts].sort((a, b) => a - b)).toEqual([big.length - 10 * MiB, 5 * MiB, 5 * MiB]);
      expect(moved).toBe(big.length);
      expect(told.at(-1)).toBe(`done ${big.length}`);
    } finally {
      runtime.close();
    }
  });

  it("a multipart copy keeps the source's full-object CRC32 where the server takes part copies into an upload that asks for one; MinIO does not: there the copy keeps the ETag alone, with no warning", async () => {
    const { checksummedPartCopies } = inject('s3').capabilities;
    const stat = async (key: string) => lastJson<{ etag: string; checksums: Record<string, string>; metadata: Record<string, string> }>(await cli(['stat', `s3://${bucket}/${key}`, '--json']));
    const source = await stat('src/big.bin');
    expect(source.checksums).toEqual({ crc32: expect.any(String), type: 'FULL_OBJECT' });
    // One CopyObject keeps the checksums on every server.
    const single = await cli(['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/crc/`]);
    expect(single.code, single.stderr).toBe(0);
    const singleSource = await stat('src/small.csv');
    expect(singleSource.checksums.crc32).toBeDefined();
    expect((await stat('crc/small.csv')).checksums).toEqual(singleSource.checksums);
    const kept = checksummedPartCopies ? source.checksums : {};
    const copied = await cli(['cp', `s3://${bucket}/src/big.bin`, `s3://${bucket}/crc/`]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stderr).toBe('');
    expect(await stat('crc/big.bin')).toMatchObject({ etag: source.etag, checksums: kept });
    // The README's restamp in place.
    const restamped = await cli(['cp', `s3://${bucket}/crc/big.bin`, `s3://${bucket}/crc/big.bin`, '--meta', 'owner=ops']);
    expect(restamped.code, restamped.stderr).toBe(0);
    expect(restamped.stderr).toBe('');
    expect(await stat('crc/big.bin')).toMatchObject({ etag: source.etag, checksums: kept, metadata: { owner: 'ops' } });
    const got = await cli(['get', `s3://${bucket}/crc/big.bin`, join(work.path, 'crc-big.bin'), '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(lastJson(got)).toMatchObject({ objects: [{ verifiedBy: checksummedPartCopies ? 'crc32' : 'multipart-etag' }] });
    // Where the parts were refused into an upload asking for a CRC32, that upload was aborted.
    expect(lastJson(await cli(['uploads', 'ls', `s3://${bucket}/crc/`, '--json']))).toMatchObject({ uploads: [] });
  });

  it('Expires is kept by every copy: a plain one, with --tag or --storage-class, with --meta or --content-type, and a multipart one', async () => {
    const expires = new Date('2031-05-06T07:08:09Z');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'expires/one.csv', Body: small, Expires: expires }));
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'expires/big.bin', Expires: expires }));
    const parts = [];
    for (const [index, part] of [big.subarray(0, 5 * MiB), big.subarray(5 * MiB, 6 * MiB)].entries()) {
      const sent = await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'expires/big.bin', UploadId: created.UploadId, PartNumber: index + 1, Body: part }));
      parts.push({ PartNumber: index + 1, ETag: sent.ETag });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'expires/big.bin', UploadId: created.UploadId, MultipartUpload: { Parts: parts } }));
    for (const args of [
      ['cp', `s3://${bucket}/expires/one.csv`, `s3://${bucket}/expires-meta/one.csv`, '--meta', 'stage=gold'],
      ['cp', `s3://${bucket}/expires/one.csv`, `s3://${bucket}/expires-type/one.csv`, '--content-type', 'text/plain'],
      ['cp', `s3://${bucket}/expires/big.bin`, `s3://${bucket}/expires-parts/big.bin`],
      ['cp', `s3://${bucket}/expires/one.csv`, `s3://${bucket}/expires-plain/one.csv`],
      ['cp', `s3://${bucket}/expires/one.csv`, `s3://${bucket}/expires-tag/one.csv`, '--tag', 'stage=gold'],
      ['cp', `s3://${bucket}/expires/one.csv`, `s3://${bucket}/expires-class/one.csv`, '--storage-class', 'STANDARD'],
    ]) {
      const result = await cli(args);
      expect(result.code, result.stderr).toBe(0);
    }
    for (const key of ['expires-meta/one.csv', 'expires-type/one.csv', 'expires-parts/big.bin', 'expires-plain/one.csv', 'expires-tag/one.csv', 'expires-class/one.csv']) {
      expect((await head(key)).Expires, key).toEqual(expires);
    }
    // Stating the headers again keeps the rest of them too.
    expect(await head('expires-plain/one.csv')).toMatchObject({ ContentType: (await head('expires/one.csv')).ContentType });
  });

  it('a multipart object with parts of unequal sizes is copied in its exact layout, and keeps its ETag', async () => {
    const sizes = [6 * MiB, 5 * MiB, 7 * MiB, 1 * MiB];
    const data = randomBytes(sizes.reduce((sum, size) => sum + size, 0));
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'uneven/src.bin' }));
    const parts = [];
    let start = 0;
    for (const [index, size] of sizes.entries()) {
      const sent = await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'uneven/src.bin', UploadId: created.UploadId, PartNumber: index + 1, Body: data.subarray(start, start + size) }));
      parts.push({ PartNumber: index + 1, ETag: sent.ETag });
      start += size;
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'uneven/src.bin', UploadId: created.UploadId, MultipartUpload: { Parts: parts } }));
    const result = await cli(['cp', `s3://${bucket}/uneven/src.bin`, `s3://${bucket}/uneven/copy.bin`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ objects: [{ parts: 4, verifiedBy: 'etag' }] });
    expect((await head('uneven/copy.bin')).ETag).toBe((await head('uneven/src.bin')).ETag);
    expect(md5(await body('uneven/copy.bin'))).toBe(md5(data));
    const stat = lastJson<{ parts: { sizes: number[] } }>(await cli(['stat', `s3://${bucket}/uneven/copy.bin`, '--json']));
    expect(stat.parts.sizes).toEqual(sizes);

    // A server without GetObjectAttributes: the layout is guessed from the first and last part (6 MiB × 3
    // + 1 MiB adds up too), the copied parts do not give the source's ETag, and the parts are asked one by one.
    const proxy = new FaultProxy(inject('s3').endpoint!);
    const endpoint = await proxy.start();
    try {
      proxy.setRules([{ method: 'GET', match: /[?&]attributes/, fault: { kind: 'status', status: 501, code: 'NotImplemented' } }]);
      const guessed = await cli(['cp', `s3://${bucket}/uneven/src.bin`, `s3://${bucket}/uneven/guessed.bin`, '--json'], { AWS_ENDPOINT_URL: endpoint });
      expect(guessed.code, guessed.stderr).toBe(0);
      expect(proxy.faults('status')).toBeGreaterThan(0);
      expect(proxy.log.filter((entry) => entry.method === 'HEAD' && /partNumber=2/.test(entry.url))).toHaveLength(1);
    } finally {
      await proxy.stop();
    }
    expect((await head('uneven/guessed.bin')).ETag).toBe((await head('uneven/src.bin')).ETag);
    expect(md5(await body('uneven/guessed.bin'))).toBe(md5(data));
  });

  it('above a lowered single-copy limit, a single-part object is copied with UploadPartCopy and proven by its part ETag', async () => {
    const runtime = await openCoreRuntime();
    try {
      const outcome = await copyObject(runtime.ctx, { bucket, key: 'src/small.csv' }, { bucket, key: 'lowered/small.csv' }, { singleCopyLimit: 1024 });
      expect(outcome.kind).toBe('copied');
      if (outcome.kind !== 'copied') return;
      const partMd5 = Buffer.from(md5(small), 'hex');
      expect(outcome.object).toMatchObject({ parts: 1, verifiedBy: 'etag', etag: `${md5(partMd5)}-1` });
      expect((await head('lowered/small.csv')).Metadata?.owner).toBe('etl');
      expect(await tags('lowered/small.csv')).toEqual({ team: 'data' });
      expect(md5(await body('lowered/small.csv'))).toBe(md5(small));
    } finally {
      runtime.close();
    }
  });

  it('--meta, --tag and --content-type replace what the source had; the stored MD5 stays', async () => {
    const result = await cli(['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/replaced/small.csv`, '--meta', 'stage=gold', '--tag', 'tier=hot', '--content-type', 'text/plain']);
    expect(result.code, result.stderr).toBe(0);
    const copy = await head('replaced/small.csv');
    expect(copy.Metadata?.stage).toBe('gold');
    expect(copy.Metadata?.owner).toBeUndefined();
    expect(copy.Metadata?.md5chksum).toBe(Buffer.from(md5(small), 'hex').toString('base64'));
    expect(copy.ContentType).toBe('text/plain');
    expect(await tags('replaced/small.csv')).toEqual({ tier: 'hot' });
  });

  it('--recursive with --exclude/--include takes the names under the prefix by sync\'s rules', async () => {
    for (const key of ['tree/a.csv', 'tree/a.tmp', 'tree/sub/b.csv', 'tree/sub/c.tmp', 'tree/logs/x.log']) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    }
    const result = await cli(['cp', '-r', `s3://${bucket}/tree/`, `s3://${bucket}/tree-copy/`, '--exclude', '*.tmp', '--exclude', 'logs/**', '--include', 'sub/c.tmp', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'tree-copy/')).toEqual(['tree-copy/a.csv', 'tree-copy/sub/b.csv', 'tree-copy/sub/c.tmp']);
    expect((await body('tree-copy/sub/b.csv')).toString()).toBe('tree/sub/b.csv');
  });

  it('--zone/--dataset promote a prefix: keys in the layout keep their date and name, others are dated today', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'raw/x/year=2024/month=01/day=15/events.csv', Body: 'e' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'raw/x/loose/notes.txt', Body: 'n' }));
    const started = new Date();
    const result = await cli(['cp', `s3://${bucket}/raw/x/`, '--recursive', '--zone', 'processed', '--dataset', 'x', '--json']);
    const partitions = partitionsBetween(started, new Date());
    expect(result.code, result.stderr).toBe(0);
    expectOneOf(await listKeys(client, bucket, 'processed/'), partitions.map((partition) => [`processed/x/${partition}/loose/notes.txt`, 'processed/x/year=2024/month=01/day=15/events.csv'].sort()));
    const dated = await cli(['cp', `s3://${bucket}/raw/x/`, '-r', '--zone', 'analytics', '--dataset', 'y', '--date', '2025-02-03']);
    expect(dated.code, dated.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'analytics/')).toEqual(['analytics/y/year=2025/month=02/day=03/events.csv', 'analytics/y/year=2025/month=02/day=03/loose/notes.txt']);
  });

  it('--zone/--dataset of keys partitioned already (date=…, region=…): their own partitions are kept, the layout adds no date partition to them', async () => {
    const keys = ['raw/pt/date=2026-01-01/x.json', 'raw/pt/date=2026-01-02/region=eu/y.json', 'raw/pt/year=2025/month=05/day=06/z.json', 'raw/pt/flat.json'];
    for (const key of keys) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const started = new Date();
    const result = await cli(['cp', '-r', `s3://${bucket}/raw/pt/`, '--zone', 'processed', '--dataset', 'pt', '--json']);
    const partitions = partitionsBetween(started, new Date());
    expect(result.code, result.stderr).toBe(0);
    expectOneOf(
      await listKeys(client, bucket, 'processed/pt/'),
      partitions.map((partition) => ['processed/pt/date=2026-01-01/x.json', 'processed/pt/date=2026-01-02/region=eu/y.json', `processed/pt/${partition}/flat.json`, 'processed/pt/year=2025/month=05/day=06/z.json'].sort()),
    );
    // --date would give them a second date: refused before anything is copied, naming one.
    const dated = await cli(['cp', '-r', `s3://${bucket}/raw/pt/`, '--zone', 'analytics', '--dataset', 'pt', '--date', '2026-03-04']);
    expect(dated.code).toBe(2);
    expect(dated.stderr.trim().split('\n')).toHaveLength(1);
    expect(dated.stderr).toMatch(/raw\/pt\/date=2026-01-01\/x\.json has partitions of its own \(date=2026-01-01\)/);
    expect(await listKeys(client, bucket, 'analytics/pt/')).toEqual([]);
  });

  it('keys partitioned already, under a layout whose date folder holds the zone or the dataset too: refused before anything is copied (exit 2); a layout of plain date folders keeps zone and dataset', async () => {
    for (const key of ['zl/src/date=2026-01-01/f.json', 'zl/src2/date=2026-01-01/f.json']) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const before = await listKeys(client, bucket);
    for (const [mode, layout, source] of [
      ['cp', '{zone}-{yyyy}/{dataset}/{mm}/{dd}/{name}', 'zl/src/'],
      ['cp', '{zone}/{dataset}_{yyyy}{mm}{dd}/{name}', 'zl/src/'],
      ['mv', '{zone}/{dataset}_{yyyy}{mm}{dd}/{name}', 'zl/src2/'],
    ] as const) {
      const refused = await cli(['--layout', layout, mode, '-r', `s3://${bucket}/${source}`, '--zone', 'analytics', '--dataset', 'ds']);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toContain(`has partitions of its own (date=2026-01-01), and the layout '${layout}' cannot leave its date out`);
      expect(refused.stderr).toMatch(/--layout whose date folders hold date placeholders alone/);
    }
    expect(await listKeys(client, bucket)).toEqual(before);

    const layout = '{zone}/{dataset}/year={yyyy}/{name}';
    const copied = await cli(['--layout', layout, 'cp', '-r', `s3://${bucket}/zl/src/`, '--zone', 'analytics', '--dataset', 'ds']);
    expect(copied.code, copied.stderr).toBe(0);
    const moved = await cli(['--layout', layout, 'mv', '-r', `s3://${bucket}/zl/src2/`, '--zone', 'analytics', '--dataset', 'other']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'analytics/')).toEqual(expect.arrayContaining(['analytics/ds/date=2026-01-01/f.json', 'analytics/other/date=2026-01-01/f.json']));
    expect((await body('analytics/ds/date=2026-01-01/f.json')).toString()).toBe('zl/src/date=2026-01-01/f.json');
    expect((await body('analytics/other/date=2026-01-01/f.json')).toString()).toBe('zl/src2/date=2026-01-01/f.json');
    expect(await listKeys(client, bucket, 'zl/src2/')).toEqual([]);
  });

  it('--no-clobber skips a destination that exists, and leaves it as it was', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'kept/small.csv', Body: 'already here' }));
    const result = await cli(['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/kept/small.csv`, '--no-clobber', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ objects: [], skipped: [{ key: 'kept/small.csv' }], failed: [] });
    expect((await body('kept/small.csv')).toString()).toBe('already here');
  });

  it('bad input is one line, exit 2, and nothing is copied', async () => {
    const cases = [
      ['cp', `s3://${bucket}/src/small.csv`],
      ['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/src/small.csv`],
      ['cp', '-r', `s3://${bucket}/src/`, `s3://${bucket}/src/inner/`],
      ['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/z/`, '--zone', 'raw', '--dataset', 'x'],
      ['cp', `s3://${bucket}/src/small.csv`, './local.csv'],
      ['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/bad//key`],
      ['cp', '-r', `s3://${bucket}/src/`, '--zone', 'gold', '--dataset', 'x'],
      ['cp', `s3://${bucket}/src/small.csv`, `s3://${bucket}/z/x.csv`, '--exclude', '*.csv'],
      ['mv', `s3://${bucket}/src/small.csv`, `s3://${bucket}/src/small.csv`],
    ];
    const before = await listKeys(client, bucket);
    for (const args of cases) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(await listKeys(client, bucket)).toEqual(before);
  });

  it('a missing source is exit 1 naming it', async () => {
    const result = await cli(['cp', `s3://${bucket}/src/nope.csv`, `s3://${bucket}/x/nope.csv`, '--json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no such object s3://${bucket}/src/nope.csv`);
    expect(lastJson(result)).toMatchObject({ objects: [], failed: [{ key: 'src/nope.csv' }] });
  });
});

describe('folder markers (keys ending in /, such as a console makes for an empty folder)', () => {
  // aws s3 cp/mv --recursive leave zero-byte ones out without a word, while rm -r deletes them: a move
  // would leave the source folder standing. datalake copies them like any object, so mv -r empties the source.
  it('cp -r copies a folder marker like any object, and mv -r moves it: nothing is left under the source', async () => {
    for (const [key, content] of [['hm/a.txt', 'a'], ['hm/dir/b.txt', 'b']] as const) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: content }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'hm/dir/', Body: '', Metadata: { owner: 'etl' }, Tagging: 'team=data' }));
    const copied = await cli(['cp', '-r', `s3://${bucket}/hm/`, `s3://${bucket}/hc/`, '--json']);
    expect(copied.code, copied.stderr).toBe(0);
    expect(lastJson<{ objects: Copied[] }>(copied).objects.map((object) => object.key).sort()).toEqual(['hc/a.txt', 'hc/dir/', 'hc/dir/b.txt']);
    expect(await listKeys(client, bucket, 'hc/')).toEqual(['hc/a.txt', 'hc/dir/', 'hc/dir/b.txt']);
    // Kept as a copy keeps them, where the server copies the marker and where it is made anew (SeaweedFS,
    // which keeps no metadata on a marker in the first place).
    expect((await head('hc/dir/')).Metadata).toEqual((await head('hm/dir/')).Metadata);
    expect(await tags('hc/dir/')).toEqual({ team: 'data' });

    const moved = await cli(['mv', '-r', `s3://${bucket}/hm/`, `s3://${bucket}/m/`, '--json']);
    expect(moved.code, moved.stderr).toBe(0);
    const document = lastJson<{ objects: Copied[]; skipped: unknown[]; failed: unknown[] }>(moved);
    expect(document.objects.find((object) => object.key === 'm/dir/')).toMatchObject({ size: 0, sourceDeleted: true });
    expect(document).toMatchObject({ skipped: [], failed: [] });
    expect(await listKeys(client, bucket, 'hm/')).toEqual([]);
    expect(await listKeys(client, bucket, 'm/')).toEqual(['m/a.txt', 'm/dir/', 'm/dir/b.txt']);
    const human = await cli(['mv', '-r', `s3://${bucket}/m/`, `s3://${bucket}/m2/`]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`moved s3://${bucket}/m/dir/ → s3://${bucket}/m2/dir/`);
    expect(human.stdout).toMatch(/^3 moved, 0 skipped, 0 failed/m);
  });

  it('in a bucket encrypted by default (SSE-S3, as datalake init makes it), markers are copied and moved too: proven by their checksum where the ETag is no MD5', async () => {
    const encrypted = await createTestBucket(client, 'cpmv-sse');
    try {
      await client.send(new PutBucketEncryptionCommand({ Bucket: encrypted, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } }));
      for (const [key, content] of [['e/a.txt', 'a'], ['e/dir/', '']] as const) await client.send(new PutObjectCommand({ Bucket: encrypted, Key: key, Body: content }));
      const copied = await cli(['cp', '-r', `s3://${encrypted}/e/`, `s3://${encrypted}/c/`, '--json']);
      expect(copied.code, copied.stderr).toBe(0);
      expect(await listKeys(client, encrypted, 'c/')).toEqual(['c/a.txt', 'c/dir/']);
      const moved = await cli(['mv', '-r', `s3://${encrypted}/e/`, `s3://${encrypted}/m/`, '--json']);
      expect(moved.code, moved.stderr).toBe(0);
      expect(await listKeys(client, encrypted, 'e/')).toEqual([]);
      expect(await listKeys(client, encrypted, 'm/')).toEqual(['m/a.txt', 'm/dir/']);
    } finally {
      await emptyAndDeleteBucket(client, encrypted);
    }
  });

  it("the source prefix's own marker becomes the destination prefix's; the layout, which names files, skips markers and says so (mv keeps them)", async () => {
    for (const [key, content] of [['ho/', ''], ['ho/f.csv', 'f'], ['ho/sub/', '']] as const) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: content }));
    const copied = await cli(['cp', '-r', `s3://${bucket}/ho/`, `s3://${bucket}/hoc/`, '--json']);
    expect(copied.code, copied.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'hoc/')).toEqual(['hoc/', 'hoc/f.csv', 'hoc/sub/']);

    const promoted = await cli(['mv', '-r', `s3://${bucket}/ho/`, '--zone', 'processed', '--dataset', 'ho', '--date', '2024-01-15', '--json']);
    expect(promoted.code, promoted.stderr).toBe(0);
    const document = lastJson<{ objects: Copied[]; skipped: Array<{ source: string; reason: string }> }>(promoted);
    expect(document.objects.map((object) => object.key)).toEqual(['processed/ho/year=2024/month=01/day=15/f.csv']);
    expect(document.skipped.map((skip) => skip.source).sort()).toEqual([`s3://${bucket}/ho/`, `s3://${bucket}/ho/sub/`]);
    for (const skip of document.skipped) expect(skip.reason).toMatch(/folder marker/);
    expect(await listKeys(client, bucket, 'ho/')).toEqual(['ho/', 'ho/sub/']);
  });
});

describe('an object that fails alone in a recursive run', () => {
  it('mv -r: a destination key that would be too long fails that object only; exit 1 with a failure code, not the usage code of exit 2', async () => {
    // 1,013 bytes here (MinIO takes no segment over 255), 1,031 under the longer destination prefix.
    const long = `lk/${Array.from({ length: 5 }, () => 'n'.repeat(200)).join('/')}/x.csv`;
    await Promise.all([long, 'lk/ok.csv'].map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))));
    const result = await cli(['mv', '-r', `s3://${bucket}/lk/`, `s3://${bucket}/a-longer-destination/`, '--json']);
    expect(result.code).toBe(1);
    const document = lastJson<{ objects: Copied[]; failed: Array<{ key: string; error: string; code: string }>; error: { code: string; message: string } }>(result);
    expect(document.objects.map((object) => object.key)).toEqual(['a-longer-destination/ok.csv']);
    expect(document.failed).toEqual([{ key: long, error: expect.stringMatching(/over the 1024-byte limit/), code: 'failed' }]);
    expect(document.error.code).toBe('failed');
    expect(await listKeys(client, bucket, 'lk/')).toEqual([long]);
  });
});

describe('a destination bucket that does not exist', () => {
  it('cp -r and mv -r fail the whole run with one line naming it, as aws s3 does: --json and the log say that alone; every source kept', async () => {
    const missing = `nosuch-${randomBytes(4).toString('hex')}`;
    await Promise.all(['nb/a.csv', 'nb/b.csv'].map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }))));
    for (const command of ['cp', 'mv']) {
      const log = join(work.path, `no-bucket-${command}.log`);
      const result = await cli([command, '-r', `s3://${bucket}/nb/`, `s3://${missing}/y/`, '--json', '--log-file', log]);
      expectRunFailedAsAWhole(result, log, new RegExp(`^datalake: error: no such bucket '${missing}'`));
      expect(await listKeys(client, bucket, 'nb/')).toEqual(['nb/a.csv', 'nb/b.csv']);
    }
  });
});

describe('cp -r through the fault proxy', () => {
  let proxy: FaultProxy;
  let endpoint: string;
  beforeAll(async () => {
    proxy = new FaultProxy(inject('s3').endpoint!);
    endpoint = await proxy.start();
  });
  afterAll(async () => {
    await proxy.stop();
  });

  it('an object whose copy is refused is recorded, explained, and the others are copied; exit 1', async () => {
    await Promise.all(['cpf/a.csv', 'cpf/b.csv', 'cpf/c.csv'].map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }))));
    proxy.setRules([{ method: 'PUT', match: /\/cpf-dest\/b\.csv/, fault: { kind: 'status', status: 403, code: 'AccessDenied' } }]);
    const result = await cli(['cp', `s3://${bucket}/cpf/`, `s3://${bucket}/cpf-dest/`, '-r', '--json'], { AWS_ENDPOINT_URL: endpoint });
    expect(result.code).toBe(1);
    expect(proxy.faults('status')).toBe(1);
    const explained = `access denied '${bucket}' (check the credentials in use and the bucket policy)`;
    expect(result.stderr).toContain(explained);
    const document = lastJson(result) as { objects: Copied[]; failed: Array<{ key: string; error: string; code: string }> };
    expect(document.failed).toEqual([{ key: 'cpf/b.csv', error: explained, code: 'AccessDenied' }]);
    expect(document.objects.map((object) => object.key).sort()).toEqual(['cpf-dest/a.csv', 'cpf-dest/c.csv']);
    expect(document).toMatchObject({ error: { code: 'AccessDenied', message: `1 failed: cpf/b.csv: ${explained}` } });
    expect(await listKeys(client, bucket, 'cpf-dest/')).toEqual(['cpf-dest/a.csv', 'cpf-dest/c.csv']);
  });

  it('a key with a line break is named escaped on its failure line, as its copied line and rm -r name it', async () => {
    await Promise.all(['cpn/new\nline.csv', 'cpn/plain.csv'].map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }))));
    proxy.setRules([{ method: 'PUT', match: /\/cpn-dest\/new%0Aline\.csv/, fault: { kind: 'status', status: 403, code: 'AccessDenied' } }]);
    const result = await cli(['cp', `s3://${bucket}/cpn/`, `s3://${bucket}/cpn-dest/`, '-r'], { AWS_ENDPOINT_URL: endpoint });
    expect(result.code).toBe(1);
    expect(proxy.faults('status')).toBe(1);
    expect(result.stderr).toContain(`datalake: failed: cpn/new\\nline.csv: access denied '${bucket}'`);
    proxy.setRules([]);
    const copied = await cli(['cp', `s3://${bucket}/cpn/`, `s3://${bucket}/cpn-dest/`, '-r'], { AWS_ENDPOINT_URL: endpoint });
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toContain(`copied s3://${bucket}/cpn/new\\nline.csv → s3://${bucket}/cpn-dest/new\\nline.csv`);
    const removed = await cli(['rm', '-r', `s3://${bucket}/cpn/`]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`deleted s3://${bucket}/cpn/new\\nline.csv`);
  });

  it('a failure every object would meet (the credentials refused) ends the run at once, explained; exit 1', async () => {
    await Promise.all(['cpx/a.csv', 'cpx/b.csv'].map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }))));
    proxy.setRules([{ method: 'PUT', match: /\/cpx-dest\//, fault: { kind: 'status', status: 403, code: 'InvalidAccessKeyId' } }]);
    const result = await cli(['cp', `s3://${bucket}/cpx/`, `s3://${bucket}/cpx-dest/`, '-r', '--json', '--concurrency', '1'], { AWS_ENDPOINT_URL: endpoint });
    expect(result.code).toBe(1);
    expect(proxy.faults('status')).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`the server at ${endpoint} rejected the credentials (InvalidAccessKeyId)`);
    expect(lastJson(result)).toMatchObject({ objects: [], failed: [], error: { code: 'InvalidAccessKeyId' } });
    expect(await listKeys(client, bucket, 'cpx-dest/')).toEqual([]);
  });
});

describe('mv', () => {
  it('two sources that the layout sends to one key: refused before anything moves (exit 2), both sources kept', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'raw/col/year=2024/month=01/day=15/one.csv', Body: 'one\n' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'raw/col/year=2024/month=01/day=16/one.csv', Body: 'two\n' }));
    for (const command of ['mv', 'cp']) {
      const result = await cli([command, `s3://${bucket}/raw/col/`, '-r', '--zone', 'processed', '--dataset', 'col', '--date', '2024-02-01']);
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toMatch(/would both be (moved|copied) to .*processed\/col\/year=2024\/month=02\/day=01\/one\.csv/);
      expect(result.stderr).toContain('or leave out --date so each keeps its own');
      expect(await listKeys(client, bucket, 'raw/col/')).toEqual(['raw/col/year=2024/month=01/day=15/one.csv', 'raw/col/year=2024/month=01/day=16/one.csv']);
      expect(await listKeys(client, bucket, 'processed/col/')).toEqual([]);
    }
  });

  it('copies, proves, then deletes the source', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'move/a.csv', Body: small }));
    const result = await cli(['mv', `s3://${bucket}/move/a.csv`, `s3://${bucket}/moved/a.csv`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ objects: [{ key: 'moved/a.csv', verifiedBy: 'etag', sourceDeleted: true }], failed: [] });
    expect(await listKeys(client, bucket, 'move/')).toEqual([]);
    expect(md5(await body('moved/a.csv'))).toBe(md5(small));
  });

  it('--recursive moves a multipart object and a small one, each proven', async () => {
    await cli(['cp', `s3://${bucket}/src/big.bin`, `s3://${bucket}/mvr/big.bin`]);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'mvr/sub/s.txt', Body: 'small' }));
    const result = await cli(['mv', '-r', `s3://${bucket}/mvr/`, `s3://${bucket}/mvr-done/`]);
    expect(result.code, result.stderr).toBe(0);
    expect(await listKeys(client, bucket, 'mvr/')).toEqual([]);
    expect(await listKeys(client, bucket, 'mvr-done/')).toEqual(['mvr-done/big.bin', 'mvr-done/sub/s.txt']);
    expect(md5(await body('mvr-done/big.bin'))).toBe(md5(big));
  });

  describe('through the fault proxy', () => {
    let proxy: FaultProxy;
    let endpoint: string;
    beforeAll(async () => {
      proxy = new FaultProxy(inject('s3').endpoint!);
      endpoint = await proxy.start();
    });
    afterAll(async () => {
      await proxy.stop();
    });

    it('a copy that fails keeps the source; exit 1', async () => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'mvf/a.csv', Body: small }));
      proxy.setRules([{ method: 'PUT', match: /\/mvf-dest\/a\.csv/, fault: { kind: 'status', status: 500, code: 'InternalError' } }]);
      const result = await cli(['mv', `s3://${bucket}/mvf/a.csv`, `s3://${bucket}/mvf-dest/a.csv`, '--retries', '1', '--json'], { AWS_ENDPOINT_URL: endpoint });
      expect(result.code).toBe(1);
      expect(proxy.faults('status')).toBe(2);
      expect(lastJson(result)).toMatchObject({ objects: [], failed: [{ key: 'mvf/a.csv' }] });
      expect(await listKeys(client, bucket, 'mvf/')).toEqual(['mvf/a.csv']);
      expect(await listKeys(client, bucket, 'mvf-dest/')).toEqual([]);
    });

    it('a source that cannot be deleted after a proven copy: both stay, the line says so, exit 1', async () => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'mvd/a.csv', Body: small }));
      proxy.setRules([{ method: 'DELETE', match: /\/mvd\/a\.csv/, fault: { kind: 'status', status: 403, code: 'AccessDenied' } }]);
      const result = await cli(['mv', `s3://${bucket}/mvd/a.csv`, `s3://${bucket}/mvd-dest/a.csv`, '--json'], { AWS_ENDPOINT_URL: endpoint });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`s3://${bucket}/mvd/a.csv was copied to s3://${bucket}/mvd-dest/a.csv and proven, but could not be deleted: access denied`);
      expect(lastJson(result)).toMatchObject({ objects: [], failed: [{ key: 'mvd/a.csv' }] });
      expect(await listKeys(client, bucket, 'mvd/')).toEqual(['mvd/a.csv']);
      expect(md5(await body('mvd-dest/a.csv'))).toBe(md5(small));
    });

    it('a source delete refused for a reason every source would meet (the credentials) ends the run, explained, naming the source kept beside its copy; exit 1', async () => {
      await Promise.all(['mvx/a.csv', 'mvx/b.csv'].map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }))));
      proxy.setRules([{ method: 'DELETE', match: /\/mvx\//, fault: { kind: 'status', status: 403, code: 'InvalidAccessKeyId' } }]);
      const result = await cli(['mv', `s3://${bucket}/mvx/`, `s3://${bucket}/mvx-dest/`, '-r', '--json', '--concurrency', '1'], { AWS_ENDPOINT_URL: endpoint });
      expect(result.code).toBe(1);
      expect(proxy.faults('status')).toBe(1);
      const rejected = `the server at ${endpoint} rejected the credentials (InvalidAccessKeyId) (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile)`;
      const kept = `s3://${bucket}/mvx/a.csv was copied to s3://${bucket}/mvx-dest/a.csv and proven, but could not be deleted: ${rejected} (both are there now; run the move again or delete the source)`;
      expect(result.stderr.trim().split('\n')).toEqual([`datalake: failed: mvx/a.csv: ${kept}`, `datalake: error: ${rejected}`]);
      expect(lastJson(result)).toMatchObject({ objects: [], failed: [{ key: 'mvx/a.csv', error: kept, code: 'InvalidAccessKeyId' }], error: { code: 'InvalidAccessKeyId' } });
      expect(await listKeys(client, bucket, 'mvx/')).toEqual(['mvx/a.csv', 'mvx/b.csv']);
      expect(await listKeys(client, bucket, 'mvx-dest/')).toEqual(['mvx-dest/a.csv']);
    });

    it('a second Ctrl-C stops at once, and --json still prints its one document: what completed, and the interrupt', async () => {
      await Promise.all(['mvint/a.csv', 'mvint/b.csv', 'mvint/c.csv'].map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }))));
      // One object at a time: a.csv is moved whole, then b.csv's copy is held at the proxy, unanswered.
      proxy.setRules([{ method: 'PUT', match: /\/mvint-dest\/[bc]\.csv/, fault: { kind: 'hold', gate: 'mvint' } }]);
      const child = spawn(process.execPath, [BIN, 'mv', '-r', `s3://${bucket}/mvint/`, `s3://${bucket}/mvint-dest/`, '--json', '--concurrency', '1'], { env: env({ AWS_ENDPOINT_URL: endpoint }), cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      try {
        await waitFor(() => proxy.held('mvint') === 1, "b.csv's copy held at the proxy");
        child.kill('SIGINT');
        await waitFor(() => stderr.includes('SIGINT received'), 'the first signal taken');
        child.kill('SIGINT');
        expect(await exited).toBe(130);
      } finally {
        proxy.release('mvint');
      }
      expect(stderr).toContain('datalake: SIGINT again: stopping now');
      const lines = stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        objects: [{ source: `s3://${bucket}/mvint/a.csv`, key: 'mvint-dest/a.csv', sourceDeleted: true }],
        failed: [],
        error: { code: 'interrupted', message: 'interrupted by SIGINT (run the same command again to resume)' },
      });
    });

    it('the server dying mid-run ends it with one error; a source left beside its proven copy is named, nothing torn down is', async () => {
      const keys = ['mvcrash/a.csv', 'mvcrash/b.csv', 'mvcrash/c.csv', 'mvcrash/d.csv'];
      await Promise.all(keys.map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }))));
      const dying = new FaultProxy(inject('s3').endpoint!);
      const dyingEndpoint = await dying.start();
      // Two objects at a time, one control request at a time: the first source's DELETE is held, with
      // the other object's copy or proofs in flight behind it, when the server goes.
      dying.setRules([{ method: 'DELETE', match: /\/mvcrash\//, fault: { kind: 'hold', gate: 'delete' } }]);
      const child = spawn(process.execPath, [BIN, 'mv', '-r', `s3://${bucket}/mvcrash/`, `s3://${bucket}/mvcrash-dest/`, '--json', '--concurrency', '2'], { env: env({ AWS_ENDPOINT_URL: dyingEndpoint }), cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await waitFor(() => dying.held('delete') === 1, 'a source DELETE held at the proxy');
      const heldKey = decodeURIComponent(dying.log.find((entry) => entry.method === 'DELETE')!.url.replace(/^\/[^/]+\//, '').replace(/\?.*$/, ''));
      await dying.crash();
      expect(await exited).toBe(1);

      const refused = `cannot connect to ${dyingEndpoint}: connection refused`;
      expect(stderr).not.toMatch(/Destroyed|destroyed/);
      const lines = stderr.trim().split('\n');
      expect(lines.at(-1)).toBe(`datalake: error: ${refused} (is the server running? check --endpoint / AWS_ENDPOINT_URL)`);
      // Every other line names a source kept beside its copy: the held one's copy proven; another
      // object's copy, landed while its proof waited behind the held DELETE for the one control
      // request, may be unproven (which of the two its copy had reached when the server went depends
      // on timing), its source kept all the same.
      const destination = (key: string) => `s3://${bucket}/${key.replace('mvcrash/', 'mvcrash-dest/')}`;
      const keptLine = (key: string) => `datalake: failed: ${key}: s3://${bucket}/${key} was copied to ${destination(key)} and proven, but could not be deleted: ${refused}`;
      const unprovenLine = (key: string) => `datalake: failed: ${key}: s3://${bucket}/${key} was copied to ${destination(key)}, but the copy was not proven; the source is kept: ${refused}`;
      expect(lines.slice(0, -1).length).toBeGreaterThanOrEqual(1);
      for (const line of lines.slice(0, -1)) expect(keys.some((key) => line.startsWith(keptLine(key)) || (key !== heldKey && line.startsWith(unprovenLine(key)))), line).toBe(true);
      expect(lines.some((line) => line.startsWith(keptLine(heldKey)))).toBe(true);

      const document = JSON.parse(stdout) as { objects: Copied[]; failed: Array<{ key: string; error: string; code: string }>; error: { code: string } };
      expect(document.error.code).toBe('ECONNREFUSED');
      expect(document.failed.map((entry) => entry.key)).toContain(heldKey);
      for (const entry of document.failed) {
        expect(entry.code).toBe('ECONNREFUSED');
        const reasons = [`and proven, but could not be deleted: ${refused}`, ...(entry.key === heldKey ? [] : [`but the copy was not proven; the source is kept: ${refused}`])];
        expect(reasons.some((reason) => entry.error.includes(reason)), entry.error).toBe(true);
      }
      expect(document.failed.length).toBe(lines.length - 1);
      // Nothing lost: every source not reported moved is still there.
      const moved = document.objects.map((object) => object.source);
      expect(await listKeys(client, bucket, 'mvcrash/')).toEqual(keys.filter((key) => !moved.includes(`s3://${bucket}/${key}`)));
      await dying.stop();
    });

    it.each(['cp', 'mv'])('%s -r: the server dying while a landed copy is being proven names that copy, unproven (and a move\'s source kept), in its line and in failed[]', async (command) => {
      const prefix = `${command}proof`;
      const keys = [`${prefix}/a.csv`, `${prefix}/b.csv`];
      await Promise.all(keys.map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }))));
      const dying = new FaultProxy(inject('s3').endpoint!);
      const dyingEndpoint = await dying.start();
      // One object at a time: a.csv's copy lands, and the HEAD that proves it is held when the server goes.
      dying.setRules([{ method: 'HEAD', match: new RegExp(`/${prefix}-dest/`), fault: { kind: 'hold', gate: 'proof' } }]);
      const child = spawn(process.execPath, [BIN, command, '-r', `s3://${bucket}/${prefix}/`, `s3://${bucket}/${prefix}-dest/`, '--json', '--concurrency', '1'], {
        env: env({ AWS_ENDPOINT_URL: dyingEndpoint }),
        cwd: tmpdir(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await waitFor(() => dying.held('proof') === 1, "a.csv's proof held at the proxy");
      await dying.crash();
      expect(await exited).toBe(1);
      await dying.stop();

      const refused = `cannot connect to ${dyingEndpoint}: connection refused`;
      const state = `s3://${bucket}/${prefix}/a.csv was copied to s3://${bucket}/${prefix}-dest/a.csv, but the copy was not proven${command === 'mv' ? '; the source is kept' : ''}: ${refused}`;
      expect(stderr.trim().split('\n')[0]).toMatch(new RegExp(`^datalake: failed: ${prefix}/a\\.csv: ${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const document = JSON.parse(stdout) as { objects: Copied[]; failed: Array<{ key: string; error: string; code: string }>; error: { code: string } };
      expect(document).toMatchObject({ objects: [], failed: [{ key: `${prefix}/a.csv`, error: expect.stringContaining(state), code: 'ECONNREFUSED' }], error: { code: 'ECONNREFUSED' } });
      expect(await listKeys(client, bucket, `${prefix}/`)).toEqual(keys);
      expect(await listKeys(client, bucket, `${prefix}-dest/`)).toEqual([`${prefix}-dest/a.csv`]);
    });

    it("a copy whose ETag proves but whose stored CRC32 is not the source's does not prove: the source is kept, the copy removed; exit 1", async () => {
      const put = await cli(['put', join(work.path, 'small.csv'), `s3://${bucket}/mvc/a.csv`]);
      expect(put.code, put.stderr).toBe(0);
      proxy.setRules([{ method: 'HEAD', match: /\/mvc-dest\/a\.csv/, fault: { kind: 'set-response-header', name: 'x-amz-checksum-crc32', value: 'AAAAAA==' } }]);
      const result = await cli(['mv', `s3://${bucket}/mvc/a.csv`, `s3://${bucket}/mvc-dest/a.csv`], { AWS_ENDPOINT_URL: endpoint });
      expect(result.code, result.stderr).toBe(1);
      expect(proxy.faults('set-response-header')).toBeGreaterThan(0);
      expect(result.stderr).toMatch(/did not verify: crc32 AAAAAA==, the source's is [A-Za-z0-9+/]{6}==/);
      expect(await listKeys(client, bucket, 'mvc/')).toEqual(['mvc/a.csv']);
      expect(await listKeys(client, bucket, 'mvc-dest/')).toEqual([]);
    });

    it('a copy that does not prove (its ETag read back is not the source\'s) keeps the source and removes the copy; exit 1', async () => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'mvp/a.csv', Body: small }));
      proxy.setRules([{ method: 'HEAD', match: /\/mvp-dest\/a\.csv/, fault: { kind: 'flip-response-header', header: 'etag', index: 2 } }]);
      const result = await cli(['mv', `s3://${bucket}/mvp/a.csv`, `s3://${bucket}/mvp-dest/a.csv`], { AWS_ENDPOINT_URL: endpoint });
      expect(result.code).toBe(1);
      expect(proxy.faults('flip-response-header')).toBeGreaterThan(0);
      expect(result.stderr).toMatch(/did not verify: ETag [0-9a-g`]{32}, expected [0-9a-f]{32}/);
      expect(await listKeys(client, bucket, 'mvp/')).toEqual(['mvp/a.csv']);
      expect(md5(await body('mvp/a.csv'))).toBe(md5(small));
      expect(await listKeys(client, bucket, 'mvp-dest/')).toEqual([]);
    });
  });
});
