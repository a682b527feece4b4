/**
 * Uploads never destroy data and never store a wrong proof, whatever happens to the answers: a damaged
 * answer is settled by a fresh look at the object before anything is removed, only the exact version
 * just written is ever removed, a lost answer is settled by looking at the object, and a resumed upload
 * proves the file by its content before it reuses anything.
 */
import { createHash } from 'node:crypto';
import { openSync, readFileSync, statSync, utimesSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy, type FaultRule } from '../support/fault-proxy.js';
import { crc32Base64, createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, startWatchedCli, tempDirectory, testClient, waitUntilHeld, writeRandomFile } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('upload-safety');
let client: S3Client;
let bucket: string;
let versioned: string;
let proxy: FaultProxy;
let direct: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;
/** Three parts of 5 MiB. */
let big: Buffer;
let small: Buffer;

/** The first hex digit of the ETag in a CompleteMultipartUpload answer, however its quotes are escaped. */
const COMPLETE_ETAG_DIGIT = /(?<=<ETag>(?:&#34;|&quot;|")?)[0-9a-f]/;
/** A CompleteMultipartUpload request or answer (a POST with an upload id; CreateMultipartUpload has `?uploads`). */
const COMPLETE: Pick<FaultRule, 'method' | 'match'> = { method: 'POST', match: /uploadId=/ };

type PutJson = { objects: Array<{ md5?: string; crc32: string; etag: string; partsReused?: number }>; failed: Array<{ error: string }> };

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'upsafe');
  versioned = await createTestBucket(client, 'upsafe-v');
  await client.send(new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: 'Enabled' } }));
  proxy = new FaultProxy(inject('s3').endpoint!);
  const state = { DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB' };
  direct = s3Env(state);
  proxied = s3Env({ ...state, AWS_ENDPOINT_URL: await proxy.start() });
  big = writeRandomFile(join(work.path, 'big.bin'), 12 * MiB + 7);
  small = writeRandomFile(join(work.path, 'small.bin'), 200_000);
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  await deleteVersionedBucket(versioned);
  client.destroy();
  work.remove();
});

async function deleteVersionedBucket(name: string): Promise<void> {
  for (const entry of await versionsOf(name, '')) await client.send(new DeleteObjectCommand({ Bucket: name, Key: entry.key, VersionId: entry.versionId }));
  await client.send(new DeleteBucketCommand({ Bucket: name }));
}

