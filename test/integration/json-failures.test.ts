import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

/** SPEC: every failing --json run prints one document with an `error` object (code, message). */
let client: S3Client;
let bucket: string;
const work = tempDirectory('jsonfail');

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'jsonfail');
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'here.csv', Body: 'a\n' }));
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

function documentOf(stdout: string): { error?: { code: string; message: string } } {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as { error?: { code: string; message: string } };
}

describe('--json failures carry an error object, with one code per cause', () => {
  const out = () => join(work.path, 'out.csv');
  const cases: Array<[string, () => string[], string, Record<string, string>?]> = [
    ['get of a missing key', () => ['get', `s3://${bucket}/nokey`, out()], 'NoSuchKey'],
    ['cp of a missing key', () => ['cp', `s3://${bucket}/nokey`, `s3://${bucket}/x`], 'NoSuchKey'],
    ['mv of a missing key', () => ['mv', `s3://${bucket}/nokey`, `s3://${bucket}/x`], 'NoSuchKey'],
    ['get from a missing bucket', () => ['get', 's3://dl-no-such-bucket-jf/a', out()], 'NoSuchBucket'],
    ['cp from a missing bucket', () => ['cp', 's3://dl-no-such-bucket-jf/a', `s3://${bucket}/x`], 'NoSuchBucket'],
    ['get with a wrong secret', () => ['get', `s3://${bucket}/here.csv`, out()], 'AccessDenied', { AWS_SECRET_ACCESS_KEY: 'wrong-secret' }],
    ['cp with a wrong secret', () => ['cp', `s3://${bucket}/here.csv`, `s3://${bucket}/y`], 'AccessDenied', { AWS_SECRET_ACCESS_KEY: 'wrong-secret' }],
  ];
  it.each(cases)('%s', async (_label, args, code, env) => {
    const result = await runCli([...args(), '--json'], { env: s3Env(env ?? {}) });
    expect(result.code).toBe(1);
    const document = documentOf(result.stdout);
    expect(document.error?.code).toBe(code);
    expect(document.error?.message).toBeTruthy();
  });
});
