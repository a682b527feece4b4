import { mkdirSync, writeFileSync } from 'node:fs';
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

interface FailedDocument {
  error?: { code: string; message: string };
  [field: string]: unknown;
}

function documentOf(stdout: string): FailedDocument {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as FailedDocument;
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

describe('--json runs that fail by what they found, not by a thrown error, still carry an error object', () => {
  const local = () => join(work.path, 'verify-local');
  beforeAll(async () => {
    mkdirSync(local(), { recursive: true });
    writeFileSync(join(local(), 'a.txt'), 'local, and longer than the object\n');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'vv/a.txt', Body: 'a\n' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'vv/b.txt', Body: 'b\n' }));
  });

  it('verify of a prefix against a folder, with a mismatch and a missing file: ok false, the lists, and error naming the first problem', async () => {
    const result = await runCli(['verify', '--json', '-r', `s3://${bucket}/vv/`, '--local', local()], { env: s3Env() });
    expect(result.code, result.stderr).toBe(1);
    const document = documentOf(result.stdout);
    expect(document).toMatchObject({ ok: false, checked: 1, mismatched: [{ key: 'vv/a.txt' }], missing: ['vv/b.txt'] });
    expect(document.error?.code).toBe('failed');
    expect(document.error?.message).toMatch(new RegExp(`^2 failed, the first: s3://${bucket}/vv/[ab]\\.txt: `));
  });

  it('verify of one object against a file that differs', async () => {
    const result = await runCli(['verify', '--json', `s3://${bucket}/vv/a.txt`, '--local', join(local(), 'a.txt')], { env: s3Env() });
    expect(result.code, result.stderr).toBe(1);
    const document = documentOf(result.stdout);
    expect(document).toMatchObject({ ok: false, mismatched: [{ key: 'vv/a.txt' }] });
    expect(document.error).toEqual({ code: 'failed', message: expect.stringMatching(new RegExp(`^1 failed: s3://${bucket}/vv/a\\.txt: size differs`)) });
  });

  it('verify of a prefix with nothing under it', async () => {
    const result = await runCli(['verify', '--json', `s3://${bucket}/nothing-here/`], { env: s3Env() });
    expect(result.code, result.stderr).toBe(1);
    const document = documentOf(result.stdout);
    expect(document).toMatchObject({ ok: false, checked: 0 });
    expect(document.error).toEqual({ code: 'NoObjects', message: `1 failed: s3://${bucket}/nothing-here/: no objects under this prefix: nothing was verified` });
  });

  it('table check of a table whose log names a file that is not there', async () => {
    const log = [
      { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
      { metaData: { id: 't', format: { provider: 'parquet', options: {} }, schemaString: '{"type":"struct","fields":[]}', partitionColumns: [], configuration: {} } },
      { add: { path: 'part-0.parquet', size: 10, partitionValues: {}, modificationTime: 1, dataChange: true } },
    ];
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tab/_delta_log/00000000000000000000.json', Body: `${log.map((line) => JSON.stringify(line)).join('\n')}\n` }));
    const result = await runCli(['table', 'check', '--json', `s3://${bucket}/tab/`], { env: s3Env() });
    expect(result.code, result.stderr).toBe(1);
    const document = documentOf(result.stdout);
    expect(document).toMatchObject({ ok: false, problems: [{ key: 'tab/part-0.parquet', problem: 'missing' }] });
    expect(document.error).toEqual({ code: 'NoSuchKey', message: `1 failed: s3://${bucket}/tab/part-0.parquet: missing` });
  });

  it('sync whose --manifest cannot be written (a full disk): the counts, and the manifest error', async () => {
    const tree = join(work.path, 'sync-tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'one.txt'), 'one');
    const env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
    const result = await runCli(['sync', '--json', tree, `s3://${bucket}/synced/`, '--manifest', '/dev/full'], { env });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toBe('datalake: error: could not write the manifest /dev/full: no space left on device (ENOSPC)\n');
    const document = documentOf(result.stdout);
    expect(document).toMatchObject({ transferred: 1, failed: 0 });
    expect(document.error).toEqual({ code: 'ENOSPC', message: 'could not write the manifest /dev/full: no space left on device (ENOSPC)' });
  });
});

describe('--json where there is no room for a document, or no command: refused with a usage document', () => {
  it.each([
    ['get OBJECT - (standard output holds the object itself)', () => ['get', '--json', `s3://${bucket}/here.csv`, '-']],
    ['get of a missing object to -', () => ['get', '--json', `s3://${bucket}/nokey`, '-']],
  ])('%s: exit 2, one line, a usage document and no object bytes', async (_label, args) => {
    const result = await runCli(args(), { env: s3Env() });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^datalake: error: `-` writes the object itself to standard output: there is no room for --json/)]);
    expect(documentOf(result.stdout).error).toEqual({ code: 'usage', message: expect.stringContaining('no room for --json') });
  });

  it.each([
    ['no command at all', [] as string[], 'datalake needs a command (`datalake --help` lists them)'],
    ['a command group without its command', ['table'], 'datalake table needs a command (`datalake table --help` lists them)'],
    ['an unknown command (as before)', ['nosuchcommand'], "unknown command 'nosuchcommand'"],
  ])('%s: exit 2 and a usage document', async (_label, args, message) => {
    const result = await runCli(['--json', ...args], { env: s3Env() });
    expect(result.code).toBe(2);
    expect(documentOf(result.stdout)).toEqual({ error: { code: 'usage', message } });
  });
});
