/**
 * Objects whose multipart parts are of different sizes, as boto3, rclone or a hand-made upload leave
 * them (S3 asks only that every part but the last be at least 5 MiB). Their ETag is the MD5 of the
 * part MD5s, so comparing a local file with one needs each part's real size, not the first part's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, lastJson, motoClient, motoEnv, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('uneven');
const anHourAgo = () => new Date(Date.now() - 3600_000);

interface SyncJson {
  transferred: number;
  skipped: number;
  failed: number;
}

/** Uploads `data` in parts of the given sizes with the SDK itself, as another tool would. */
async function uploadInParts(client: S3Client, bucket: string, key: string, data: Buffer, sizes: number[]): Promise<string> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts: Array<{ PartNumber: number; ETag: string }> = [];
  let offset = 0;
  for (const [index, size] of sizes.entries()) {
    const { ETag } = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: data.subarray(offset, offset + size) }));
    parts.push({ PartNumber: index + 1, ETag: ETag! });
    offset += size;
  }
  expect(offset).toBe(data.length);
  const done = await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  return done.ETag!.replace(/"/g, '');
}

/** The files under a directory, datalake's temporary ones included. */
const namesIn = (directory: string) => readdirSync(directory).sort();

describe('an object in parts of 5, 7, 5 and 3 MiB (MinIO)', () => {
  const sizes = [5 * MiB, 7 * MiB, 5 * MiB, 3 * MiB];
  const data = randomBytes(20 * MiB);
  let client: S3Client;
  let bucket: string;
  let proxy: FaultProxy;
  let proxied: string;
  const state = join(work.path, 'state');
  const env = (extra: Record<string, string> = {}) => s3Env({ DATALAKE_CACHE_DIR: join(state, 'cache'), DATALAKE_STATE_DIR: join(state, 'state'), ...extra });
  const same = join(work.path, 'same.bin');
  const changed = join(work.path, 'changed.bin');

  const versionsOf = async (key: string) => (await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))).Versions?.length ?? 0;
  const sync = async (args: string[], extra: Record<string, string> = {}) => {
    const result = await runCli(['sync', ...args, '--json'], { env: env(extra) });
    expect(result.stderr).not.toMatch(/\n\s+at /);
    return { code: result.code, json: lastJson<SyncJson>(result) };
  };

  beforeAll(async () => {
    client = testClient();
    bucket = await createTestBucket(client, 'uneven');
    await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const etag = await uploadInParts(client, bucket, 'up/x.bin', data, sizes);
    expect(etag).toMatch(/-4$/);
    await uploadInParts(client, bucket, 'down/x.bin', data, sizes);
    writeFileSync(same, data);
    const flipped = Buffer.from(data);
    flipped[13 * MiB] = flipped[13 * MiB]! ^ 0x20;
    writeFileSync(changed, flipped);
    proxy = new FaultProxy(inject('s3').endpoint!);
    proxied = await proxy.start();
  });
  afterAll(async () => {
    await proxy.stop();
    // Every version, then the bucket: it is versioned.
    const { Versions = [], DeleteMarkers = [] } = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const objects = [...Versions, ...DeleteMarkers].map(({ Key, VersionId }) => ({ Key, VersionId }));
    if (objects.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects } }));
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
  });

  it('verify --local says identical, and finds one changed byte', async () => {
    const ok = await runCli(['verify', `s3://${bucket}/up/x.bin`, '--local', same, '--json'], { env: env() });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(lastJson(ok)).toMatchObject({ ok: true, checked: 1, mismatched: [] });

    const bad = await runCli(['verify', `s3://${bucket}/up/x.bin`, '--local', changed, '--json'], { env: env() });
    expect(bad.code).toBe(1);
    expect(lastJson(bad)).toMatchObject({ ok: false, mismatched: [{ key: 'up/x.bin' }] });
  });

  it('verify --local reads the part sizes by HEAD partNumber=N where GetObjectAttributes is not implemented', async () => {
    proxy.setRules([{ method: 'GET', match: /[?&]attributes/, fault: { kind: 'status', status: 501, code: 'NotImplemented' } }]);
    const viaProxy = { AWS_ENDPOINT_URL: proxied };
    const ok = await runCli(['verify', `s3://${bucket}/up/x.bin`, '--local', same, '--json'], { env: env(viaProxy) });
    expect(ok.code).toBe(0);
    expect(lastJson(ok)).toMatchObject({ ok: true });
    const partHeads = proxy.log.filter((entry) => entry.method === 'HEAD' && /partNumber=/.test(entry.url)).map((entry) => /partNumber=(\d+)/.exec(entry.url)![1]);
    expect(new Set(partHeads)).toEqual(new Set(['1', '2', '3', '4']));

    const bad = await runCli(['verify', `s3://${bucket}/up/x.bin`, '--local', changed, '--json'], { env: env(viaProxy) });
    expect(bad.code).toBe(1);
  });

  it('a part size damaged on the way is asked again; a server that never adds up is "could not be proven", not "differs"', async () => {
    const attributes = { method: 'GET', match: /[?&]attributes/, fault: { kind: 'status' as const, status: 501, code: 'NotImplemented' } };
    const damagedPart2 = (times?: number) => ({ method: 'HEAD', match: /partNumber=2(&|$)/, ...(times ? { times } : {}), fault: { kind: 'set-response-header' as const, name: 'content-length', value: String(7 * MiB + 1) } });
    const viaProxy = { AWS_ENDPOINT_URL: proxied };
    proxy.setRules([attributes, damagedPart2(1)]);
    const once = await runCli(['verify', `s3://${bucket}/up/x.bin`, '--local', same, '--json'], { env: env(viaProxy) });
    expect(proxy.faults('set-response-header')).toBe(1);
    expect(once.code).toBe(0);
    proxy.setRules([attributes, damagedPart2()]);
    const always = await runCli(['verify', `s3://${bucket}/up/x.bin`, '--local', same, '--json'], { env: env(viaProxy) });
    expect(always.code).toBe(1);
    expect(lastJson<{ mismatched: unknown[]; unverifiable: Array<{ reason: string }> }>(always)).toMatchObject({ mismatched: [], unverifiable: [{ reason: expect.stringMatching(/could not be proven the same/) }] });
  });

  it('sync up of an identical file transfers nothing, twice, and makes no new version; a changed byte is uploaded', async () => {
    const local = join(work.path, 'tree-up');
    mkdirSync(local, { recursive: true });
    copyFileSync(same, join(local, 'x.bin'));
    utimesSync(join(local, 'x.bin'), anHourAgo(), anHourAgo());
    for (let run = 1; run <= 2; run += 1) {
      const { code, json } = await sync([local, `s3://${bucket}/up/`]);
      expect(code).toBe(0);
      expect(json).toMatchObject({ transferred: 0, skipped: 1, failed: 0 });
    }
    expect(await versionsOf('up/x.bin')).toBe(1);

    copyFileSync(changed, join(local, 'x.bin'));
    const { code, json } = await sync([local, `s3://${bucket}/up/`]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ transferred: 1, failed: 0 });
    expect(await versionsOf('up/x.bin')).toBe(2);
  });

  it('sync down next to an identical file transfers nothing, twice; a changed byte is downloaded', async () => {
    const local = join(work.path, 'tree-down');
    mkdirSync(local, { recursive: true });
    copyFileSync(same, join(local, 'x.bin'));
    utimesSync(join(local, 'x.bin'), anHourAgo(), anHourAgo());
    for (let run = 1; run <= 2; run += 1) {
      const { code, json } = await sync([`s3://${bucket}/down/`, local]);
      expect(code).toBe(0);
      expect(json).toMatchObject({ transferred: 0, skipped: 1, failed: 0 });
    }
    expect(namesIn(local)).toEqual(['x.bin']);

    copyFileSync(changed, join(local, 'x.bin'));
    const { code, json } = await sync([`s3://${bucket}/down/`, local]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ transferred: 1, failed: 0 });
    expect(md5(readFileSync(join(local, 'x.bin')))).toBe(md5(data));
    expect(namesIn(local)).toEqual(['x.bin']);
  });

  it('a part answered with another part\'s Content-Range is not written there: the object comes by ranges along its parts', async () => {
    for (const lie of [`bytes 0-${7 * MiB - 1}/${20 * MiB}`, `bytes 1-${7 * MiB}/${20 * MiB}`]) {
      proxy.setRules([{ method: 'GET', match: /partNumber=2(&|$)/, fault: { kind: 'set-response-header', name: 'content-range', value: lie } }]);
      const directory = join(work.path, 'lied-to');
      const result = await runCli(['get', `s3://${bucket}/down/x.bin`, join(directory, 'x.bin'), '--json'], { env: env({ AWS_ENDPOINT_URL: proxied }) });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(proxy.faults('set-response-header')).toBeGreaterThan(0);
      expect(lastJson(result)).toMatchObject({ objects: [{ verifiedBy: 'multipart-etag', md5: md5(data) }] });
      expect(md5(readFileSync(join(directory, 'x.bin')))).toBe(md5(data));
      expect(namesIn(directory)).toEqual(['x.bin']);
    }
  });

  it('a download proves the object by its real parts', async () => {
    const target = join(work.path, 'got', 'x.bin');
    const result = await runCli(['get', `s3://${bucket}/down/x.bin`, target, '--json'], { env: env() });
    expect(result.code).toBe(0);
    expect(lastJson(result)).toMatchObject({ objects: [{ verifiedBy: 'multipart-etag', md5: md5(data) }] });
    expect(md5(readFileSync(target))).toBe(md5(data));
  });
});

