import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { crc32Base64, createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient, waitFor, writeRandomFile } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('faults');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;
let big: Buffer;
let small: Buffer;

// Fast retries keep the suite quick; the policy itself is the one every run uses.
const cli = (args: string[]) => runCli([...args, '--json', '--log-file', join(work.path, 'faults.log'), '--log-level', 'warn'], { env: proxied });

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'faults');
  proxy = new FaultProxy(inject('s3').endpoint!);
  const endpoint = await proxy.start();
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB' });
  big = writeRandomFile(join(work.path, 'big.bin'), 23 * MiB);
  small = writeRandomFile(join(work.path, 'small.bin'), 300_000);
  writeRandomFile(join(work.path, 'four-mib.bin'), 4 * MiB);
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

async function incompleteUploads(): Promise<number> {
  return (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.length ?? 0;
}

function noLeftovers(directory: string): void {
  expect(readdirSync(directory).filter((name) => name.includes('datalake-part'))).toEqual([]);
}

describe('transient faults are ridden out', () => {
  it('503 SlowDown on a third of the part uploads: the put completes, verified, each retry logged at warn', async () => {
    proxy.setRules([{ method: 'PUT', match: /partNumber=/, rate: 0.35, fault: { kind: 'status', status: 503, code: 'SlowDown' } }]);
    const result = await cli(['put', join(work.path, 'big.bin'), `s3://${bucket}/slow/big.bin`]);
    expect(result.code).toBe(0);
    expect(proxy.faults('status')).toBeGreaterThan(0);
    expect(lastJson(result)).toMatchObject({ objects: [{ crc32: crc32Base64(big) }] });
    const log = readFileSync(join(work.path, 'faults.log'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const retries = log.filter((entry) => entry.msg === 'retrying' && entry.code === 'SlowDown');
    expect(retries.length).toBe(proxy.faults('status'));
    expect(retries[0]).toMatchObject({ level: 40, attempt: 1, errorClass: 'throttled' });
  });

  it('500s, connection resets and a corrupted request body on upload', async () => {
    proxy.setRules([
      { method: 'PUT', match: /partNumber=1&/, times: 2, fault: { kind: 'status', status: 500, code: 'InternalError' } },
      { method: 'PUT', match: /partNumber=2&/, times: 1, fault: { kind: 'reset' } },
      // The server refuses the damaged part by its Content-MD5 (BadDigest); the part is read again and resent.
      { method: 'PUT', match: /partNumber=3&/, times: 1, fault: { kind: 'flip-request-byte', offset: 1000 } },
    ]);
    const result = await cli(['put', join(work.path, 'big.bin'), `s3://${bucket}/flaky/big.bin`]);
    expect(result.code).toBe(0);
    expect(proxy.faults()).toBe(4);
    expect(lastJson(result)).toMatchObject({ objects: [{ crc32: crc32Base64(big), etag: expect.stringMatching(/-5$/) }] });
  });

  it('a truncated and a reset download range are fetched again; the file is identical', async () => {
    proxy.setRules([
      { method: 'GET', match: /flaky\/big\.bin/, times: 1, fault: { kind: 'truncate-response', afterBytes: 100_000 } },
      { method: 'GET', match: /flaky\/big\.bin/, times: 1, fault: { kind: 'reset' } },
      { method: 'GET', match: /flaky\/big\.bin/, times: 1, fault: { kind: 'delay', ms: 300 } },
    ]);
    const target = join(work.path, 'down', 'big.bin');
    const result = await cli(['get', `s3://${bucket}/flaky/big.bin`, target]);
    expect(result.code).toBe(0);
    expect(proxy.faults()).toBe(3);
    expect(md5(readFileSync(target))).toBe(md5(big));
    noLeftovers(join(work.path, 'down'));
  });

  it('a download range whose Content-Range was damaged on the way is asked for again; the file is identical', async () => {
    proxy.setRules([{ method: 'GET', match: /flaky\/big\.bin/, times: 1, fault: { kind: 'flip-response-header', header: 'content-range', index: 8 } }]);
    const target = join(work.path, 'down-range', 'big.bin');
    const result = await cli(['get', `s3://${bucket}/flaky/big.bin`, target]);
    expect(proxy.faults()).toBe(1);
    expect(result.code).toBe(0);
    expect(md5(readFileSync(target))).toBe(md5(big));
    noLeftovers(join(work.path, 'down-range'));
  });

  it('an object replaced while its ranges are fetched fails the download (If-Match), leaving nothing at the target', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'moving/big.bin', Body: big }));
    // The first range goes through; the others are held at the proxy until the object is replaced,
    // so at least one range is asked for of the new object, whatever the timing.
    proxy.setRules([{ method: 'GET', match: /moving\/big\.bin/, skip: 1, fault: { kind: 'hold', gate: 'moving' } }]);
    const target = join(work.path, 'moving', 'big.bin');
    const running = cli(['get', `s3://${bucket}/moving/big.bin`, target]);
    let ended: string | undefined;
    void running.then((result) => (ended = `get ended before a range was held: ${result.code} ${result.stderr}`));
    await waitFor(() => proxy.held('moving') >= 1 || ended !== undefined, 'a range after the first held');
    expect(ended).toBeUndefined();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'moving/big.bin', Body: small }));
    proxy.release('moving');
    const result = await running;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the object changed on the server during the transfer');
    expect(existsSync(target)).toBe(false);
    noLeftovers(join(work.path, 'moving'));
  });

  it('a small file survives a reset, a 503 and a corrupted body on its PUT, and a cut and a reset on its GET', async () => {
    proxy.setRules([
      { method: 'PUT', match: /single\/small\.bin/, times: 1, fault: { kind: 'reset' } },
      { method: 'PUT', match: /single\/small\.bin/, times: 1, fault: { kind: 'status', status: 503, code: 'SlowDown' } },
      { method: 'PUT', match: /single\/small\.bin/, times: 1, fault: { kind: 'flip-request-byte', offset: 500 } },
      { method: 'GET', match: /single\/small\.bin/, times: 1, fault: { kind: 'truncate-response', afterBytes: 10_000 } },
      { method: 'GET', match: /single\/small\.bin/, times: 1, fault: { kind: 'reset' } },
    ]);
    const put = await cli(['put', join(work.path, 'small.bin'), `s3://${bucket}/single/small.bin`]);
    expect(put.code).toBe(0);
    expect(lastJson(put)).toMatchObject({ objects: [{ md5: md5(small), etag: md5(small) }] });
    const target = join(work.path, 'single-down', 'small.bin');
    const get = await cli(['get', `s3://${bucket}/single/small.bin`, target]);
    expect(get.code).toBe(0);
    expect(proxy.faults()).toBe(5);
    expect(md5(readFileSync(target))).toBe(md5(small));
    noLeftovers(join(work.path, 'single-down'));
  });

  it('a byte flipped in a download is caught by verification, and one fresh download repairs it', async () => {
    await cli(['put', join(work.path, 'small.bin'), `s3://${bucket}/flip/small.bin`]);
    proxy.setRules([{ method: 'GET', match: /flip\/small\.bin/, times: 1, fault: { kind: 'flip-response-byte', offset: 12_345 } }]);
    const target = join(work.path, 'flip-once', 'small.bin');
    const result = await cli(['get', `s3://${bucket}/flip/small.bin`, target]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/did not verify.*downloading it once more/);
    expect(md5(readFileSync(target))).toBe(md5(small));
  });

  it('small objects of a recursive get (received whole into memory) ride out a cut, a reset and a flipped byte', async () => {
    for (const name of ['a', 'b', 'c', 'd']) await cli(['put', join(work.path, 'small.bin'), `s3://${bucket}/tree/${name}.bin`]);
    proxy.setRules([
      { method: 'GET', match: /tree\/a\.bin/, times: 1, fault: { kind: 'truncate-response', afterBytes: 10_000 } },
      { method: 'GET', match: /tree\/b\.bin/, times: 1, fault: { kind: 'reset' } },
      { method: 'GET', match: /tree\/c\.bin/, times: 1, fault: { kind: 'flip-response-byte', offset: 54_321 } },
    ]);
    const directory = join(work.path, 'tree-down');
    const result = await cli(['get', '--recursive', `s3://${bucket}/tree/`, directory]);
    expect(result.code).toBe(0);
    expect(proxy.faults()).toBe(3);
    expect(result.stderr).toMatch(/tree\/c\.bin did not verify.*downloading it once more/);
    expect(lastJson<{ objects: Array<{ key: string; crc32: string }> }>(result).objects.map((object) => [object.key, object.crc32]).sort()).toEqual(
      ['a', 'b', 'c', 'd'].map((name) => [`tree/${name}.bin`, crc32Base64(small)]),
    );
    for (const name of ['a', 'b', 'c', 'd']) expect(md5(readFileSync(join(directory, `${name}.bin`)))).toBe(md5(small));
    noLeftovers(directory);
  });
});

