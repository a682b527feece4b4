import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, ListPartsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import {
  BIN,
  crc32Base64,
  createTestBucket,
  emptyAndDeleteBucket,
  lastJson,
  motoClient,
  motoEnv,
  runCli,
  s3Env,
  startCli,
  startWatchedCli,
  tempDirectory,
  testClient,
  waitFor,
  waitUntilHeld,
  writeRandomFile,
} from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
/** How many ranges a download's progress record (beside its temporary file) lists; 0 before it exists. */
const rangesRecorded = (progress: string) => (existsSync(progress) ? (JSON.parse(readFileSync(progress, 'utf8')) as { done: unknown[] }).done.length : 0);
const work = tempDirectory('crash');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;
let data: Buffer;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'crash');
  proxy = new FaultProxy(inject('s3').endpoint!);
  const state = { DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB' };
  env = s3Env(state);
  proxied = s3Env({ ...state, AWS_ENDPOINT_URL: await proxy.start() });
  data = writeRandomFile(join(work.path, 'large.bin'), 64 * MiB + 11);
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** Starts the CLI with stderr readable, for a test that signals it at a known point. */

describe('kill -9 in the middle, then the same command again', () => {
  it('a put resumes: byte-identical, the parts already sent are reused, no incomplete upload left', async () => {
    // Parts go one at a time (--concurrency 1), each answered and recorded before the next is sent;
    // the fourth request is held at the proxy, and the kill lands then: a proven moment, not a race
    // with a part half-way to the server.
    proxy.setRules([{ method: 'PUT', match: /partNumber=/, skip: 3, fault: { kind: 'hold', gate: 'killed' } }]);
    const run = startWatchedCli(['put', join(work.path, 'large.bin'), `s3://${bucket}/crash/large.bin`, '--concurrency', '1'], proxied);
    await waitUntilHeld(run, proxy, 'killed', 'the fourth part request held');
    run.child.kill('SIGKILL');
    expect(await run.done).toBe(null);
    // The journal names the upload, and records each part's CRC32 once the part is acknowledged.
    const journal = readdirSync(join(work.path, 'state', 'uploads')).filter((name) => name.endsWith('.json'));
    expect(journal).toHaveLength(1);
    const entry = JSON.parse(readFileSync(join(work.path, 'state', 'uploads', journal[0]!), 'utf8')) as { uploadId: string; partSize: number; partCrc32s: Record<string, string> };
    const listed = await client.send(new ListPartsCommand({ Bucket: bucket, Key: 'crash/large.bin', UploadId: entry.uploadId }));
    const onServer = (listed.Parts ?? []).map((part) => String(part.PartNumber));
    // Three requests went through, each recorded before the next was sent: parts 1–3 (fewer only
    // if one of those requests was a resend).
    expect(onServer.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(entry.partCrc32s).length).toBeGreaterThanOrEqual(2);
    for (const [partNumber, crc32] of Object.entries(entry.partCrc32s)) {
      expect(onServer).toContain(partNumber);
      const start = (Number(partNumber) - 1) * entry.partSize;
      expect(crc32).toBe(crc32Base64(data.subarray(start, start + entry.partSize)));
    }

    const again = await runCli(['put', join(work.path, 'large.bin'), `s3://${bucket}/crash/large.bin`, '--json'], { env });
    expect(again.code).toBe(0);
    const uploaded = lastJson<{ objects: Array<{ crc32: string; parts: number; partsReused: number }> }>(again).objects[0]!;
    expect(uploaded.crc32).toBe(crc32Base64(data));
    expect(uploaded.parts).toBe(13);
    expect(uploaded.partsReused).toBe(onServer.length);
    const left = await runCli(['uploads', 'ls', `s3://${bucket}/`, '--json'], { env });
    expect(lastJson<{ uploads: unknown[] }>(left).uploads).toEqual([]);
    expect(readdirSync(join(work.path, 'state', 'uploads')).filter((name) => name.endsWith('.json'))).toEqual([]);
  });

  it('a get leaves nothing at the target path, and the re-run fetches only what is missing', async () => {
    const directory = join(work.path, 'get');
    mkdirSync(directory);
    const target = join(directory, 'large.bin');
    const progress = join(directory, '.large.bin.datalake-part.json');
    proxy.setRules([{ method: 'GET', match: /crash\/large\.bin/, fault: { kind: 'delay', ms: 150 } }]);
    const run = startCli(['get', `s3://${bucket}/crash/large.bin`, target, '--concurrency', '1'], proxied);
    await waitFor(() => rangesRecorded(progress) >= 3, 'three ranges on disk');
    run.child.kill('SIGKILL');
    await run.done;
    expect(existsSync(target)).toBe(false);
    const rangesDone = rangesRecorded(progress);

    proxy.setRules([]);
    const again = await runCli(['get', `s3://${bucket}/crash/large.bin`, target, '--json'], { env: proxied });
    expect(again.code).toBe(0);
    expect(md5(readFileSync(target))).toBe(md5(data));
    const gets = proxy.log.filter((entry) => entry.method === 'GET').length;
    expect(gets).toBe(13 - rangesDone);
    expect(readdirSync(directory)).toEqual(['large.bin']);
  });

  it('two gets to one target at once (an overlapping cron run): each ends whole, the last rename wins, nothing left', async () => {
    const first = writeRandomFile(join(work.path, 'first.bin'), 12 * MiB);
    const second = writeRandomFile(join(work.path, 'second.bin'), 12 * MiB + 5);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'overlap/first.bin', Body: first }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'overlap/second.bin', Body: second }));
    const directory = join(work.path, 'overlap');
    mkdirSync(directory);
    const target = join(directory, 'latest.bin');
    const progress = join(directory, '.latest.bin.datalake-part.json');
    // The first run gets its first range, then is held half-way until the second has ended: the
    // order of the two finishes is fixed, not left to timing.
    // Its third GET is held (of three ranges): one range is on disk by then even if a GET had to be sent twice.
    proxy.setRules([{ method: 'GET', match: /overlap\/first\.bin/, skip: 2, fault: { kind: 'hold', gate: 'first' } }]);
    const slow = startCli(['get', `s3://${bucket}/overlap/first.bin`, target, '--concurrency', '1'], proxied);
    await waitFor(() => rangesRecorded(progress) >= 1 && proxy.held('first') >= 1, 'a range of the first run on disk, the next one held');

    const quick = await runCli(['get', `s3://${bucket}/overlap/second.bin`, target, '--json'], { env: proxied });
    expect(quick.code).toBe(0);
    expect(md5(readFileSync(target))).toBe(md5(second));
    expect(existsSync(progress)).toBe(true);

    proxy.release('first');
    expect(await slow.done).toBe(0);
    expect(md5(readFileSync(target))).toBe(md5(first));
    expect(readdirSync(directory)).toEqual(['latest.bin']);
    proxy.setRules([]);
  });

  it('SIGINT stops after the parts in flight, exits 130, and keeps the upload for the next run', async () => {
    // Three parts go through; the next ones are held until the signal has been received, so it always
    // comes with parts in flight and most of the 13 not sent, whatever the machine's load.
    proxy.setRules([{ method: 'PUT', match: /partNumber=/, skip: 3, fault: { kind: 'hold', gate: 'interrupted' } }]);
    const run = startWatchedCli(['put', join(work.path, 'large.bin'), `s3://${bucket}/crash/interrupted.bin`, '--concurrency', '2'], proxied);
    await waitUntilHeld(run, proxy, 'interrupted', 'a part after the third held');
    run.child.kill('SIGINT');
    await waitFor(() => run.stderr().includes('SIGINT received'), 'the signal seen');
    proxy.release('interrupted');
    expect(await run.done).toBe(130);
    const again = await runCli(['put', join(work.path, 'large.bin'), `s3://${bucket}/crash/interrupted.bin`, '--json'], { env });
    expect(again.code).toBe(0);
    const resumed = lastJson<{ objects: Array<{ crc32: string; partsReused: number }> }>(again).objects[0]!;
    expect(resumed.crc32).toBe(crc32Base64(data));
    // A fourth part was held only once two had finished (--concurrency 2): at least those two are kept.
    expect(resumed.partsReused).toBeGreaterThanOrEqual(2);
  });
});