describe('a server that answers GET ?partNumber=N with the whole object (moto)', () => {
  const data = randomBytes(18 * MiB);
  const small = randomBytes(2000);
  const bucket = `parts-ignored-${randomBytes(3).toString('hex')}`;
  let moto: S3Client;
  const env = () => motoEnv({ DATALAKE_CACHE_DIR: join(work.path, 'moto-cache'), DATALAKE_STATE_DIR: join(work.path, 'moto-state') });

  beforeAll(async () => {
    moto = motoClient();
    await moto.send(new CreateBucketCommand({ Bucket: bucket }));
    await uploadInParts(moto, bucket, 'p/x.bin', data, [5 * MiB, 8 * MiB, 5 * MiB]);
    await moto.send(new PutObjectCommand({ Bucket: bucket, Key: 'p/small.txt', Body: small }));
  });
  afterAll(() => moto.destroy());

  it('get falls back to ranged GETs: the file is whole and identical, nothing else is left', async () => {
    const directory = join(work.path, 'moto-get');
    const result = await runCli(['get', `s3://${bucket}/p/x.bin`, join(directory, 'x.bin'), '--json'], { env: env() });
    expect(result.stderr).not.toMatch(/\n\s+at |Unhandled|'error' event/);
    expect(result.code).toBe(0);
    expect(md5(readFileSync(join(directory, 'x.bin')))).toBe(md5(data));
    expect(namesIn(directory)).toEqual(['x.bin']);
  });

  it('get to standard output falls back the same way', async () => {
    const result = await runCli(['get', `s3://${bucket}/p/x.bin`, '-'], { env: env() });
    expect(result.stderr).not.toMatch(/\n\s+at |Unhandled|'error' event/);
    expect(result.code).toBe(0);
    expect(md5(result.stdoutBytes)).toBe(md5(data));
  });

  it('sync down gets every object, and again: nothing partial, nothing left behind', async () => {
    const directory = join(work.path, 'moto-sync');
    const first = await runCli(['sync', `s3://${bucket}/p/`, directory, '--json'], { env: env() });
    expect(first.stderr).not.toMatch(/\n\s+at |Unhandled|'error' event/);
    expect(first.code).toBe(0);
    expect(lastJson(first)).toMatchObject({ transferred: 2, failed: 0 });
    expect(namesIn(directory)).toEqual(['small.txt', 'x.bin']);
    expect(md5(readFileSync(join(directory, 'x.bin')))).toBe(md5(data));
    for (const name of namesIn(directory)) utimesSync(join(directory, name), anHourAgo(), anHourAgo());
    // This server tells no part sizes (HEAD partNumber=N answers with the whole object, and
    // GetObjectAttributes lists no parts): the local file cannot be proven to hold the object's
    // bytes, so it is fetched again. The small one is proven by its plain MD5 ETag.
    const second = await runCli(['sync', `s3://${bucket}/p/`, directory, '--json'], { env: env() });
    expect(second.code).toBe(0);
    expect(lastJson(second)).toMatchObject({ transferred: 1, skipped: 1, failed: 0 });
    expect(namesIn(directory)).toEqual(['small.txt', 'x.bin']);
    expect(md5(readFileSync(join(directory, 'x.bin')))).toBe(md5(data));
  });
});
