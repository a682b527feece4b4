/**
 * Region and endpoint come from where the AWS CLI and SDK take them: flag > environment > profile
 * (`AWS_CONFIG_FILE`, `AWS_PROFILE` or `--profile`) > default — and one resolution sends the SDK's
 * requests and the direct ones to the same place. Moved here from issue 15's acceptance tests
 * (test/acceptance/aws-config.test.ts) once they passed, with a few more of the same kind.
 *
 * This file starts its own MinIO in region eu-west-1: a request signed for the default us-east-1 is
 * refused there, as AWS refuses it, so a region that is not read from the profile shows.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMinio, type RunningMinio } from '../../scripts/lib/minio.js';
import { allSucceeded, awsUser, sdkEndpoint } from '../support/aws-user.js';
import { tempDirectory } from '../support/harness.js';
import { closedPortEndpoint, startSilentListener, type SilentListener } from '../support/testbed.js';

const REGION = 'eu-west-1';

const work = tempDirectory('aws-settings');
let plain: RunningMinio;
let silent: SilentListener;
let plainBucket: string;
const { createBucket, exists, userEnv, run, configFile, profileKeys, profileEnv, unique, roundTrip } = awsUser(work.path, { region: REGION });

beforeAll(async () => {
  [plain, silent] = await Promise.all([startMinio({ region: REGION }), startSilentListener()]);
  plainBucket = await createBucket(plain.endpoint);
  writeFileSync(join(work.path, 'small.txt'), 'hello lake\n');
});

afterAll(async () => {
  await Promise.all([plain?.stop(), silent?.stop()]);
  work.remove();
});

describe('settings come from the shared config as the AWS CLI reads them', () => {
  it("a profile's region is used when no AWS_REGION is set", async () => {
    const config = configFile('region', { profiles: { prod: { ...profileKeys, region: REGION } } });
    const env = profileEnv(config, { AWS_ENDPOINT_URL: plain.endpoint });
    const result = await roundTrip(plain.endpoint, plainBucket, env);
    expect(result.outcome).toEqual(allSucceeded);
    expect(result.stored).toBe(true);
  });

  it("--profile picks the profile as AWS_PROFILE does: its region and its keys", async () => {
    const config = configFile('flag', { profiles: { default: { region: 'us-east-1' }, prod: { ...profileKeys, region: REGION } } });
    const env = userEnv({ AWS_CONFIG_FILE: config, AWS_ENDPOINT_URL: plain.endpoint, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
    const result = await roundTrip(plain.endpoint, plainBucket, env, { args: ['--profile', 'prod'] });
    expect(result.outcome).toEqual(allSucceeded);
  });

  it('AWS_REGION, then AWS_DEFAULT_REGION, beat the profile', async () => {
    const config = configFile('region-env', { profiles: { prod: { ...profileKeys, region: 'us-east-1' } } });
    for (const variable of ['AWS_REGION', 'AWS_DEFAULT_REGION']) {
      const put = await run(['put', join(work.path, 'small.txt'), `s3://${plainBucket}/${unique('env')}/small.txt`], profileEnv(config, { AWS_ENDPOINT_URL: plain.endpoint, [variable]: REGION }));
      expect({ variable, code: put.code, stderr: put.stderr }).toEqual({ variable, code: 0, stderr: '' });
    }
  });

  it("a profile's endpoint_url is where every request goes (direct transfers and SDK calls alike)", async () => {
    const config = configFile('endpoint', { profiles: { prod: { ...profileKeys, region: REGION, endpoint_url: plain.endpoint } } });
    const result = await roundTrip(plain.endpoint, plainBucket, profileEnv(config));
    expect(result.outcome).toEqual(allSucceeded);
    expect(result.stored).toBe(true);
  });

  it("a services section's s3 endpoint_url is used", async () => {
    const config = configFile('services', {
      profiles: { prod: { ...profileKeys, region: REGION, services: 'local-lake' } },
      services: { 'local-lake': { s3: { endpoint_url: plain.endpoint } } },
    });
    const result = await roundTrip(plain.endpoint, plainBucket, profileEnv(config));
    expect(result.outcome).toEqual(allSucceeded);
  });

  it('AWS_ENDPOINT_URL_S3 beats the profile; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS sets both aside', async () => {
    const config = configFile('ignore', { profiles: { prod: { ...profileKeys, region: REGION, endpoint_url: silent.endpoint } } });
    const overridden = await run(['put', join(work.path, 'small.txt'), `s3://${plainBucket}/${unique('env-s3')}/small.txt`], profileEnv(config, { AWS_ENDPOINT_URL_S3: plain.endpoint }));
    expect({ code: overridden.code, stderr: overridden.stderr }).toEqual({ code: 0, stderr: '' });

    const ignored = await run(
      ['presign', `s3://${plainBucket}/k.txt`, '--no-check'],
      profileEnv(config, { AWS_ENDPOINT_URL: silent.endpoint, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }),
    );
    expect(ignored.code).toBe(0);
    expect(new URL(ignored.stdout.trim()).host).toBe(new URL(await sdkEndpoint({ Bucket: plainBucket, Region: REGION })).host);
  });

  it("--endpoint beats the profile's endpoint_url, and ignore_configured_endpoint_urls in the profile sets the environment's aside", async () => {
    const config = configFile('endpoint-flag', { profiles: { prod: { ...profileKeys, region: REGION, endpoint_url: silent.endpoint } } });
    const put = await run(['put', join(work.path, 'small.txt'), `s3://${plainBucket}/${unique('flag')}/small.txt`, '--endpoint', plain.endpoint], profileEnv(config));
    expect({ code: put.code, stderr: put.stderr }).toEqual({ code: 0, stderr: '' });

    const ignoring = configFile('ignore-profile', { profiles: { prod: { ...profileKeys, region: REGION, ignore_configured_endpoint_urls: 'true' } } });
    const presigned = await run(['presign', `s3://${plainBucket}/k.txt`, '--no-check'], profileEnv(ignoring, { AWS_ENDPOINT_URL: silent.endpoint }));
    expect(presigned.code).toBe(0);
    expect(new URL(presigned.stdout.trim()).host).toBe(new URL(await sdkEndpoint({ Bucket: plainBucket, Region: REGION })).host);
  });

  it("an unreachable endpoint_url from the profile is the one the message names", async () => {
    const closed = await closedPortEndpoint();
    const config = configFile('closed', { profiles: { prod: { ...profileKeys, region: REGION, endpoint_url: closed } } });
    const result = await run(['ls', `s3://${plainBucket}/`], profileEnv(config));
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(new URL(closed).host);
  });

  it('a malformed endpoint_url in the profile is bad input: exit 2, one line naming the profile, nothing sent', async () => {
    const config = configFile('malformed', { profiles: { prod: { ...profileKeys, region: REGION, endpoint_url: 'not a url' } } });
    const result = await run(['put', join(work.path, 'small.txt'), `s3://${plainBucket}/malformed/small.txt`], profileEnv(config));
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/malformed endpoint URL 'not a url' \(from profile 'prod'\)/);
    expect(await exists(plain.endpoint, plainBucket, 'malformed/small.txt')).toBe(false);
  });
});