describe('a signal while the modules are still loading', () => {
  // The signal is sent from inside the process at the moment bin/datalake hands over from its early
  // handler to the run's own (a preloaded module wraps process.off): delivered, not yet dispatched.
  const preload = () => {
    const path = join(work.path, 'signal-at-handover.mjs');
    writeFileSync(
      path,
      `const off = process.off.bind(process);
let sent = false;
process.off = process.removeListener = function (name, listener) {
  if (name === 'SIGINT' && listener && listener.name === 'early' && !sent) { sent = true; process.kill(process.pid, 'SIGINT'); }
  return off(name, listener);
};
`,
    );
    return path;
  };

  it('is answered: rm -r deletes nothing and exits 130 with the interrupted document; ls of two pages stops before the second', async () => {
    const client = testClient();
    const keys = Array.from({ length: 1001 }, (_, i) => `handover/k${String(i).padStart(4, '0')}`);
    await Promise.all(keys.map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))));
    client.destroy();
    const hooked = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', pathToFileURL(preload()).href, BIN, ...args], { env: s3Env(), stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const removal = await hooked(['rm', '-r', `s3://${bucket}/handover/`, '--json']);
    expect(removal.stderr).toContain('SIGINT received');
    expect(removal.code).toBe(130);
    expect(JSON.parse(removal.stdout)).toMatchObject({ deleted: [], error: { code: 'interrupted' } });
    const listing = await hooked(['ls', `s3://${bucket}/handover/`, '--json']);
    expect(listing.code).toBe(130);
    expect(JSON.parse(listing.stdout)).toMatchObject({ count: 1000, error: { code: 'interrupted' } });
    const all = await runCli(['ls', `s3://${bucket}/handover/`, '--json']);
    expect(JSON.parse(all.stdout)).toMatchObject({ count: 1001 });
  });
});

