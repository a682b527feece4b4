/**
 * `put --no-clobber` against a writer that comes between its look and its write: the write itself is
 * conditional (`If-None-Match: *` on the PUT and on CompleteMultipartUpload), so the other writer's
 * object stays, and the file is reported skipped as existing, not failed. The write is held at a
 * proxy while the other writer puts its object, so the order is exact.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { runCli, s3Env, tempDirectory, waitFor, writeRandomFile } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';

const work = tempDirectory('no-clobber-race');
const { conditionalWrites, conditionalCopies, partSizes } = inject('s3').capabilities;
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  let endpoint: string;
  ({ client, bucket, proxy, endpoint } = await openProxiedBucket('noclobber'));
  env = s3Env({ AWS_ENDPOINT_URL: endpoint });
});
afterAll(async () => {
  await closeProxiedBucket({ client, bucket, proxy });
  work.remove();
});

async function bodyOf(key: string): Promise<string> {
  const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return answer.Body!.transformToString();
}

/** Runs `put --no-clobber` with its write held at the proxy, lets another writer put `key`, then lets the write go. */
async function putAgainstAnotherWriter(file: string, key: string, write: { method: string; match: RegExp }, extra: string[] = []) {
  proxy.setRules([{ ...write, fault: { kind: 'hold', gate: 'write' } }]);
  const run = runCli(['put', file, `s3://${bucket}/${key}`, '--no-clobber', '--json', ...extra], { env });
  await waitFor(() => proxy.held('write') === 1, 'the write to reach the proxy');
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'the other writer got here first' }));
  proxy.release('write');
  const result = await run;
  proxy.setRules([]);
  return result;
}

describe('put --no-clobber when another writer comes between the look and the write', () => {
  it('a single PUT: the other object stays, and the file is skipped as existing', async () => {
    const file = join(work.path, 'small.csv');
    writeFileSync(file, 'our bytes');
    const result = await putAgainstAnotherWriter(file, 'race/small.csv', { method: 'PUT', match: /race\/small\.csv/ });
    if (!conditionalWrites) {
      // A server that ignores If-None-Match takes the write: what --no-clobber cannot prevent there.
      expect(await bodyOf('race/small.csv')).toBe('our bytes');
      return;
    }
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ objects: [], skipped: [{ key: 'race/small.csv', reason: 'exists' }], failed: [] });
    expect(await bodyOf('race/small.csv')).toBe('the other writer got here first');
  });

  it('a multipart upload: the other object stays, the upload is aborted (no parts left to pay for), and the file is skipped', async () => {
    const file = join(work.path, 'large.bin');
    writeRandomFile(file, 6 * 1024 * 1024);
    const result = await putAgainstAnotherWriter(file, 'race/large.bin', { method: 'POST', match: /race\/large\.bin\?uploadId=/ }, ['--part-size', '5MiB']);
    if (!conditionalWrites) {
      expect((await bodyOf('race/large.bin')).length).toBeGreaterThan(1024);
      return;
    }
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ objects: [], skipped: [{ key: 'race/large.bin', reason: 'exists' }], failed: [] });
    expect(result.stderr).not.toMatch(/resume/);
    expect(await bodyOf('race/large.bin')).toBe('the other writer got here first');
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'race/large.bin' }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });

  it('with nothing in the way, the conditional write is an ordinary upload', async () => {
    const file = join(work.path, 'free.csv');
    writeFileSync(file, 'free');
    const result = await runCli(['put', file, `s3://${bucket}/race/free.csv`, '--no-clobber', '--json'], { env });
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as { objects: unknown[]; skipped?: unknown[] };
    expect(json).toMatchObject({ objects: [{ key: 'race/free.csv' }] });
    expect(json.skipped ?? []).toEqual([]);
    expect(await bodyOf('race/free.csv')).toBe('free');
  });
});

/**
 * `get --no-clobber` against a file that appears at the target while the object is on its way: the
 * download is put in place only if nothing is there (a hard link, which never replaces), so the file
 * stays and the object is reported skipped. The GET is held at the proxy while the file is written.
 */
