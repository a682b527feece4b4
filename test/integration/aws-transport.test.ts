/**
 * The request path on the setups AWS users have: a forward proxy (HTTP_PROXY, HTTPS_PROXY with
 * CONNECT, NO_PROXY), a private CA (AWS_CA_BUNDLE, the profile's ca_bundle), FIPS and dual-stack hosts,
 * a clock an hour off, an endpoint that never answers, an endpoint that speaks plain http, an answer
 * that never ends, a transfer that stalls. Moved here from issue 15's acceptance tests
 * (test/acceptance/aws-config.test.ts) once they passed, with a few more of the same kind.
 *
 * Everything on the wire is real, started by this file: MinIO plain and over TLS (region eu-west-1,
 * virtual-hosted domain s3.localhost), Debian's tinyproxy with its own log, libfaketime, a listener
 * that accepts and never answers, and the fault proxy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMinio, type RunningMinio } from '../../scripts/lib/minio.js';
import { LIST_PAGE_LIMIT } from '../../src/core/s3/requests.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { tempDirectory } from '../support/harness.js';
import { makeCertificates, startSilentListener, startTinyproxy, type RunningProxy, type SilentListener, type TestCertificates } from '../support/testbed.js';
import { allSucceeded, awsUser, sdkEndpoint } from '../support/aws-user.js';

const REGION = 'eu-west-1';
const DOMAIN = 's3.localhost';
/** How long the issue lets a command wait on an endpoint that never answers. */
const NO_ANSWER_LIMIT_MS = 30_000;
/**
 * README, Time limits: an endpoint that has not answered gets 10 s to accept the connection and 20 s
 * of silence on the first request; past that the run ends, exit 1, with one line naming it.
 */
const FIRST_ANSWER_LIMIT_MS = 20_000;
/**
 * The longest a command may take from the accepted connection to its exit: the limit, its check up to
 * a second late (one coarse timer, deadlines.ts), and 5 s for a loaded machine to deliver the timer,
 * write the line, exit and tell this process. Under the 30 s; a retry would take 40 s.
 */
const NO_ANSWER_BOUND_MS = FIRST_ANSWER_LIMIT_MS + 1_000 + 5_000;

const work = tempDirectory('aws-transport');
let plain: RunningMinio;
let secure: RunningMinio;
let certificates: TestCertificates;
let proxy: RunningProxy;
let silent: SilentListener;
let plainBucket: string;
let secureBucket: string;
const { sdkClient, createBucket, userEnv, run, configFile, profileKeys, profileEnv, unique, roundTrip } = awsUser(work.path, { region: REGION, caPem: () => certificates.caPem });

beforeAll(async () => {
  certificates = makeCertificates(join(work.path, 'tls'));
  [plain, secure, proxy, silent] = await Promise.all([
    startMinio({ region: REGION, domain: DOMAIN }),
    startMinio({ region: REGION, domain: DOMAIN, tls: certificates }),
    startTinyproxy(join(work.path, 'proxy')),
    startSilentListener(),
  ]);
  plainBucket = await createBucket(plain.endpoint);
  secureBucket = await createBucket(secure.endpoint);
  writeFileSync(join(work.path, 'small.txt'), 'hello lake\n');
  mkdirSync(join(work.path, 'tree'));
  for (let i = 0; i < 3; i += 1) writeFileSync(join(work.path, 'tree', `f${i}.txt`), `file ${i}\n`);
});

afterAll(async () => {
  await Promise.all([plain?.stop(), secure?.stop(), proxy?.stop(), silent?.stop()]);
  work.remove();
});

const hostOf = (endpoint: string) => new URL(endpoint).host;

