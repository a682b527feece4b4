/**
 * Objects s5cmd and rclone uploaded — in one PUT and in parts, each with whatever proof that tool
 * leaves (s5cmd: the server's ETag alone; rclone: the ETag, and the whole-file MD5 as `md5chksum` on
 * multipart uploads) — download verified by that proof, and `verify` passes on them; an object whose
 * bytes no longer match its `md5chksum` fails `get`, nothing at the target, and fails `verify`.
 * The tools are the real ones, installed by `npm test`'s pretest step (scripts/lib/peers.ts); a
 * missing one fails these tests. MinIO only (not listed for the other servers in test/support/servers.ts).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, HeadObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, runCli, s3Env, tempDirectory, testClient, writeRandomFile } from '../support/harness.js';
import { peerTool } from '../support/peers.js';

const MiB = 1024 ** 2;
/** Four parts at 5 MiB; one PUT for either tool at its default part size or cutoff (s5cmd 50 MiB, rclone 200 MiB). */
const SIZE = 17 * MiB + 5;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const md5Base64 = (data: Uint8Array) => createHash('md5').update(data).digest('base64');
const work = tempDirectory('peers');
let client: S3Client;
let bucket: string;
let env: NodeJS.ProcessEnv;
let source: string;
let data: Buffer;

/** rclone's flags for 5 MiB parts (its default cutoff is 200 MiB). */
const RCLONE_IN_PARTS = ['--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M'];

type Objects = { objects: Array<{ key: string; size: number; verifiedBy?: string }> };
type VerifyJson = { ok: boolean; checked: number; mismatched: Array<{ key: string; reason: string }>; objects: Array<{ key: string; proof: string }> };

const cli = (args: string[]) => runCli([...args, '--json'], { env });

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'peers');
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state') });
  source = join(work.path, 'source.bin');
  data = writeRandomFile(source, SIZE);
  // Each tool's uploads, made once: the tests below only read them (each can run alone).
  s5cmd(['cp', source, `s3://${bucket}/uploads/s5cmd/single.bin`]);
  s5cmd(['cp', '--part-size', '5', source, `s3://${bucket}/uploads/s5cmd/multipart.bin`]);
  rclone(['copyto', source, `peer:${bucket}/uploads/rclone/single.bin`]);
  rclone(['copyto', ...RCLONE_IN_PARTS, source, `peer:${bucket}/uploads/rclone/multipart.bin`]);
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  work.remove();
});

/** Runs a peer as its user would, with the test server's endpoint and keys; it must succeed. */
function runPeer(command: string, args: string[], extra: NodeJS.ProcessEnv = {}): void {
  const result = spawnSync(command, args, { env: { ...env, ...extra }, encoding: 'utf8' });
  expect(result.error).toBeUndefined();
  expect(result.status, `${command} ${args.join(' ')}: ${result.stderr}`).toBe(0);
}

function s5cmd(args: string[]): void {
  runPeer(peerTool('s5cmd'), ['--endpoint-url', inject('s3').endpoint!, ...args]);
}

/** rclone with a remote `peer:` configured by environment variables alone, as the benchmark does. */
function rclone(args: string[]): void {
  const s3 = inject('s3');
  runPeer(peerTool('rclone'), args, {
    RCLONE_CONFIG: join(work.path, 'rclone.conf'),
    RCLONE_CONFIG_PEER_TYPE: 's3',
    RCLONE_CONFIG_PEER_PROVIDER: 'Minio',
    RCLONE_CONFIG_PEER_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_PEER_ACCESS_KEY_ID: s3.accessKeyId,
    RCLONE_CONFIG_PEER_SECRET_ACCESS_KEY: s3.secretAccessKey,
    RCLONE_CONFIG_PEER_REGION: s3.region,
  });
}

async function stored(key: string) {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  return { size: head.ContentLength, etag: head.ETag?.replaceAll('"', ''), md5chksum: head.Metadata?.md5chksum, crc32: head.ChecksumCRC32 };
}

/** `datalake get` of the object: exit 0, verified by `proof`, the bytes those of the source. */
async function downloadsVerified(key: string, proof: string): Promise<void> {
  const target = join(work.path, 'down', key);
  const result = await cli(['get', `s3://${bucket}/${key}`, target]);
  expect(result.code, result.stderr).toBe(0);
  expect(lastJson<Objects>(result).objects).toEqual([expect.objectContaining({ key, size: SIZE, verifiedBy: proof })]);
  const downloaded = readFileSync(target);
  expect(downloaded.length).toBe(SIZE);
  expect(md5(downloaded)).toBe(md5(data));
}

