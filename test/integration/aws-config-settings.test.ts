/**
 * What datalake sends, and where, is what the user's AWS configuration says, and its messages name
 * what failed: user metadata S3 can carry (ASCII, as boto3 insists) checked before any request; the
 * endpoint given on the command line is the one tried and named; refused credentials are called
 * that; and temporary credentials from a profile's `credential_process` are refreshed before they
 * expire, by one provider shared by the SDK client and the direct path. Moved here from issue 15's
 * acceptance tests (test/acceptance/aws-config.test.ts) once they passed, with a few more of the kind.
 *
 * The credentials' expiry is driven by the clock, not by waiting: the CLI runs under libfaketime with
 * its clock read from a file (FAKETIME_TIMESTAMP_FILE, re-read on every call), and the test moves that
 * clock forward while the fault proxy holds one upload, so the run's later requests see credentials
 * the SDK must refresh: in the background inside their last five minutes (the SDK's credential chain
 * goes on with the valid ones meanwhile), at once past their expiry. Monotonic time is left real, so
 * no timer of the run fires early.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy, type FaultRule } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, listKeys, s3Env, tempDirectory, testClient, waitFor } from '../support/harness.js';
import { closedPortEndpoint, runCliWith, writeAwsConfig, writeCredentialProcess, type CredentialProcess } from '../support/testbed.js';

let client: S3Client;
let bucket: string;
const work = tempDirectory('aws-config-settings');
const emptyConfig = join(work.path, 'empty-config');
const small = join(work.path, 'small.txt');
const tree = join(work.path, 'tree');

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'awsconfig');
  writeFileSync(emptyConfig, '');
  writeFileSync(small, 'hello lake\n');
  mkdirSync(tree);
  for (let i = 0; i < 3; i += 1) writeFileSync(join(tree, `f${i}.txt`), `file ${i}\n`);
});

afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** The test server's keys, region and endpoint, and no shared config of this machine. */
const userEnv = (extra: Record<string, string | undefined> = {}) =>
  s3Env({ HOME: work.path, AWS_CONFIG_FILE: emptyConfig, AWS_SHARED_CREDENTIALS_FILE: emptyConfig, AWS_EC2_METADATA_DISABLED: 'true', ...extra });
const run = (args: string[], env: NodeJS.ProcessEnv) => runCliWith(args, { env, cwd: work.path, killAfterMs: 120_000 });
const unique = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;
const hostOf = (endpoint: string) => new URL(endpoint).host;

function expectOneLine(stderr: string): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(/^datalake: /);
}

describe('user metadata: ASCII only, checked before any request (as boto3 checks it)', () => {
  // Sent raw, a non-ASCII value was signed as UTF-8 and sent as latin1 (refused as bad credentials),
  // or threw a raw TypeError. S3 stores only ASCII in a header; boto3 refuses the rest up front.
  it.each(['uni=héllo', 'uni=日本'])('put --meta %s: exit 2, one line naming the entry, nothing uploaded', async (meta) => {
    const key = `${unique('meta')}/small.txt`;
    const result = await run(['put', small, `s3://${bucket}/${key}`, '--meta', meta], userEnv());
    expect(result.code).toBe(2);
    expectOneLine(result.stderr);
    expect(result.stderr).toContain('uni');
    expect(result.stderr).toMatch(/ASCII/);
    expect(result.stderr).not.toMatch(/credential|TypeError/i);
    expect(await listKeys(client, bucket, key)).toEqual([]);
  });

  it('sync up with non-ASCII --meta: exit 2, nothing uploaded', async () => {
    const prefix = unique('meta-sync');
    const result = await run(['sync', tree, `s3://${bucket}/${prefix}/`, '--meta', 'owner=zoë'], userEnv());
    expect(result.code).toBe(2);
    expectOneLine(result.stderr);
    expect(result.stderr).toContain('owner');
    expect(await listKeys(client, bucket, `${prefix}/`)).toEqual([]);
  });

  it('cp with non-ASCII --meta: exit 2, no copy made', async () => {
    const source = `${unique('meta-cp')}/source.txt`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: source, Body: 'x' }));
    const target = `${unique('meta-cp')}/copy.txt`;
    const result = await run(['cp', `s3://${bucket}/${source}`, `s3://${bucket}/${target}`, '--meta', 'city=Kraków'], userEnv());
    expect(result.code).toBe(2);
    expectOneLine(result.stderr);
    expect(result.stderr).toContain('city');
    expect(await listKeys(client, bucket, target)).toEqual([]);
  });

  it('a non-ASCII --content-type: exit 2, nothing uploaded', async () => {
    const key = `${unique('type')}/small.txt`;
    const result = await run(['put', small, `s3://${bucket}/${key}`, '--content-type', 'text/plain; title=résumé'], userEnv());
    expect(result.code).toBe(2);
    expectOneLine(result.stderr);
    expect(result.stderr).toContain('content-type');
    expect(await listKeys(client, bucket, key)).toEqual([]);
  });

  it('ASCII metadata still goes up, and reads back as sent', async () => {
    const key = `${unique('meta-ok')}/small.txt`;
    const result = await run(['put', small, `s3://${bucket}/${key}`, '--meta', 'owner=etl team', '--json'], userEnv());
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const stat = await run(['stat', `s3://${bucket}/${key}`, '--json'], userEnv());
    expect(JSON.parse(stat.stdout).metadata).toMatchObject({ owner: 'etl team' });
  });
});

