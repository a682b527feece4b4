/**
 * The test bed of issue 15's acceptance tests (test/support/testbed.ts) holds what it claims, checked
 * with tools other than datalake: curl through tinyproxy to a TLS MinIO trusting the suite's CA, a
 * virtual-hosted bucket name resolving to loopback, libfaketime reaching Node, a credential_process
 * that hands out expiring keys, so that a failure of the bed is not read as a failure of datalake.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY, startMinio, type RunningMinio } from '../../scripts/lib/minio.js';
import { tempDirectory } from '../support/harness.js';
import { closedPortEndpoint, makeCertificates, startTinyproxy, writeCredentialProcess, type RunningProxy, type TestCertificates } from '../support/testbed.js';

const work = tempDirectory('testbed');
let certificates: TestCertificates;
let secure: RunningMinio;
let proxy: RunningProxy;

beforeAll(async () => {
  certificates = makeCertificates(join(work.path, 'tls'));
  [secure, proxy] = await Promise.all([startMinio({ tls: certificates, domain: 's3.localhost', region: 'eu-west-1' }), startTinyproxy(join(work.path, 'proxy'))]);
});
afterAll(async () => {
  await Promise.all([secure?.stop(), proxy?.stop()]);
  work.remove();
});

const curl = (args: string[]) => spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', certificates.caFile, ...args], { encoding: 'utf8' });

it('MinIO serves TLS with the suite CA; a client without that CA refuses it', () => {
  expect(secure.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  expect(curl([`${secure.endpoint}/minio/health/ready`]).stdout).toBe('200');
  const untrusted = spawnSync('curl', ['-sS', '-o', '/dev/null', `${secure.endpoint}/minio/health/ready`], { encoding: 'utf8' });
  expect(untrusted.status).toBe(60);
});

it('tinyproxy logs a CONNECT and a plain-HTTP request line', async () => {
  proxy.clear();
  expect(curl(['-x', proxy.url, `${secure.endpoint}/minio/health/ready`]).stdout).toBe('200');
  // Nothing listens there: tinyproxy answers 500, and has logged the request line first.
  const closed = await closedPortEndpoint();
  expect(curl(['-x', proxy.url, `${closed}/lake/key`]).stdout).toBe('500');
  expect(proxy.requests()).toEqual([`CONNECT ${new URL(secure.endpoint).host}`, `GET ${closed}/lake/key`]);
});

it('a virtual-hosted bucket name under s3.localhost resolves to loopback for Node and the certificate covers it', async () => {
  const addresses = await lookup('lake.s3.localhost', { all: true });
  expect(addresses.map((entry) => entry.address)).toContain('127.0.0.1');
  const port = new URL(secure.endpoint).port;
  const result = curl(['--resolve', `lake.s3.localhost:${port}:127.0.0.1`, `https://lake.s3.localhost:${port}/`]);
  expect(result.stderr).toBe('');
});

it.each([
  ['-1h', -60],
  ['+1h', 60],
])('faketime %s reaches Node', (offset, minutes) => {
  const faked = Number(execFileSync('faketime', ['-f', offset, process.execPath, '-e', 'process.stdout.write(String(Date.now()))'], { encoding: 'utf8' }));
  expect(Math.round((faked - Date.now()) / 60_000)).toBe(minutes);
});

it('the credential_process hands out keys that expire, and records each call', () => {
  const process_ = writeCredentialProcess(join(work.path, 'credentials'), { accessKeyId: DEV_ACCESS_KEY, secretAccessKey: DEV_SECRET_KEY }, 30);
  const [command, ...args] = process_.command.split(' ');
  const printed = JSON.parse(execFileSync(command!, args, { encoding: 'utf8' })) as { Version: number; AccessKeyId: string; Expiration: string };
  expect(printed).toMatchObject({ Version: 1, AccessKeyId: DEV_ACCESS_KEY });
  expect(Math.round((Date.parse(printed.Expiration) - Date.now()) / 1000)).toBeGreaterThan(20);
  expect(process_.calls()).toHaveLength(1);
});