describe('security', () => {
  it('a debug-level run never prints or logs the secret key or the session token', async () => {
    const moto = motoClient();
    await moto.send(new CreateBucketCommand({ Bucket: 'secrets' }));
    const secret = 'sEcReT-value-9f8e7d6c5b4a';
    const token = 'SeSsIoN-token-0a1b2c3d4e5f';
    const log = join(work.path, 'debug.log');
    const secretEnv = motoEnv({ AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token, DATALAKE_STATE_DIR: join(work.path, 'state2') });
    const outputs: string[] = [];
    let presignedUrl = '';
    for (const args of [
      ['put', join(work.path, 'large.bin'), 's3://secrets/large.bin'],
      ['get', 's3://secrets/large.bin', join(work.path, 'secret-copy.bin')],
      ['ls', 's3://secrets/'],
      ['presign', 's3://secrets/large.bin'],
      ['put', join(work.path, 'nope.bin'), 's3://secrets/nope.bin'],
    ]) {
      const result = await runCli([...args, '--log-level', 'debug', '--log-file', log], { env: secretEnv });
      // A URL presigned with temporary credentials must carry the session token to work at all (SigV4):
      // that one line is the output asked for, and it never carries the secret key.
      if (args[0] === 'presign') {
        presignedUrl = result.stdout.trimEnd();
        outputs.push(result.stderr);
      } else outputs.push(result.stdout, result.stderr);
    }
    expect(new URL(presignedUrl).searchParams.get('X-Amz-Security-Token')).toBe(token);
    expect(presignedUrl).not.toContain(secret);
    const everything = outputs.join('\n') + readFileSync(log, 'utf8');
    expect(readFileSync(log, 'utf8')).toMatch(/"level":20/); // debug lines were written
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(token);
    expect(everything).not.toMatch(/authorization/i);
    moto.destroy();
  });

  it('keys crafted to climb out of the destination are never written outside it', async () => {
    const moto = motoClient();
    await moto.send(new CreateBucketCommand({ Bucket: 'climb' }));
    for (const key of ['evil/ok.txt', 'evil/../../escaped.txt', 'evil/a/../../../up.txt', 'evil//etc/abs.txt']) {
      await moto.send(new PutObjectCommand({ Bucket: 'climb', Key: key, Body: key }));
    }
    const root = join(work.path, 'climb');
    const destination = join(root, 'inside', 'dest');
    mkdirSync(destination, { recursive: true });
    const result = await runCli(['get', '-r', 's3://climb/evil/', destination, '--json'], { env: motoEnv() });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/would be written outside/);
    expect(readFileSync(join(destination, 'ok.txt'), 'utf8')).toBe('evil/ok.txt');
    const everything = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? everything(join(dir, entry.name)) : [join(dir, entry.name)]));
    expect(everything(root)).toEqual([join(destination, 'ok.txt')]);
    moto.destroy();
  });

  it('a symbolic link inside the destination is never written through', async () => {
    const moto = motoClient();
    await moto.send(new CreateBucketCommand({ Bucket: 'through' }));
    await moto.send(new PutObjectCommand({ Bucket: 'through', Key: 'p/logs/app.log', Body: 'planted' }));
    await moto.send(new PutObjectCommand({ Bucket: 'through', Key: 'p/fine.txt', Body: 'fine' }));
    const outside = join(work.path, 'outside-target');
    const destination = join(work.path, 'through-dest');
    mkdirSync(outside, { recursive: true });
    mkdirSync(destination, { recursive: true });
    symlinkSync(outside, join(destination, 'logs'));
    for (const args of [['get', '-r', 's3://through/p/', destination], ['sync', 's3://through/p/', destination]]) {
      const result = await runCli(args, { env: motoEnv({ DATALAKE_STATE_DIR: join(work.path, 'state3'), DATALAKE_CACHE_DIR: join(work.path, 'cache3') }) });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/is a symbolic link; nothing is written through it/);
      expect(readdirSync(outside)).toEqual([]);
      expect(readFileSync(join(destination, 'fine.txt'), 'utf8')).toBe('fine');
    }
    moto.destroy();
  });
});