describe('messages name what actually failed', () => {
  it('--endpoint on the command line beats the environment in what is tried and named', async () => {
    const [fromEnvironment, fromFlag] = [await closedPortEndpoint('127.0.0.2'), await closedPortEndpoint('127.0.0.3')];
    const env = userEnv({ AWS_ENDPOINT_URL: fromEnvironment });
    const commands: Record<string, string[]> = {
      put: ['put', small, 's3://lake/flag/small.txt'],
      ls: ['ls', 's3://lake/'],
      sync: ['sync', tree, 's3://lake/flag/'],
      init: ['init', 'lake'],
      presign: ['presign', 's3://lake/flag/small.txt'],
    };
    const outcome: Record<string, { code: number | null; namesFlag: boolean; namesEnvironment: boolean }> = {};
    for (const [name, args] of Object.entries(commands)) {
      const result = await run([...args, '--endpoint', fromFlag, '--retries', '0'], env);
      outcome[name] = { code: result.code, namesFlag: result.stderr.includes(hostOf(fromFlag)), namesEnvironment: result.stderr.includes(hostOf(fromEnvironment)) };
    }
    const expected = { code: 1, namesFlag: true, namesEnvironment: false };
    expect(outcome).toEqual(Object.fromEntries(Object.keys(commands).map((name) => [name, expected])));
  });

  it('init with a wrong secret says the credentials were refused, not that the bucket belongs to another account', async () => {
    const result = await run(['init', bucket], userEnv({ AWS_SECRET_ACCESS_KEY: 'not-the-secret' }));
    expect(result.code).toBe(1);
    expectOneLine(result.stderr);
    expect(result.stderr).not.toMatch(/another account/i);
    expect(result.stderr).toMatch(/credential|secret|signature/i);
  });
});

describe('settings no request could succeed with: exit 2, one line, before any request', () => {
  it('an S3 Express One Zone directory bucket, in any command', async () => {
    for (const args of [['ls', 's3://lake--usw2-az1--x-s3/'], ['put', small, 's3://lake--usw2-az1--x-s3/k.txt'], ['presign', 's3://lake--usw2-az1--x-s3/k.txt']]) {
      const result = await run(args, userEnv());
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expectOneLine(result.stderr);
      expect(result.stderr).toContain('S3 Express One Zone directory bucket');
    }
  });

  it('a custom endpoint with AWS_USE_FIPS_ENDPOINT=true', async () => {
    const result = await run(['ls', `s3://${bucket}/`], userEnv({ AWS_USE_FIPS_ENDPOINT: 'true' }));
    expect(result.code).toBe(2);
    expectOneLine(result.stderr);
    expect(result.stderr).toMatch(/custom endpoint .* cannot be combined with FIPS/);
  });
});

