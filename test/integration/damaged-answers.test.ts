import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, lastJson, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

/**
 * Answers damaged on the way (by the fault proxy, with a Content-Length that matches the damage, so
 * nothing at the HTTP level gives it away) are errors, retried, and never read as fewer keys: a
 * `sync --delete` deletes nothing because of them.
 */
const work = tempDirectory('damaged');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;
const local = join(work.path, 'tree');
const TREE_FILES = 1100; // two list pages

const LIST = /[?&]list-type=2/;
const cli = (args: string[]) => runCli([...args, '--retries', '2', '--log-file', join(work.path, 'damaged.log')], { env: proxied });
const names = (directory: string) => readdirSync(directory, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length;

async function putAll(objects: Array<{ key: string; body: string }>): Promise<void> {
  const limit = pLimit(16);
  await Promise.all(objects.map(({ key, body }) => limit(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })))));
}

function writeLocal(root: string, files: Array<{ name: string; body: string }>): void {
  for (const { name, body } of files) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), body);
  }
}

const treeFiles = Array.from({ length: TREE_FILES }, (_, index) => ({ name: `f${String(index).padStart(4, '0')}.txt`, body: `file ${index}\n` }));

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'damaged');
  proxy = new FaultProxy(inject('s3').endpoint!);
  const endpoint = await proxy.start();
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  await putAll(treeFiles.map(({ name, body }) => ({ key: `tree/${name}`, body })));
  writeLocal(local, treeFiles);
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** A `sync --delete` down into the complete local copy, through the proxy's rules. */
async function syncDown(rules: Parameters<FaultProxy['setRules']>[0]) {
  proxy.setRules(rules);
  const result = await cli(['sync', `s3://${bucket}/tree/`, local, '--delete', '--json']);
  expect(names(local), 'no local file may be deleted because an answer was damaged').toBe(TREE_FILES);
  return result;
}

function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('a damaged listing deletes nothing', () => {
  it('IsTruncated turned false on the first page (its token still there): exit 1, one line, nothing deleted', async () => {
    const result = await syncDown([{ method: 'GET', match: LIST, fault: { kind: 'rewrite-response', from: '<IsTruncated>true</IsTruncated>', to: '<IsTruncated>false</IsTruncated>' } }]);
    expect(result.code).toBe(1);
    expect(proxy.faults('rewrite-response')).toBe(3);
    expectOneLine(result.stderr, /^datalake: error: damaged answer to ListObjectsV2 s3:\/\/[^ ]+\/tree\/: not truncated, yet a NextContinuationToken/);
  });

  it('the same damage once: the retry reads a clean page and the sync completes, nothing deleted', async () => {
    const result = await syncDown([{ method: 'GET', match: LIST, times: 1, fault: { kind: 'rewrite-response', from: '<IsTruncated>true</IsTruncated>', to: '<IsTruncated>false</IsTruncated>' } }]);
    expect(result.code).toBe(0);
    expect(proxy.faults('rewrite-response')).toBe(1);
    expect(lastJson(result)).toMatchObject({ transferred: 0, skipped: TREE_FILES, deleted: 0, failed: 0 });
  });

  it('one byte changed inside one </Contents> of every page: exit 1, nothing deleted', async () => {
    const result = await syncDown([{ method: 'GET', match: LIST, fault: { kind: 'rewrite-response', from: '</Contents>', to: '</Contentr>', occurrence: 10 } }]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, /^datalake: error: damaged answer to ListObjectsV2 .*not well-formed/);
  });

  it('a page cut short with a matching Content-Length, every time: exit 1, nothing deleted; once: the sync completes', async () => {
    const always = await syncDown([{ method: 'GET', match: LIST, fault: { kind: 'shorten-response', keepFraction: 0.6 } }]);
    expect(always.code).toBe(1);
    expectOneLine(always.stderr, /^datalake: error: damaged answer to ListObjectsV2 .*not well-formed/);
    const once = await syncDown([{ method: 'GET', match: LIST, skip: 1, times: 1, fault: { kind: 'shorten-response', keepFraction: 0.6 } }]);
    expect(once.code).toBe(0);
    expect(proxy.faults('shorten-response')).toBe(1);
    expect(lastJson(once)).toMatchObject({ skipped: TREE_FILES, deleted: 0, failed: 0 });
  });

  it('ls of a damaged listing: exit 1 with one line, not a shorter listing', async () => {
    proxy.setRules([{ method: 'GET', match: LIST, fault: { kind: 'shorten-response', keepFraction: 0.6 } }]);
    const result = await cli(['ls', '--recursive', `s3://${bucket}/tree/`]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, /^datalake: error: damaged answer to ListObjectsV2 s3:\/\/[^ ]+\/tree\/: not well-formed/);
  });
});

describe('a page over 4 MiB', () => {
  it('1,000 long keys full of &, < and \': every key listed, nothing deleted', async () => {
    // Each key ~960 bytes in segments of at most 250 (a file name's limit), escaped by the server to ~4.5 KB.
    const segment = (index: number, length: number) => `${"&<'".repeat(Math.ceil(length / 3))}`.slice(0, length - 4) + String(index).padStart(4, '0');
    const files = Array.from({ length: 1000 }, (_, index) => ({
      name: [String(index).padStart(4, '0'), segment(index, 250), segment(index, 250), segment(index, 250), segment(index, 200)].join('/'),
      body: `long ${index}\n`,
    }));
    await putAll(files.map(({ name, body }) => ({ key: `long/${name}`, body })));
    const directory = join(work.path, 'long');
    writeLocal(directory, files);
    proxy.setRules([]);
    const ls = await cli(['ls', '--recursive', '--json', `s3://${bucket}/long/`]);
    expect(ls.code).toBe(0);
    const escapedKeys = files.reduce((sum, { name }) => sum + Buffer.byteLength(`long/${name}`.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&#39;')), 0);
    expect(escapedKeys).toBeGreaterThan(4 * 1024 * 1024);
    expect(lastJson<{ count: number }>(ls).count).toBe(1000);
    const listed = proxy.log.filter((entry) => LIST.test(entry.url));
    expect(listed).toHaveLength(1); // one page, its keys alone over 4 MiB as the server escapes them
    const result = await cli(['sync', `s3://${bucket}/long/`, directory, '--delete', '--json']);
    expect(result.code).toBe(0);
    expect(lastJson(result)).toMatchObject({ transferred: 0, skipped: 1000, deleted: 0, failed: 0 });
    expect(names(directory)).toBe(1000);
    expect(readFileSync(join(directory, files[999]!.name), 'utf8')).toBe('long 999\n');
  });
});