/** Every version and delete marker under a prefix, newest first per key. */
async function versionsOf(name: string, prefix: string): Promise<Array<{ key: string; versionId: string; etag: string | undefined; deleteMarker: boolean }>> {
  const listed = await client.send(new ListObjectVersionsCommand({ Bucket: name, Prefix: prefix }));
  return [
    ...(listed.Versions ?? []).map((v) => ({ key: v.Key!, versionId: v.VersionId!, etag: v.ETag?.replace(/"/g, ''), deleteMarker: false })),
    ...(listed.DeleteMarkers ?? []).map((m) => ({ key: m.Key!, versionId: m.VersionId!, etag: undefined, deleteMarker: true })),
  ];
}

/** Incomplete uploads of one key (MinIO lists them by exact key only). */
async function incompleteUploads(name: string, key: string): Promise<number> {
  return (await client.send(new ListMultipartUploadsCommand({ Bucket: name, Prefix: key }))).Uploads?.length ?? 0;
}

/** `datalake get` to a fresh path: its exit code and the bytes it wrote. */
async function fetched(url: string, label: string): Promise<{ code: number | null; stderr: string; bytes: Buffer | undefined }> {
  const target = join(work.path, 'got', label);
  const result = await runCli(['get', url, target], { env: direct });
  return { code: result.code, stderr: result.stderr, bytes: result.code === 0 ? readFileSync(target) : undefined };
}

async function putEarlierVersions(key: string): Promise<Buffer[]> {
  const earlier = [Buffer.from('first version\n'), Buffer.from('second version\n')];
  for (const body of earlier) await client.send(new PutObjectCommand({ Bucket: versioned, Key: key, Body: body }));
  return earlier;
}

describe('a damaged answer never removes good data', () => {
  it('versioned bucket, a byte flipped in the ETag of the Complete answer: settled by a fresh HEAD, exit 0, every earlier version kept', async () => {
    const key = 'flip-complete/big.bin';
    await putEarlierVersions(key);
    proxy.setRules([{ ...COMPLETE, fault: { kind: 'flip-response-text', pattern: COMPLETE_ETAG_DIGIT } }]);
    const result = await runCli(['put', join(work.path, 'big.bin'), `s3://${versioned}/${key}`, '--json'], { env: proxied });
    expect(proxy.faults('flip-response-text')).toBe(1);
    expect(result.stderr).not.toMatch(/removed/);
    expect(result.code).toBe(0);
    expect(lastJson<PutJson>(result).objects[0]).toMatchObject({ crc32: crc32Base64(big), etag: expect.stringMatching(/-3$/) });
    const versions = await versionsOf(versioned, key);
    expect(versions.filter((v) => v.deleteMarker)).toEqual([]);
    expect(versions).toHaveLength(3);
    const got = await fetched(`s3://${versioned}/${key}`, 'flip-complete.bin');
    expect(got.code).toBe(0);
    expect(md5(got.bytes!)).toBe(md5(big));
  });

  it('versioned bucket, a mismatch the fresh HEAD confirms: only the version just written is removed, the earlier ones stay and `get` returns the last', async () => {
    const key = 'confirmed/big.bin';
    const earlier = await putEarlierVersions(key);
    // The Complete answer and every HEAD of the object show the same wrong ETag: the object itself looks wrong.
    proxy.setRules([
      { ...COMPLETE, fault: { kind: 'flip-response-text', pattern: COMPLETE_ETAG_DIGIT } },
      { method: 'HEAD', match: /confirmed\/big\.bin/, fault: { kind: 'flip-response-header', header: 'etag', index: 1 } },
    ]);
    const result = await runCli(['put', join(work.path, 'big.bin'), `s3://${versioned}/${key}`, '--json'], { env: proxied });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/confirmed\/big\.bin did not verify.*the version just written was removed/);
    const versions = await versionsOf(versioned, key);
    expect(versions.filter((v) => v.deleteMarker)).toEqual([]);
    expect(versions.map((v) => v.etag).sort()).toEqual(earlier.map((body) => md5(body)).sort());
    const got = await fetched(`s3://${versioned}/${key}`, 'confirmed.bin');
    expect(got.code).toBe(0);
    expect(got.bytes!.equals(earlier[1]!)).toBe(true);
  });

  it('unversioned bucket, the Complete answer and the fresh HEAD damaged differently: nothing is removed, exit 1 naming it', async () => {
    const key = 'disagree/big.bin';
    proxy.setRules([
      { ...COMPLETE, fault: { kind: 'flip-response-text', pattern: COMPLETE_ETAG_DIGIT } },
      { method: 'HEAD', match: /disagree\/big\.bin/, fault: { kind: 'flip-response-header', header: 'etag', index: 2 } },
    ]);
    const result = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/${key}`, '--json'], { env: proxied });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/disagree\/big\.bin did not verify: .*it was left in place/);
    const got = await fetched(`s3://${bucket}/${key}`, 'disagree.bin');
    expect(got.code).toBe(0);
    expect(md5(got.bytes!)).toBe(md5(big));
  });

  it('unversioned bucket, a single PUT whose wrong ETag the fresh HEAD confirms: the object just written is removed, exit 1 naming it', async () => {
    proxy.setRules([
      { method: 'PUT', match: /confirmed\/small\.bin/, fault: { kind: 'flip-response-header', header: 'etag', index: 1 } },
      { method: 'HEAD', match: /confirmed\/small\.bin/, fault: { kind: 'flip-response-header', header: 'etag', index: 1 } },
    ]);
    const result = await runCli(['put', join(work.path, 'small.bin'), `s3://${bucket}/confirmed/small.bin`, '--retries', '0'], { env: proxied });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/confirmed\/small\.bin did not verify: .*a fresh look confirmed it, and the object just written was removed/);
    expect(await listKeys(client, bucket, 'confirmed/')).toEqual([]);
  });

  it('a byte flipped in the ETag header of every single-PUT answer: settled by a fresh HEAD, exit 0, the object in place', async () => {
    proxy.setRules([{ method: 'PUT', match: /single\/small\.bin/, fault: { kind: 'flip-response-header', header: 'etag', index: 1 } }]);
    const result = await runCli(['put', join(work.path, 'small.bin'), `s3://${bucket}/single/small.bin`, '--json'], { env: proxied });
    expect(proxy.faults('flip-response-header')).toBe(1);
    expect(result.code).toBe(0);
    expect(lastJson<PutJson>(result).objects[0]).toMatchObject({ md5: md5(small), etag: md5(small) });
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'single/small.bin' }));
    expect(head.ETag).toBe(`"${md5(small)}"`);
  });

  it('standard input over one part, a byte flipped in the ETag of the Complete answer: settled, the MD5 added to its metadata (--md5-metadata), exit 0', async () => {
    proxy.setRules([{ ...COMPLETE, fault: { kind: 'flip-response-text', pattern: COMPLETE_ETAG_DIGIT } }]);
    const result = await runCli(['put', '-', `s3://${bucket}/stdin/big.bin`, '--json', '--md5-metadata'], { env: proxied, input: big });
    expect(proxy.faults('flip-response-text')).toBe(1);
    expect(result.code).toBe(0);
    expect(lastJson<PutJson>(result).objects[0]).toMatchObject({ md5: md5(big), crc32: crc32Base64(big) });
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'stdin/big.bin' }));
    expect(Buffer.from(head.Metadata?.md5chksum ?? '', 'base64').toString('hex')).toBe(md5(big));
  });
});