describe('FIPS and dual-stack: every request goes where the SDK would send it', () => {
  it.each([
    ['AWS_USE_FIPS_ENDPOINT', { UseFIPS: true }],
    ['AWS_USE_DUALSTACK_ENDPOINT', { UseDualStack: true }],
  ] as const)('%s=true: the proxy sees only the host the SDK resolver builds', async (variable, setting) => {
    const bucket = 'datalake-acceptance-lake';
    const expected = `${new URL(await sdkEndpoint({ Bucket: bucket, Region: 'us-east-1', ...setting })).hostname}:443`;
    const env = userEnv({ AWS_REGION: 'us-east-1', [variable]: 'true', HTTPS_PROXY: proxy.url });
    proxy.clear();
    // The proxy cannot reach AWS from the test machine (or AWS refuses the dev keys): only the host matters here.
    await run(['put', join(work.path, 'small.txt'), `s3://${bucket}/fips/small.txt`, '--retries', '0'], env);
    await run(['ls', `s3://${bucket}/fips/`, '--retries', '0'], env);
    const presigned = await run(['presign', `s3://${bucket}/fips/small.txt`, '--no-check'], env);
    expect(new URL(presigned.stdout.trim()).hostname).toBe(expected.replace(/:443$/, ''));
    const connects = proxy.requests().filter((line) => line.startsWith('CONNECT '));
    expect(connects.length).toBeGreaterThanOrEqual(2);
    expect(new Set(connects)).toEqual(new Set([`CONNECT ${expected}`]));
  });
});

describe('behind a forward proxy', () => {
  it('HTTP_PROXY carries put, get, ls, presign, sync and init to a plain-http endpoint, as the proxy log shows', async () => {
    const env = userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: plain.endpoint, HTTP_PROXY: proxy.url, http_proxy: proxy.url });
    const seen: Record<string, number> = {};
    const through = async (name: string, args: string[]) => {
      proxy.clear();
      const result = await run(args, env);
      seen[name] = proxy.requests().filter((line) => line.includes(`http://${hostOf(plain.endpoint)}/`)).length;
      expect({ name, code: result.code }).toEqual({ name, code: 0 });
    };
    const key = `${unique('proxied')}/small.txt`;
    await through('put', ['put', join(work.path, 'small.txt'), `s3://${plainBucket}/${key}`]);
    await through('get', ['get', `s3://${plainBucket}/${key}`, join(work.path, `${unique('back')}.txt`)]);
    await through('ls', ['ls', `s3://${plainBucket}/${key.split('/')[0]}/`]);
    await through('presign', ['presign', `s3://${plainBucket}/${key}`]);
    await through('sync', ['sync', join(work.path, 'tree'), `s3://${plainBucket}/${unique('synced')}/`]);
    await through('init', ['init', unique('proxied-init')]);
    expect(Object.entries(seen).filter(([, count]) => count === 0).map(([name]) => name)).toEqual([]);
  });

  it('HTTPS_PROXY carries put, get, ls, presign, sync and init to a TLS endpoint with CONNECT', async () => {
    const env = userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: secure.endpoint, AWS_CA_BUNDLE: certificates.caFile, HTTPS_PROXY: proxy.url });
    proxy.clear();
    const result = await roundTrip(secure.endpoint, secureBucket, env);
    expect(result.outcome).toEqual(allSucceeded);
    expect(proxy.requests().filter((line) => line === `CONNECT ${hostOf(secure.endpoint)}`).length).toBeGreaterThanOrEqual(4);
    const connects: Record<string, { code: number | null; connects: number }> = {};
    for (const [name, args] of [
      ['sync', ['sync', join(work.path, 'tree'), `s3://${secureBucket}/${unique('synced')}/`]],
      ['init', ['init', unique('proxied-init')]],
    ] as const) {
      proxy.clear();
      const ran = await run([...args], env);
      connects[name] = { code: ran.code, connects: proxy.requests().filter((line) => line === `CONNECT ${hostOf(secure.endpoint)}`).length };
    }
    expect(Object.values(connects).every((seen) => seen.code === 0 && seen.connects >= 1), JSON.stringify(connects)).toBe(true);
  });

  it('NO_PROXY sends them around the proxy', async () => {
    const env = userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: plain.endpoint, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
    proxy.clear();
    const result = await roundTrip(plain.endpoint, plainBucket, env);
    expect(result.outcome).toEqual(allSucceeded);
    expect(proxy.requests()).toEqual([]);
  });
});

