import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestBucket, curl, emptyAndDeleteBucket, lastJson, runCli, tempDirectory, testClient, writeRandomFile } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
let client: S3Client;
let bucket: string;
const work = tempDirectory('presign');
let small: Buffer;
let big: Buffer;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'presign');
  small = writeRandomFile(join(work.path, 'small.bin'), 70_000);
  big = writeRandomFile(join(work.path, 'big.bin'), 21 * MiB);
  expect((await runCli(['put', join(work.path, 'small.bin'), `s3://${bucket}/share/small.bin`])).code).toBe(0);
  expect((await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/share/big.bin`])).code).toBe(0);
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

interface Presigned {
  url: string;
  method: string;
  expiresAt: string;
  fields?: Record<string, string>;
}

async function presign(args: string[]): Promise<Presigned> {
  const result = await runCli(['presign', ...args, '--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return lastJson<Presigned>(result);
}

describe('presign GET', () => {
  it('gives a URL that curl fetches byte-identical, with a SPEC-shaped JSON document', async () => {
    const signed = await presign([`s3://${bucket}/share/big.bin`, '--expires', '15m']);
    expect(signed.method).toBe('GET');
    expect(Date.parse(signed.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    const fetched = curl([signed.url]);
    expect(fetched.status).toBe(200);
    expect(md5(fetched.body)).toBe(md5(big));
  });

  // A server that checks no signatures (moto) serves any URL: what datalake signs is then unchecked there.
  const refusedUnlessUnchecked = () => (inject('s3').capabilities.checksSignatures ? 403 : 200);

  it('the same URL with a changed signature answers 403', async () => {
    const signed = await presign([`s3://${bucket}/share/small.bin`]);
    const tampered = signed.url.replace(/X-Amz-Signature=([0-9a-f])/, (_, first: string) => `X-Amz-Signature=${first === '0' ? '1' : '0'}`);
    expect(tampered).not.toBe(signed.url);
    expect(curl([tampered]).status).toBe(refusedUnlessUnchecked());
    expect(curl([signed.url]).status).toBe(200);
  });

  it('an expired URL answers 403', async () => {
    const signed = await presign([`s3://${bucket}/share/small.bin`, '--expires', '1']);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(curl([signed.url]).status).toBe(refusedUnlessUnchecked());
  });

  it('checks the object exists first, unless --no-check', async () => {
    const missing = await runCli(['presign', `s3://${bucket}/share/nope.bin`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(/no such object/);
    const unchecked = await presign([`s3://${bucket}/share/nope.bin`, '--no-check']);
    expect(curl([unchecked.url]).status).toBe(404);
  });

  it.each([['8d'], ['0'], ['-5m'], ['soon'], ['604801']])('--expires %s exits 2 with one line', async (expires) => {
    const result = await runCli(['presign', `s3://${bucket}/share/small.bin`, '--expires', expires]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stdout).toBe('');
  });

  it('accepts exactly 7 days', async () => {
    const signed = await presign([`s3://${bucket}/share/small.bin`, '--expires', '7d']);
    expect(new URL(signed.url).searchParams.get('X-Amz-Expires')).toBe('604800');
  });
});

describe('presign PUT and POST', () => {
  it('a presigned PUT accepts a curl -T upload that then verifies, and refuses the wrong content type', async () => {
    const path = join(work.path, 'upload.csv');
    const data = randomBytes(50_000);
    writeFileSync(path, data);
    const result = await runCli(['presign', `s3://${bucket}/incoming/upload.csv`, '--method', 'PUT', '--content-type', 'text/csv']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^# curl -fS -X PUT -T FILE -H 'Content-Type: text\/csv' 'http/m);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    const url = result.stdout.trimEnd();
    // The content type is a signed header: another one breaks the signature.
    expect(curl(['-X', 'PUT', '-T', path, '-H', 'Content-Type: application/json', url]).status).toBe(inject('s3').capabilities.checksSignatures ? 403 : 200);
    expect(curl(['-X', 'PUT', '-T', path, '-H', 'Content-Type: text/csv', url]).status).toBe(200);
    const verify = await runCli(['verify', `s3://${bucket}/incoming/upload.csv`, '--local', path]);
    expect(verify.code).toBe(0);
    expect((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'incoming/upload.csv' }))).ContentType).toBe('text/csv');
  });

  it('a presigned POST accepts a small file under the prefix and refuses one over --max-size', async () => {
    const signed = await presign(['--method', 'POST', '--key-prefix', `s3://${bucket}/dropbox/`, '--max-size', '1KiB', '--content-type', 'text/plain']);
    expect(signed.fields).toMatchObject({ key: 'dropbox/${filename}', 'Content-Type': 'text/plain' });
    const form = Object.entries(signed.fields!).flatMap(([name, value]) => ['-F', `${name}=${value}`]);
    const okFile = join(work.path, 'note.txt');
    writeFileSync(okFile, 'a small note');
    expect(curl([...form, '-F', `file=@${okFile}`, signed.url]).status).toBe(204);
    expect((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dropbox/note.txt' }))).ContentLength).toBe(12);

    const tooBig = join(work.path, 'large.txt');
    writeFileSync(tooBig, 'x'.repeat(2048));
    const refused = curl([...form, '-F', `file=@${tooBig}`, signed.url]);
    if (inject('s3').capabilities.postPolicyConditions) {
      expect(refused.status).toBe(400);
      expect(refused.body.toString()).toMatch(/EntityTooLarge/);
    } else {
      // The server does not enforce the policy's conditions: the size limit datalake signed is not applied there.
      expect(refused.status).toBe(204);
    }
  });
});

describe('verify', () => {
  interface VerifyJson {
    ok: boolean;
    checked: number;
    mismatched: Array<{ key: string; reason: string }>;
    missing: string[];
    extra: string[];
  }

  it('passes on intact objects, single-part and multipart, against local files and on their own', async () => {
    for (const name of ['small.bin', 'big.bin']) {
      const local = await runCli(['verify', `s3://${bucket}/share/${name}`, '--local', join(work.path, name), '--json']);
      expect(local.code).toBe(0);
      expect(lastJson<VerifyJson>(local)).toMatchObject({ ok: true, checked: 1 });
      const remote = await runCli(['verify', `s3://${bucket}/share/${name}`, '--json']);
      expect(remote.code).toBe(0);
      expect(lastJson<VerifyJson>(remote).ok).toBe(true);
    }
  });

  it('exits 1 after a one-byte change, naming the object', async () => {
    const changed = Buffer.from(big);
    changed[12 * MiB] = changed[12 * MiB]! ^ 1;
    writeFileSync(join(work.path, 'big-changed.bin'), changed);
    const result = await runCli(['verify', `s3://${bucket}/share/big.bin`, '--local', join(work.path, 'big-changed.bin'), '--json']);
    expect(result.code).toBe(1);
    expect(lastJson<VerifyJson>(result)).toMatchObject({ ok: false, mismatched: [{ key: 'share/big.bin' }] });
    expect(result.stderr).toMatch(/share\/big\.bin: content differs/);
  });

  it('catches an object whose bytes do not match the MD5 stored at upload', async () => {
    // Another writer replaced the bytes but kept the old metadata: only a download can tell.
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'share/small.bin' }));
    const forged = Buffer.from(small);
    forged[100] = forged[100]! ^ 0xff;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'share/forged.bin', Body: forged, Metadata: head.Metadata }));
    const result = await runCli(['verify', `s3://${bucket}/share/forged.bin`, '--json']);
    expect(result.code).toBe(1);
    expect(lastJson<VerifyJson>(result).mismatched[0]?.reason).toMatch(/did not verify/);
  });

  it('checks a prefix against a directory, reporting missing and extra files', async () => {
    const dir = join(work.path, 'tree');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeRandomFile(join(dir, 'one.bin'), 1000);
    writeRandomFile(join(dir, 'sub', 'two.bin'), 9 * MiB);
    expect((await runCli(['sync', dir, `s3://${bucket}/tree/`], { env: { ...process.env, ...(await import('../support/harness.js')).s3Env({ DATALAKE_CACHE_DIR: join(work.path, 'c'), DATALAKE_STATE_DIR: join(work.path, 's') }) } })).code).toBe(0);
    const intact = await runCli(['verify', `s3://${bucket}/tree/`, '--local', dir, '--json']);
    expect(lastJson<VerifyJson>(intact)).toMatchObject({ ok: true, checked: 2 });

    writeRandomFile(join(dir, 'extra.bin'), 10);
    const data = readFileSync(join(dir, 'one.bin'));
    data[0] = data[0]! ^ 1;
    writeFileSync(join(dir, 'one.bin'), data);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tree/only-remote.bin', Body: 'r' }));
    const result = await runCli(['verify', `s3://${bucket}/tree/`, '--local', dir, '--json']);
    expect(result.code).toBe(1);
    const report = lastJson<VerifyJson>(result);
    expect(report.ok).toBe(false);
    expect(report.mismatched.map((m) => m.key)).toEqual(['tree/one.bin']);
    expect(report.missing).toEqual(['tree/only-remote.bin']);
    expect(report.extra).toEqual([join(dir, 'extra.bin')]);
  });
});