describe('a lost answer is settled by looking at the object', () => {
  it('the Complete answer lost after the server completed the upload: exit 0, every part sent once, nothing left to resume', async () => {
    proxy.setRules([{ ...COMPLETE, times: 1, fault: { kind: 'lose-response' } }]);
    const result = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/lost/big.bin`, '--json'], { env: proxied });
    expect(proxy.faults('lose-response')).toBe(1);
    expect(result.stderr).not.toMatch(/removed|failed/);
    expect(result.code).toBe(0);
    expect(lastJson<PutJson>(result).objects[0]).toMatchObject({ crc32: crc32Base64(big), etag: expect.stringMatching(/-3$/) });
    const partPuts = proxy.log.filter((entry) => entry.method === 'PUT' && entry.url.includes('partNumber=')).map((entry) => /partNumber=(\d+)/.exec(entry.url)![1]);
    expect(partPuts.sort()).toEqual(['1', '2', '3']);
    expect(await incompleteUploads(bucket, 'lost/big.bin')).toBe(0);
    const got = await fetched(`s3://${bucket}/lost/big.bin`, 'lost.bin');
    expect(got.code).toBe(0);
    expect(md5(got.bytes!)).toBe(md5(big));
  });

  it('the Complete answer lost and no fresh look possible: exit 1, and the re-run finds the object complete and sends nothing again', async () => {
    const key = 'lost-twice/big.bin';
    proxy.setRules([
      { ...COMPLETE, fault: { kind: 'lose-response' } },
      { method: 'HEAD', match: /lost-twice\/big\.bin/, fault: { kind: 'status', status: 500, code: 'InternalError' } },
    ]);
    const failed = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/${key}`, '--retries', '0'], { env: proxied });
    expect(failed.code).toBe(1);
    expect(proxy.faults('lose-response')).toBeGreaterThanOrEqual(1);
    proxy.setRules([]);
    const again = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/${key}`, '--json'], { env: proxied });
    expect(again.code).toBe(0);
    expect(lastJson<PutJson>(again).objects[0]).toMatchObject({ crc32: crc32Base64(big), etag: expect.stringMatching(/-3$/), partsReused: 3 });
    expect(proxy.log.filter((entry) => entry.method === 'PUT' || entry.method === 'POST')).toEqual([]);
    const got = await fetched(`s3://${bucket}/${key}`, 'lost-twice.bin');
    expect(got.code).toBe(0);
    expect(md5(got.bytes!)).toBe(md5(big));
  });

  it('the Complete request body damaged on the way, twice: sent again until it is whole, exit 0, the object exactly the file', async () => {
    // The request body begins `<CompleteMultipartUpload xmlns="…"><Part><PartNumber>1</PartNumber>`:
    // its first byte, then the `/` of the first `</PartNumber>`, each flipped once.
    const closingTag = '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1<'.length;
    proxy.setRules([
      { ...COMPLETE, times: 1, fault: { kind: 'flip-request-byte', offset: 0 } },
      { ...COMPLETE, times: 1, fault: { kind: 'flip-request-byte', offset: closingTag } },
    ]);
    const logFile = join(work.path, 'malformed.log');
    const result = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/malformed/big.bin`, '--json', '--log-level', 'warn', '--log-file', logFile], { env: proxied });
    expect(proxy.faults('flip-request-byte')).toBeGreaterThanOrEqual(1);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson<PutJson>(result).objects[0]).toMatchObject({ crc32: crc32Base64(big) });
    const stored = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'malformed/big.bin' }));
    expect(md5(Buffer.from(await stored.Body!.transformToByteArray()))).toBe(md5(big));
    // MinIO refuses each damaged body, with these codes, and each is sent again.
    if (inject('s3').isMinio) {
      expect(proxy.faults('flip-request-byte')).toBe(2);
      expect(proxy.log.filter((entry) => entry.method === 'POST' && entry.url.includes('uploadId='))).toHaveLength(3);
      const log = readFileSync(logFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { msg: string; code: string });
      expect(log.filter((entry) => entry.msg === 'retrying').map((entry) => entry.code)).toEqual(['InvalidRequest', 'MalformedXML']);
    }
  });
});

describe('a resume proves the file by its content', () => {
  it('kill -9, the file edited in place with its size, inode and mtime restored: the re-run stores the new content (its CRC32) and `get` verifies', async () => {
    const path = join(work.path, 'edited.bin');
    const original = writeRandomFile(path, 12 * MiB + 5);
    const mtime = 1_700_000_000; // whole seconds: restored exactly below
    utimesSync(path, mtime, mtime);
    const before = statSync(path);
    const key = 'edited/edited.bin';
    // Parts sent one at a time; the third request is held at the proxy (until the next test's rules),
    // and the kill lands then, with parts 1 and 2 on the server (fewer only if one was a resend).
    proxy.setRules([{ method: 'PUT', match: /partNumber=/, skip: 2, fault: { kind: 'hold', gate: 'edited' } }]);
    const run = startWatchedCli(['put', path, `s3://${bucket}/${key}`, '--concurrency', '1'], proxied);
    await waitUntilHeld(run, proxy, 'edited', 'the third part request held');
    run.child.kill('SIGKILL');
    expect(await run.done).toBe(null);
    const onServer = new Set<number>();
    for (const upload of (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? []) {
      for (const part of (await client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }))).Parts ?? []) onServer.add(part.PartNumber!);
    }
    expect(onServer.size).toBeGreaterThanOrEqual(1);
    expect([...onServer].every((partNumber) => partNumber <= 2)).toBe(true);

    // Bytes of part 1 (already on the server) and of part 3 changed where they are.
    const edited = Buffer.from(original);
    for (const offset of [1000, 11 * MiB]) {
      const patch = Buffer.from('edited in place, same size');
      patch.copy(edited, offset);
      const handle = openSync(path, 'r+');
      writeSync(handle, patch, 0, patch.length, offset);
      closeSync(handle);
    }
    utimesSync(path, mtime, mtime);
    const after = statSync(path);
    expect([after.size, after.ino, after.mtimeMs]).toEqual([before.size, before.ino, before.mtimeMs]);
    expect(md5(readFileSync(path))).toBe(md5(edited));

    const again = await runCli(['put', path, `s3://${bucket}/${key}`, '--json'], { env: direct });
    expect(again.code).toBe(0);
    expect(lastJson<PutJson>(again).objects[0]!.crc32).toBe(crc32Base64(edited));
    // Part 1 on the server holds the old bytes: never reused. Part 2 is unchanged: reused if it is there.
    expect(lastJson<PutJson>(again).objects[0]!.partsReused ?? 0).toBe(onServer.has(2) ? 1 : 0);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumCRC32).toBe(crc32Base64(edited));
    const got = await fetched(`s3://${bucket}/${key}`, 'edited.bin');
    expect(got.stderr).toBe('');
    expect(got.code).toBe(0);
    expect(md5(got.bytes!)).toBe(md5(edited));
    expect(await incompleteUploads(bucket, key)).toBe(0);
  });
});

