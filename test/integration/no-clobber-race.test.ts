/**
 * `put --no-clobber` against a writer that comes between its look and its write: the write itself is
 * conditional (`If-None-Match: *` on the PUT and on CompleteMultipartUpload), so the other writer's
 * object stays, and the file is reported skipped as existing, not failed. The write is held at a
 * proxy while the other writer puts its object, so the order is exact.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { runCli, s3Env, tempDirectory, waitFor, writeRandomFile } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';

const work = tempDirectory('no-clobber-race');
const { conditionalWrites } = inject('s3').capabilities;
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