describe('get --no-clobber when a file appears at the target during the download', () => {
  async function getAgainstALocalWriter(key: string, size: number, args: (folder: string) => string[], target: (folder: string) => string) {
    const body = Buffer.alloc(size, 7);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const folder = join(work.path, `get-${key.replace(/\W/g, '-')}`);
    mkdirSync(folder);
    proxy.setRules([{ method: 'GET', match: new RegExp(key.replace(/[.]/g, '\\.')), fault: { kind: 'hold', gate: 'read' } }]);
    const run = runCli([...args(folder), '--no-clobber', '--json'], { env });
    await waitFor(() => proxy.held('read') >= 1, 'the GET to reach the proxy');
    writeFileSync(target(folder), 'the user wrote this meanwhile');
    proxy.setRules([]);
    proxy.release('read');
    const result = await run;
    return { result, folder };
  }

  it.each([
    ['one small object (received into memory)', 'dl/small.csv', 1000, ['-r']],
    ['one small object by its key', 'dl/one.csv', 1000, []],
    ['an object in ranges', 'dl/ranged.bin', 12 * 1024 * 1024, ['--part-size', '5MiB']],
  ])('%s: the file stays, the object is skipped as existing, nothing of the download is left', async (_name, key, size, extra) => {
    const name = key.split('/').pop()!;
    const recursive = extra.includes('-r');
    const { result, folder } = await getAgainstALocalWriter(
      key,
      size,
      (dir) => (recursive ? ['get', '-r', `s3://${bucket}/${key}`.replace(name, ''), dir] : ['get', `s3://${bucket}/${key}`, join(dir, name), ...extra]),
      (dir) => join(dir, name),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ objects: [], skipped: [{ key, reason: 'exists' }], failed: [] });
    expect(readFileSync(join(folder, name), 'utf8')).toBe('the user wrote this meanwhile');
    expect(readdirSync(folder)).toEqual([name]);
  });
});

/**
 * `cp --no-clobber` against a writer that comes between its look and its copy: the copy is conditional
 * (`If-None-Match: *` on CopyObject and on the CompleteMultipartUpload of a copy in parts), so where the
 * server honours the condition the other writer's object stays and the copy is skipped as existing.
 * MinIO honours it on the completion, not on CopyObject: there a single-part copy wins (the README says so).
 */
describe('cp --no-clobber when another writer comes between the look and the copy', () => {
  async function copyAgainstAnotherWriter(source: string, key: string, write: { method: string; match: RegExp }) {
    proxy.setRules([{ ...write, fault: { kind: 'hold', gate: 'copy' } }]);
    const run = runCli(['cp', `s3://${bucket}/${source}`, `s3://${bucket}/${key}`, '--no-clobber', '--json'], { env });
    let ended: string | undefined;
    void run.then((result) => (ended = `cp ended before its copy was held: ${result.code} ${result.stderr}${result.stdout}`));
    await waitFor(() => proxy.held('copy') === 1 || ended !== undefined, 'the copy to reach the proxy');
    expect(ended).toBeUndefined();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'the other writer got here first' }));
    proxy.setRules([]);
    proxy.release('copy');
    return run;
  }

  it('one CopyObject: the other object stays where the server honours the condition, and the copy is skipped', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'cprace/source.csv', Body: 'the source' }));
    const result = await copyAgainstAnotherWriter('cprace/source.csv', 'cprace/one.csv', { method: 'PUT', match: /cprace\/one\.csv/ });
    if (!(conditionalWrites && conditionalCopies)) {
      // MinIO takes the copy over the other writer's object: what --no-clobber cannot prevent there.
      expect(result.code).toBe(0);
      expect(await bodyOf('cprace/one.csv')).toBe('the source');
      return;
    }
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ objects: [], skipped: [{ key: 'cprace/one.csv' }], failed: [] });
    expect(await bodyOf('cprace/one.csv')).toBe('the other writer got here first');
  });

  it('a copy in parts: the other object stays, the upload is aborted, and the copy is skipped', async () => {
    const file = join(work.path, 'cp-large.bin');
    writeRandomFile(file, 11 * 1024 * 1024);
    const put = await runCli(['put', file, `s3://${bucket}/cprace/large.bin`, '--part-size', '5MiB'], { env });
    expect(put.code).toBe(0);
    if (!partSizes) {
      // moto: a multipart object is not copied at all where the server tells no part sizes.
      const refused = await runCli(['cp', `s3://${bucket}/cprace/large.bin`, `s3://${bucket}/cprace/large-copy.bin`, '--no-clobber'], { env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/does not tell the sizes of the parts/);
      return;
    }
    const result = await copyAgainstAnotherWriter('cprace/large.bin', 'cprace/large-copy.bin', { method: 'POST', match: /cprace\/large-copy\.bin\?uploadId=/ });
    if (!conditionalWrites) {
      expect((await bodyOf('cprace/large-copy.bin')).length).toBeGreaterThan(1024);
      return;
    }
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ objects: [], skipped: [{ key: 'cprace/large-copy.bin' }], failed: [] });
    expect(await bodyOf('cprace/large-copy.bin')).toBe('the other writer got here first');
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'cprace/large-copy.bin' }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});