describe('the upload journal', () => {
  it('two files put to one key, both interrupted: each keeps its own resumable upload', async () => {
    const files = ['one.bin', 'two.bin'].map((name, index) => ({ path: join(work.path, name), data: writeRandomFile(join(work.path, name), 11 * MiB + index) }));
    const url = `s3://${bucket}/shared/key.bin`;
    // Part 2 always fails: part 1 of each file stays on the server, its upload in the journal.
    proxy.setRules([{ method: 'PUT', match: /partNumber=2&/, fault: { kind: 'status', status: 503, code: 'ServiceUnavailable' } }]);
    for (const file of files) {
      const failed = await runCli(['put', file.path, url, '--retries', '0', '--concurrency', '1'], { env: proxied });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/run the same command again to resume/);
    }
    expect(await incompleteUploads(bucket, 'shared/key.bin')).toBe(2);
    for (const file of files) {
      const resumed = await runCli(['put', file.path, url, '--json'], { env: direct });
      expect(resumed.code).toBe(0);
      expect(lastJson<PutJson>(resumed).objects[0]).toMatchObject({ crc32: crc32Base64(file.data), partsReused: 1 });
    }
    expect(await incompleteUploads(bucket, 'shared/key.bin')).toBe(0);
  });
});

describe('a lost CreateMultipartUpload answer', () => {
  it('is retried, and the upload whose id never arrived is said to remain (it cannot be told from another writer\'s)', async () => {
    // The server creates the upload, and its answer is lost on the way back.
    proxy.setRules([{ method: 'POST', match: /[?&]uploads/, times: 1, fault: { kind: 'lose-response' } }]);
    const result = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/lost-create/big.bin`, '--json'], { env: proxied });
    expect(proxy.faults('lose-response')).toBe(1);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/CreateMultipartUpload was sent 2 times; up to 1 incomplete upload of this key may remain/);
    expect(await incompleteUploads(bucket, 'lost-create/big.bin')).toBe(1);
    const abort = await runCli(['uploads', 'abort', `s3://${bucket}/lost-create/`], { env: direct });
    expect(abort.code).toBe(0);
    expect(await incompleteUploads(bucket, 'lost-create/big.bin')).toBe(0);
  });
});