describe('TLS with a private CA', () => {
  it('AWS_CA_BUNDLE makes the CA trusted', async () => {
    const env = userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: secure.endpoint, AWS_CA_BUNDLE: certificates.caFile });
    const result = await roundTrip(secure.endpoint, secureBucket, env);
    expect(result.outcome).toEqual(allSucceeded);
    expect(result.stored).toBe(true);
  });

  it("a profile's ca_bundle makes the CA trusted", async () => {
    const config = configFile('ca', { profiles: { prod: { ...profileKeys, region: REGION, endpoint_url: secure.endpoint, ca_bundle: certificates.caFile } } });
    const result = await roundTrip(secure.endpoint, secureBucket, profileEnv(config));
    expect(result.outcome).toEqual(allSucceeded);
  });

  it('without it the certificate is refused: exit 1, one line naming the endpoint and the certificate', async () => {
    const result = await run(['ls', `s3://${secureBucket}/`], userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: secure.endpoint }));
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(hostOf(secure.endpoint));
    expect(result.stderr).toMatch(/certificate/i);
  });

  it('a CA bundle that cannot be read is bad configuration: exit 2, one line naming it and where it was set', async () => {
    const missing = join(work.path, 'no-such-ca.pem');
    const result = await run(['ls', `s3://${secureBucket}/`], userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: secure.endpoint, AWS_CA_BUNDLE: missing }));
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(missing);
    expect(result.stderr).toContain('AWS_CA_BUNDLE');
  });

  it('addressing_style = virtual in the profile sends bucket.s3.localhost, as the proxy log shows', async () => {
    const endpoint = `https://${DOMAIN}:${new URL(secure.endpoint).port}`;
    const config = configFile('virtual', { profiles: { prod: { ...profileKeys, region: REGION, endpoint_url: endpoint, ca_bundle: certificates.caFile, s3: { addressing_style: 'virtual' } } } });
    proxy.clear();
    const result = await roundTrip(secure.endpoint, secureBucket, profileEnv(config, { HTTPS_PROXY: proxy.url }));
    expect(result.outcome).toEqual(allSucceeded);
    const connects = proxy.requests().filter((line) => line.startsWith('CONNECT '));
    expect(connects.length).toBeGreaterThanOrEqual(4);
    expect(new Set(connects)).toEqual(new Set([`CONNECT ${secureBucket}.${DOMAIN}:${new URL(secure.endpoint).port}`]));
  });

  it('https:// to a plain-http server: "the endpoint speaks plain http: use http://…"', async () => {
    const wrong = plain.endpoint.replace('http://', 'https://');
    const result = await run(['ls', `s3://${plainBucket}/`, '--endpoint', wrong], userEnv({ AWS_REGION: REGION }));
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('the endpoint speaks plain http');
    expect(result.stderr).toContain(`use ${plain.endpoint}`);
  });
});

describe('a clock an hour off (libfaketime; MinIO keeps the real time)', () => {
  it.each(['-1h', '+1h'])('faketime %s: every command succeeds (init, put, get, ls, presign, sync, stat, cat, verify, cp, mv, rm, uploads ls), and the presigned URL works on the real clock', async (offset) => {
    const env = userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: plain.endpoint });
    const result = await roundTrip(plain.endpoint, plainBucket, env, { faketime: offset });
    const object = `s3://${plainBucket}/${result.key}`;
    const copied = `s3://${plainBucket}/${unique('copied')}/small.txt`;
    const moved = `s3://${plainBucket}/${unique('moved')}/small.txt`;
    const others: Record<string, string[]> = {
      init: ['init', unique('skewed-init')],
      sync: ['sync', join(work.path, 'tree'), `s3://${plainBucket}/${unique('skewed')}/`],
      stat: ['stat', object],
      cat: ['cat', object],
      verify: ['verify', object],
      cp: ['cp', object, copied],
      mv: ['mv', copied, moved],
      rm: ['rm', moved],
      'uploads ls': ['uploads', 'ls', `s3://${plainBucket}/`],
    };
    const outcome: Record<string, { code: number | null; error: string }> = {};
    for (const [name, args] of Object.entries(others)) {
      const ran = await run(args, env, { faketime: offset });
      outcome[name] = { code: ran.code, error: ran.code === 0 ? '' : ran.stderr.trim() };
    }
    expect({ ...result.outcome, ...outcome }).toEqual({ ...allSucceeded, ...Object.fromEntries(Object.keys(others).map((name) => [name, { code: 0, error: '' }])) });
    // presign checked the object first: it learnt the server's time, and dated the URL by it.
    const fetched = await fetch(result.presignedUrl);
    expect({ status: fetched.status, body: await fetched.text() }).toEqual({ status: 200, body: 'hello lake\n' });
  });
});