describe('uploads ls | abort', () => {
  it('lists an incomplete multipart upload, keeps it when newer than --older-than, and aborts it', async () => {
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'stale/half.bin' }));
    await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'stale/half.bin', UploadId: created.UploadId, PartNumber: 1, Body: Buffer.alloc(5 * MiB) }));

    const listed = await runCli(['uploads', 'ls', `s3://${bucket}/stale/`, '--json']);
    expect(listed.code).toBe(0);
    expect(lastJson<{ uploads: Array<{ key: string; uploadId: string; initiated: string }> }>(listed).uploads).toEqual([
      { key: 'stale/half.bin', uploadId: created.UploadId, initiated: expect.any(String) },
    ]);

    const kept = await runCli(['uploads', 'abort', `s3://${bucket}/stale/`, '--older-than', '1h', '--json']);
    if (inject('s3').capabilities.uploadInitiatedDates) {
      expect(lastJson<{ aborted: unknown[]; kept: number }>(kept)).toMatchObject({ aborted: [], kept: 1 });
      const aborted = await runCli(['uploads', 'abort', `s3://${bucket}/stale/`, '--json']);
      expect(aborted.code).toBe(0);
      expect(lastJson<{ aborted: Array<{ key: string }> }>(aborted).aborted.map((u) => u.key)).toEqual(['stale/half.bin']);
    } else {
      // The server dates every upload far in the past (moto: 2010): --older-than takes it at its word.
      expect(kept.code).toBe(0);
      expect(lastJson<{ aborted: Array<{ key: string }>; kept: number }>(kept)).toMatchObject({ aborted: [{ key: 'stale/half.bin' }], kept: 0 });
    }
    expect(lastJson<{ uploads: unknown[] }>(await runCli(['uploads', 'ls', `s3://${bucket}/`, '--json'])).uploads).toEqual([]);
  });

  it('names an upload whose key holds ESC exactly, and aborts it (the listing is asked URL-encoded)', async () => {
    const key = 'esc-up/half\u001b[2J.bin';
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const listed = await runCli(['uploads', 'ls', `s3://${bucket}/esc-up/`, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(lastJson<{ uploads: Array<{ key: string; uploadId: string }> }>(listed).uploads).toEqual([{ key, uploadId: created.UploadId, initiated: expect.any(String) }]);
    const aborted = await runCli(['uploads', 'abort', `s3://${bucket}/esc-up/`, '--json']);
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(lastJson<{ aborted: Array<{ key: string }> }>(aborted).aborted.map((upload) => upload.key)).toEqual([key]);
    expect(lastJson<{ uploads: unknown[] }>(await runCli(['uploads', 'ls', `s3://${bucket}/esc-up/`, '--json'])).uploads).toEqual([]);
  });
});