describe('persistent faults end in exit 1, naming the object, leaving nothing corrupt', () => {
  it('a small object of a recursive get flipped on every download: exit 1 naming it, nothing at its path, the others arrive', async () => {
    for (const name of ['good', 'bad']) await cli(['put', join(work.path, 'small.bin'), `s3://${bucket}/mixed/${name}.bin`]);
    proxy.setRules([{ method: 'GET', match: /mixed\/bad\.bin/, fault: { kind: 'flip-response-byte', offset: 777 } }]);
    const directory = join(work.path, 'mixed-down');
    const result = await cli(['get', '--recursive', `s3://${bucket}/mixed/`, directory]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/datalake: failed: mixed\/bad\.bin: .*did not verify/);
    expect(readdirSync(directory)).toEqual(['good.bin']);
    expect(md5(readFileSync(join(directory, 'good.bin')))).toBe(md5(small));
  });

  it('a byte flipped in every download: exit 1, no file at the target, no temporary file', async () => {
    proxy.setRules([{ method: 'GET', match: /flaky\/big\.bin/, fault: { kind: 'flip-response-byte', offset: 1_000_003 } }]);
    const directory = join(work.path, 'flip-always');
    const result = await cli(['get', `s3://${bucket}/flaky/big.bin`, join(directory, 'big.bin')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/datalake: failed: flaky\/big\.bin: .*did not verify/);
    expect(existsSync(join(directory, 'big.bin'))).toBe(false);
    noLeftovers(directory);
  });

  it('an answer cut off mid-body on every attempt: cat, get and verify say, in one line, which request, object and endpoint', async () => {
    writeRandomFile(join(work.path, 'medium.bin'), 6 * MiB);
    proxy.setRules([]);
    for (const name of ['small', 'medium']) expect((await cli(['put', join(work.path, `${name}.bin`), `s3://${bucket}/cut/${name}.bin`])).code).toBe(0);
    proxy.setRules([{ method: 'GET', match: /\/cut\//, fault: { kind: 'truncate-response', afterBytes: 100_000 } }]);
    const url = (name: string) => `s3://${bucket}/cut/${name}.bin`;
    const runs: Array<[string[], string]> = [
      [['cat', url('small')], 'small'],
      [['get', url('small'), join(work.path, 'cut-down', 'small.bin')], 'small'],
      [['get', url('medium'), join(work.path, 'cut-down', 'medium.bin')], 'medium'],
      [['verify', url('medium')], 'medium'],
    ];
    for (const [args, name] of runs) {
      const result = await runCli([...args, '--retries', '0'], { env: proxied });
      expect(result.code, args.join(' ')).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0], args.join(' ')).toMatch(new RegExp(`^datalake: (error|failed: cut/${name}\\.bin): GET ${url(name)} at ${proxied.AWS_ENDPOINT_URL} failed: \\S`));
    }
    expect(proxy.faults('truncate-response')).toBeGreaterThanOrEqual(runs.length);
    noLeftovers(join(work.path, 'cut-down'));
  });

  it('a server failing every PUT of one file: exit 1 naming it; the other files arrive; no object for it', async () => {
    proxy.setRules([{ method: 'PUT', match: /doomed\/small\.bin/, fault: { kind: 'status', status: 500, code: 'InternalError' } }]);
    const result = await runCli(['put', join(work.path, 'small.bin'), `s3://${bucket}/doomed/small.bin`, '--retries', '2', '--json'], { env: proxied });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/small\.bin: InternalError/);
    expect(proxy.faults()).toBe(3);
    expect(await listKeys(client, bucket, 'doomed/')).toEqual([]);
  });

  it('a multipart upload that keeps failing leaves no object, and its parts are resumed by the next run', async () => {
    proxy.setRules([{ method: 'PUT', match: /partNumber=4&/, fault: { kind: 'status', status: 503, code: 'ServiceUnavailable' } }]);
    // One part at a time, so which parts reached the server before part 4 gave up does not depend on timing.
    const failed = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/stuck/big.bin`, '--retries', '1', '--concurrency', '1', '--json'], { env: proxied });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/run the same command again to resume/);
    expect(await listKeys(client, bucket, 'stuck/')).toEqual([]);
    proxy.setRules([]);
    const resumed = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/stuck/big.bin`, '--json'], { env: proxied });
    expect(resumed.code).toBe(0);
    expect(lastJson<{ objects: Array<{ partsReused: number; crc32: string }> }>(resumed).objects[0]).toMatchObject({ crc32: crc32Base64(big), partsReused: 3 });
    expect(await incompleteUploads()).toBe(0);
  });
});