describe('objects other tools uploaded download verified by the proof they carry', () => {
  it('s5cmd, in one PUT: its plain MD5 ETag proves the download', async () => {
    expect(await stored('uploads/s5cmd/single.bin')).toEqual({ size: SIZE, etag: md5(data), md5chksum: undefined, crc32: undefined });
    await downloadsVerified('uploads/s5cmd/single.bin', 'etag');
  });

  it('s5cmd, in 5 MiB parts (--part-size 5): its multipart ETag, recomputed, proves the download', async () => {
    expect(await stored('uploads/s5cmd/multipart.bin')).toEqual({ size: SIZE, etag: expect.stringMatching(/^[0-9a-f]{32}-4$/), md5chksum: undefined, crc32: undefined });
    await downloadsVerified('uploads/s5cmd/multipart.bin', 'multipart-etag');
  });

  it('rclone, in one PUT: its plain MD5 ETag proves the download', async () => {
    expect(await stored('uploads/rclone/single.bin')).toEqual({ size: SIZE, etag: md5(data), md5chksum: undefined, crc32: undefined });
    await downloadsVerified('uploads/rclone/single.bin', 'etag');
  });

  it('rclone, in 5 MiB parts: the whole-file MD5 it stores as md5chksum proves the download', async () => {
    expect(await stored('uploads/rclone/multipart.bin')).toEqual({ size: SIZE, etag: expect.stringMatching(/^[0-9a-f]{32}-4$/), md5chksum: md5Base64(data), crc32: undefined });
    await downloadsVerified('uploads/rclone/multipart.bin', 'metadata-md5');
  });

  it('verify passes on all four, each by that same proof', async () => {
    const result = await cli(['verify', `s3://${bucket}/uploads/`]);
    expect(result.code, result.stderr).toBe(0);
    const report = lastJson<VerifyJson>(result);
    expect(report).toMatchObject({ ok: true, checked: 4, mismatched: [] });
    expect(Object.fromEntries(report.objects.map((object) => [object.key, object.proof]))).toEqual({
      'uploads/s5cmd/single.bin': 'etag',
      'uploads/s5cmd/multipart.bin': 'multipart-etag',
      'uploads/rclone/single.bin': 'etag',
      'uploads/rclone/multipart.bin': 'metadata-md5',
    });
  });
});

describe('an object whose bytes disagree with the proof it carries', () => {
  it("rclone's multipart object rewritten with other bytes of the same size, its md5chksum kept: get fails, nothing at the target; verify fails", async () => {
    // An upload of its own, so that this test runs alone and the others keep theirs intact.
    const key = 'damaged/rclone-multipart.bin';
    rclone(['copyto', ...RCLONE_IN_PARTS, source, `peer:${bucket}/${key}`]);
    const before = await stored(key);
    expect(before.md5chksum).toBe(md5Base64(data));
    // Same size, same 5 MiB parts, one byte in the middle changed; uploaded with the SDK, as another tool would.
    const other = Buffer.from(data);
    other[9 * MiB] = other[9 * MiB]! ^ 0xff;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: { md5chksum: before.md5chksum! } }));
    const parts: Array<{ PartNumber: number; ETag: string }> = [];
    for (let offset = 0, number = 1; offset < other.length; offset += 5 * MiB, number += 1) {
      const part = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: number, Body: other.subarray(offset, offset + 5 * MiB) }));
      parts.push({ PartNumber: number, ETag: part.ETag! });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
    const after = await stored(key);
    expect(after).toEqual({ size: SIZE, etag: expect.stringMatching(/^[0-9a-f]{32}-4$/), md5chksum: md5Base64(data), crc32: undefined });
    expect(after.etag).not.toBe(before.etag);

    const directory = join(work.path, 'damaged');
    const target = join(directory, 'multipart.bin');
    const get = await cli(['get', `s3://${bucket}/${key}`, target]);
    expect(get.code, get.stderr).toBe(1);
    expect(get.stderr).toMatch(/MD5/);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(directory) ? readdirSync(directory) : []).toEqual([]);

    const verify = await cli(['verify', `s3://${bucket}/${key}`]);
    expect(verify.code).toBe(1);
    expect(lastJson<VerifyJson>(verify)).toMatchObject({ ok: false, mismatched: [expect.objectContaining({ key })] });
  });
});