describe('a clock an hour off with --retries 0', () => {
  it('the correction from the server\'s Date is not a policy retry: put, get and ls still succeed', async () => {
    const env = userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: plain.endpoint, DATALAKE_RETRIES: undefined });
    const key = `${unique('skew0')}/small.txt`;
    const put = await run(['--retries', '0', 'put', join(work.path, 'small.txt'), `s3://${plainBucket}/${key}`], env, { faketime: '-1h' });
    const get = await run(['--retries', '0', 'get', `s3://${plainBucket}/${key}`, join(work.path, `${unique('back')}.txt`)], env, { faketime: '-1h' });
    const ls = await run(['--retries', '0', 'ls', `s3://${plainBucket}/${key.split('/')[0]}/`], env, { faketime: '+1h' });
    expect([put, get, ls].map((result) => ({ code: result.code, error: result.code === 0 ? '' : result.stderr.trim() }))).toEqual([
      { code: 0, error: '' }, { code: 0, error: '' }, { code: 0, error: '' },
    ]);
  });
});

describe('time limits', () => {
  it(`an endpoint that accepts connections and never answers: every command ends within ${NO_ANSWER_BOUND_MS / 1000} s of its connection being accepted (the ${FIRST_ANSWER_LIMIT_MS / 1000} s limit, under the ${NO_ANSWER_LIMIT_MS / 1000} s allowed), exit 1, one line naming the endpoint and the limit`, async () => {
    // Each command its own listener, so each one's time is counted from when its own connection was
    // accepted: six processes starting at once on a loaded machine take seconds to reach their first
    // request, and that start-up is not the endpoint's wait.
    const commands: Record<string, string[]> = {
      put: ['put', join(work.path, 'small.txt'), 's3://lake/silent/small.txt'],
      get: ['get', 's3://lake/silent/small.txt', join(work.path, 'silent.txt')],
      ls: ['ls', 's3://lake/'],
      sync: ['sync', join(work.path, 'tree'), 's3://lake/silent/'],
      init: ['init', 'lake'],
      presign: ['presign', 's3://lake/silent/small.txt'],
    };
    const results = await Promise.all(
      Object.entries(commands).map(async ([name, args]) => {
        const listener = await startSilentListener();
        try {
          // The kill after two minutes (run's default) is only a guard against a run that hangs.
          const result = await run(args, userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: listener.endpoint }));
          const accepted = listener.firstAcceptedAt();
          return [name, { result, host: hostOf(listener.endpoint), waitedMs: accepted === undefined ? undefined : Date.now() - accepted }] as const;
        } finally {
          await listener.stop();
        }
      }),
    );
    const outcome = Object.fromEntries(
      results.map(([name, { result, host, waitedMs }]) => [
        name,
        {
          endedOnItsOwn: !result.killed,
          code: result.code,
          lines: result.stderr.trim().split('\n').length,
          namesEndpointAndLimit: result.stderr.includes(`no answer from http://${host} within ${FIRST_ANSWER_LIMIT_MS / 1000} s`),
          withinLimit: waitedMs !== undefined && waitedMs <= NO_ANSWER_BOUND_MS,
        },
      ]),
    );
    const expected = { endedOnItsOwn: true, code: 1, lines: 1, namesEndpointAndLimit: true, withinLimit: true };
    const seen = Object.fromEntries(results.map(([name, { result, waitedMs }]) => [name, { waitedMs, stderr: result.stderr.trim() }]));
    expect(outcome, JSON.stringify(seen, null, 1)).toEqual(Object.fromEntries(Object.keys(commands).map((name) => [name, expected])));
  });

  it('a transfer that stalls past --timeout is sent again by the retry policy; one that always does ends the run with exit 1 naming the limit', async () => {
    const faults = new FaultProxy(plain.endpoint);
    const endpoint = await faults.start();
    const env = userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: endpoint });
    const client = sdkClient(plain.endpoint);
    // Long enough that no ordinary request on a loaded machine runs out of it: the very first one
    // (a listing) is not retried when it does (an endpoint that has never answered ends the run).
    const timeout = '5';
    const stalled = { method: 'PUT', match: /\/f1\.txt$/ };
    const sent = (prefix: string, name: string) => faults.log.filter((entry) => entry.method === 'PUT' && entry.url === `/${plainBucket}/${prefix}/${name}`);
    try {
      // f1.txt's first PUT is held, never answered: it stalls past the --timeout, and is sent again.
      faults.setRules([{ ...stalled, times: 1, fault: { kind: 'hold', gate: 'once' } }]);
      const prefix = unique('stalled');
      const once = await run(['sync', join(work.path, 'tree'), `s3://${plainBucket}/${prefix}/`, '--concurrency', '1', '--timeout', timeout], env);
      expect({ code: once.code, stderr: once.stderr }).toEqual({ code: 0, stderr: '' });
      // Counted by key: any other PUT that a loaded machine makes slower than the limit is sent again too.
      const f1 = sent(prefix, 'f1.txt');
      expect(f1[0]?.fault, 'the first PUT of f1.txt held').toBe('hold');
      expect(f1.length, 'f1.txt sent again after it stalled').toBeGreaterThanOrEqual(2);
      for (const [index, name] of ['f0.txt', 'f1.txt', 'f2.txt'].entries()) {
        expect(sent(prefix, name).length, name).toBeGreaterThanOrEqual(1);
        const body = await (await client.send(new GetObjectCommand({ Bucket: plainBucket, Key: `${prefix}/${name}` }))).Body!.transformToString();
        expect(body, name).toBe(`file ${index}\n`);
      }

      // f1.txt held every time: its PUT and its one retry both stall, and the run ends.
      faults.setRules([{ ...stalled, fault: { kind: 'hold', gate: 'always' } }]);
      const always = await run(['sync', join(work.path, 'tree'), `s3://${plainBucket}/${unique('stalled')}/`, '--concurrency', '1', '--timeout', timeout, '--retries', '1'], env);
      expect(always.code).toBe(1);
      expect(always.stderr).toMatch(new RegExp(`f1\\.txt.*--timeout of ${timeout} s`));
      expect(faults.held('always'), 'the PUT and its one retry').toBe(2);
    } finally {
      client.destroy();
      await faults.stop();
    }
  });

  it('--timeout takes a duration and refuses anything else, before any request', async () => {
    const result = await run(['ls', `s3://${plainBucket}/`, '--timeout', 'soon'], userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: silent.endpoint }));
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain("invalid timeout 'soon'");
  });
});

describe('an answer that never ends', () => {
  it('a list page whose body goes on without end: reading stops at the page limit, exit 1 with one line', async () => {
    const faults = new FaultProxy(plain.endpoint);
    const endpoint = await faults.start();
    const client = sdkClient(plain.endpoint);
    await client.send(new PutObjectCommand({ Bucket: plainBucket, Key: 'endless/a.txt', Body: 'a' }));
    client.destroy();
    try {
      faults.setRules([{ method: 'GET', match: /list-type=2/, fault: { kind: 'endless-response' } }]);
      const result = await run(['ls', `s3://${plainBucket}/endless/`, '--retries', '0'], userEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: endpoint }));
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/over the limit/);
      // What the proxy managed to write: the limit and what the sockets' buffers hold, not without end.
      expect(faults.endlessBytes).toBeGreaterThan(LIST_PAGE_LIMIT);
      expect(faults.endlessBytes).toBeLessThan(LIST_PAGE_LIMIT + 64 * 1024 * 1024);
    } finally {
      await faults.stop();
    }
  });
});