describe('run-time configuration errors end quickly, with no retry storm', () => {
  // Both bodies are more than MinIO reads of one it refuses (256 KiB): it answers from the headers and
  // closes the connection without reading the rest (0.5 s later, with a reset). 4 MiB (still one PUT)
  // is more than the connection holds, so datalake is still sending when the answer comes; 300 KB is
  // mostly all sent by then. Either way the answer is the result: the credentials message, after one
  // request, neither a broken connection (EPIPE, ECONNRESET) nor the upload sent again.
  /** Exit 1 and the one line a refused key gives, naming the endpoint that refused it. */
  const expectCredentialsRefused = (result: { code: number | null; stderr: string }, endpoint: string) => {
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `datalake: error: the server at ${endpoint} rejected the credentials (InvalidAccessKeyId) (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile)`,
    );
  };
  it.each([
    ['300 KB', 'small.bin'],
    ['4 MiB', 'four-mib.bin'],
  ])('wrong credentials (%s): exit 1 after one request, saying what to check, without the secret', async (_size, name) => {
    proxy.setRules([]);
    const secret = 'wrong-secret-Zq8vLk3';
    const result = await runCli(['put', join(work.path, name), `s3://${bucket}/creds/${name}`], {
      env: { ...proxied, AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: secret },
    });
    expect(result.stdout + result.stderr).not.toContain(secret);
    if (!inject('s3').capabilities.checksSignatures) {
      // A server that checks no credentials (moto) takes the upload: nothing for datalake to report.
      expect(result.code).toBe(0);
      return;
    }
    expectCredentialsRefused(result, proxied.AWS_ENDPOINT_URL!);
    expect(proxy.log).toHaveLength(1);
  });

  it('wrong credentials, straight to the server (no proxy), on an upload it refuses from its headers: its answer, sent once', async () => {
    // As a user meets the server: 4 MiB, refused while datalake is still sending it (above). Without
    // the proxy nothing counts requests; the log shows none retried.
    const secret = 'wrong-secret-Zq8vLk3';
    const logFile = join(work.path, 'refused.log');
    const env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB', AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: secret });
    const result = await runCli(['put', join(work.path, 'four-mib.bin'), `s3://${bucket}/creds/direct.bin`, '--log-file', logFile, '--log-level', 'warn'], { env });
    expect(result.stdout + result.stderr).not.toContain(secret);
    if (!inject('s3').capabilities.checksSignatures) {
      expect(result.code).toBe(0);
      return;
    }
    expectCredentialsRefused(result, env.AWS_ENDPOINT_URL!);
    const retries = readFileSync(logFile, 'utf8').trim().split('\n').filter((line) => (JSON.parse(line) as { msg?: string }).msg === 'retrying');
    expect(retries).toEqual([]);
  });

  it('a wrong secret names the endpoint that refused it: ls (SignatureDoesNotMatch), and get, whose HEAD answer gives no reason', async () => {
    if (!inject('s3').capabilities.checksSignatures) return;
    const env = { ...proxied, AWS_SECRET_ACCESS_KEY: 'wrong-secret' };
    const listed = await runCli(['ls', `s3://${bucket}/`], { env });
    expect(listed.code).toBe(1);
    expect(listed.stderr.trim()).toBe(
      `datalake: error: the server at ${proxied.AWS_ENDPOINT_URL} rejected the credentials (SignatureDoesNotMatch) (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile)`,
    );
    const got = await runCli(['get', `s3://${bucket}/nothing-needed.bin`, join(work.path, 'never.bin')], { env });
    expect(got.code).toBe(1);
    expect(got.stderr.trim().split('\n')).toHaveLength(1);
    expect(got.stderr).toContain(`the server at ${proxied.AWS_ENDPOINT_URL} refused the request '${bucket}' (HTTP 403, no reason given)`);
  });

  it('an unreachable endpoint: exit 1 with a line naming it', async () => {
    const result = await runCli(['ls', `s3://${bucket}/`], { env: { ...proxied, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' } });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('datalake: error: cannot connect to http://127.0.0.1:9: connection refused (is the server running? check --endpoint / AWS_ENDPOINT_URL)');
  });
});