/** libfaketime, preloaded with its clock read from `specFile` on every call; monotonic time left real. */
function fakeClockEnv(specFile: string): Record<string, string> {
  const listed = spawnSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8' }).stdout ?? '';
  const library = listed.split('\n').find((line) => line.endsWith('/libfaketime.so.1'));
  if (!library) throw new Error('libfaketime is not installed (the pretest step installs faketime)');
  return { LD_PRELOAD: library, FAKETIME_TIMESTAMP_FILE: specFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

describe('temporary credentials from a profile', () => {
  /** A profile `prod` with the region, the endpoint (the fault proxy) and a credential_process; no keys in the environment. */
  function profileEnv(name: string, endpoint: string, command: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const config = writeAwsConfig(join(work.path, `${name}.config`), { profiles: { prod: { region: inject('s3').region, endpoint_url: endpoint, credential_process: command } } });
    return userEnv({ AWS_CONFIG_FILE: config, AWS_PROFILE: 'prod', AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_REGION: undefined, AWS_ENDPOINT_URL: undefined, ...extra });
  }
  const s3 = () => inject('s3');

  /**
   * A sync of eight small files at concurrency 1, through the fault proxy, under a faked clock, with
   * credentials of six minutes' life from a profile's credential_process; its fifth upload held
   * (gate 'clock') until the test moves the clock `forward`, and `moreRules` on top. A stale object
   * makes --delete send a DeleteObjects: through the SDK client, the uploads through the direct path.
   */
  async function syncAcrossAClockJump(name: string, forward: string, moreRules: FaultRule[], whileRunning: (proxy: FaultProxy, credentials: CredentialProcess) => Promise<void>) {
    const credentials = writeCredentialProcess(join(work.path, `${name}-credentials`), { accessKeyId: s3().accessKeyId, secretAccessKey: s3().secretAccessKey }, 6 * 60);
    const clock = join(work.path, `${name}.clock`);
    writeFileSync(clock, '+0\n');
    const proxy = new FaultProxy(s3().endpoint!);
    const endpoint = await proxy.start();
    const local = join(work.path, `${name}-files`);
    mkdirSync(local);
    for (let i = 0; i < 8; i += 1) writeFileSync(join(local, `part-${i}.txt`), `part ${i}\n`);
    const prefix = unique(name);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/stale.txt`, Body: 'old' }));
    proxy.setRules([{ method: 'PUT', skip: 4, times: 1, fault: { kind: 'hold', gate: 'clock' } }, ...moreRules]);
    try {
      const running = run(['sync', local, `s3://${bucket}/${prefix}/`, '--delete', '--concurrency', '1'], profileEnv(name, endpoint, credentials.command, fakeClockEnv(clock)));
      await waitFor(() => proxy.held('clock') === 1, 'the fifth upload held');
      expect(credentials.calls()).toHaveLength(1);
      // Replaced whole (rename), so the CLI never reads a half-written clock.
      writeFileSync(`${clock}.next`, `${forward}\n`);
      renameSync(`${clock}.next`, clock);
      proxy.release('clock');
      await whileRunning(proxy, credentials);
      const result = await running;
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(proxy.log.filter((entry) => entry.method === 'PUT')).toHaveLength(8);
      expect((await listKeys(client, bucket, `${prefix}/`)).sort()).toEqual([...Array(8).keys()].map((i) => `${prefix}/part-${i}.txt`));
      return credentials.calls();
    } finally {
      await proxy.stop();
    }
  }

  it('a sync longer than their lifetime waits for fresh ones once they expire: the process is asked again once, for both paths', async () => {
    // Seven minutes on: the first credentials have expired, so the next request's signing waits for new ones.
    const calls = await syncAcrossAClockJump('expired', '+7m', [], async () => {});
    expect(calls).toHaveLength(2);
    expect(Date.parse(calls[1]!.at)).toBeGreaterThan(Date.parse(calls[0]!.expiration));
  });

  it('credentials inside their last five minutes are refreshed before they expire: asked again once', async () => {
    // Two minutes on: four minutes of life left, inside the SDK's five-minute window, so the sixth
    // upload's signing starts a refresh (the SDK's chain goes on with the still-valid credentials
    // meanwhile). The seventh upload waits (gate 'refreshing') until that refresh has asked the
    // process, so the run cannot end before it. Rules match first to last and the fifth PUT is the
    // 'clock' rule's, so this rule's sixth match (skip 5) is the seventh PUT.
    const calls = await syncAcrossAClockJump('window', '+2m', [{ method: 'PUT', skip: 5, times: 1, fault: { kind: 'hold', gate: 'refreshing' } }], async (proxy, credentials) => {
      await waitFor(() => proxy.held('refreshing') === 1, 'the seventh upload held');
      await waitFor(() => credentials.calls().length === 2, 'the credential process asked again');
      proxy.release('refreshing');
    });
    expect(calls).toHaveLength(2);
    expect(Date.parse(calls[1]!.at)).toBeLessThan(Date.parse(calls[0]!.expiration));
    expect(Date.parse(calls[0]!.expiration) - Date.parse(calls[1]!.at)).toBeLessThan(5 * 60_000);
  });

  it('credentials that stay valid are asked for once per run, though both the SDK client and the direct path sign', async () => {
    const credentials = writeCredentialProcess(join(work.path, 'once'), { accessKeyId: s3().accessKeyId, secretAccessKey: s3().secretAccessKey }, 3600);
    const prefix = unique('once');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/stale.txt`, Body: 'old' }));
    const result = await run(['sync', tree, `s3://${bucket}/${prefix}/`, '--delete'], profileEnv('once', s3().endpoint!, credentials.command));
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(credentials.calls()).toHaveLength(1);
    expect((await listKeys(client, bucket, `${prefix}/`)).sort()).toEqual(['f0.txt', 'f1.txt', 'f2.txt'].map((name) => `${prefix}/${name}`));
  });
});
