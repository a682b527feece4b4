/**
 * FIPS, dual-stack, S3 Transfer Acceleration and custom endpoints: for the same environment and
 * profile, every request datalake builds — on its direct path and through its SDK client — goes to
 * the host and path, and is signed for the region and service, that a plain S3Client gives it when
 * the SDK's own loaders and endpoint resolver read that same configuration. Nothing is sent (AWS is
 * not reachable from the tests): the SDK clients' requests are captured once signed, and the direct
 * path says where it would send its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { validateBucketName } from '../../src/core/config/address.js';
import { resolveSettings } from '../../src/core/config/config.js';
import { connectS3 } from '../../src/core/s3/connection.js';

const READ_VARIABLES = [
  'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT', 'AWS_S3_DISABLE_EXPRESS_SESSION_AUTH', 'AWS_EC2_METADATA_DISABLED',
];
const KEYS = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const files = mkdtempSync(join(tmpdir(), 'datalake-targets-'));
let fileCount = 0;

afterEach(() => vi.unstubAllEnvs());
afterAll(() => rmSync(files, { recursive: true, force: true }));

/** A process whose environment is exactly `environment`, with `config` as its shared config file (one file per case: the SDK caches a file by path). */
function useEnvironment(environment: Record<string, string>, config = ''): void {
  for (const name of READ_VARIABLES) vi.stubEnv(name, undefined);
  fileCount += 1;
  const path = join(files, `config-${fileCount}`);
  writeFileSync(path, config);
  vi.stubEnv('AWS_CONFIG_FILE', path);
  // The keys in the credentials file too, for the profile named (the SDK then skips those of the environment).
  const credentials = join(files, `credentials-${fileCount}`);
  writeFileSync(credentials, `[${environment.AWS_PROFILE ?? 'default'}]\naws_access_key_id = ${KEYS.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${KEYS.AWS_SECRET_ACCESS_KEY}\n`);
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', credentials);
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  for (const [name, value] of Object.entries({ ...KEYS, ...environment })) vi.stubEnv(name, value);
}

interface Target {
  url: string;
  signingRegion: string;
  signingName: string;
}

/** The HeadObject request a client would send, signed, without sending it. */
async function sdkTarget(client: S3Client, bucket: string, key: string): Promise<Target> {
  const captured = new Error('captured');
  let request: { protocol: string; hostname: string; port?: number; path: string; headers: Record<string, string> } | undefined;
  const command = new HeadObjectCommand({ Bucket: bucket, Key: key });
  command.middlewareStack.addRelativeTo(
    () => async (args: { request: unknown }) => {
      request = args.request as typeof request;
      throw captured;
    },
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'captureSignedRequest' },
  );
  await expect(client.send(command)).rejects.toBe(captured);
  const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(request!.headers.authorization ?? '');
  const port = request!.port ? `:${request!.port}` : '';
  return { url: `${request!.protocol}//${request!.hostname}${port}${request!.path}`, signingRegion: scope?.[1] ?? '', signingName: scope?.[2] ?? '' };
}

/**
 * Where datalake's direct path and its SDK client send a HEAD of `bucket/key`, beside where a plain
 * S3Client sends it with the SDK's own reading of the configuration (`reference` adds what the
 * JavaScript SDK does not read itself: acceleration and path style, from the profile's `s3` section).
 */
async function targets(bucket: string, key: string, reference: ConstructorParameters<typeof S3Client>[0] = {}) {
  const settings = await resolveSettings({});
  const { client, direct } = connectS3(settings);
  const plain = new S3Client({ maxAttempts: 1, ...reference });
  try {
    return { direct: await direct.target({ bucket, key }), sdkClient: await sdkTarget(await client.resolve(), bucket, key), sdk: await sdkTarget(plain, bucket, key) };
  } finally {
    client.destroy();
    plain.destroy();
  }
}

describe('every request goes where the SDK would send it, signed as it would sign it', () => {
  const cases: Array<[string, Record<string, string>, string, ConstructorParameters<typeof S3Client>[0]?, string?]> = [
    ['AWS_USE_FIPS_ENDPOINT=true', { AWS_REGION: 'us-east-1', AWS_USE_FIPS_ENDPOINT: 'true' }, ''],
    ["the profile's use_fips_endpoint, in GovCloud", { AWS_PROFILE: 'gov' }, '[profile gov]\nregion = us-gov-west-1\nuse_fips_endpoint = true\n'],
    ['AWS_USE_DUALSTACK_ENDPOINT=true', { AWS_REGION: 'eu-west-1', AWS_USE_DUALSTACK_ENDPOINT: 'true' }, ''],
    ["the profile's use_dualstack_endpoint and use_fips_endpoint together", {}, '[default]\nregion = ca-central-1\nuse_dualstack_endpoint = true\nuse_fips_endpoint = true\n'],
    ["the profile's s3 use_accelerate_endpoint", { AWS_REGION: 'ap-southeast-2' }, '[default]\ns3 =\n  use_accelerate_endpoint = true\n', { useAccelerateEndpoint: true }],
    ['acceleration with dual-stack', { AWS_REGION: 'us-west-2', AWS_USE_DUALSTACK_ENDPOINT: 'true' }, '[default]\ns3 =\n  use_accelerate_endpoint = true\n', { useAccelerateEndpoint: true }],
    ['a bucket name with dots (addressed by path on AWS)', { AWS_REGION: 'eu-central-1' }, '', {}, 'my.lake.data'],
    ["a profile's endpoint_url with s3 addressing_style = virtual", { AWS_PROFILE: 'minio' }, '[profile minio]\nregion = eu-west-1\nendpoint_url = http://s3.storage.test:9000\ns3 =\n  addressing_style = virtual\n'],
    ['AWS_ENDPOINT_URL_S3 with a path, addressed by path', { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: 'https://storage.test/s3' }, '', { forcePathStyle: true }],
  ];

  it.each(cases)('%s', async (_name, environment, config, reference, bucket = 'lake-data') => {
    useEnvironment(environment, config);
    const found = await targets(bucket, 'raw/sales/a b+c.csv', reference);
    expect(found.sdk.signingName).toBe('s3');
    expect(found.direct).toEqual(found.sdk);
    expect(found.sdkClient).toEqual(found.sdk);
  });

  it('reads the hosts the SDK documents for FIPS, dual-stack and acceleration', async () => {
    useEnvironment({ AWS_REGION: 'us-east-1', AWS_USE_FIPS_ENDPOINT: 'true', AWS_USE_DUALSTACK_ENDPOINT: 'true' });
    expect((await targets('lake-data', 'k')).direct.url).toBe('https://lake-data.s3-fips.dualstack.us-east-1.amazonaws.com/k');
    useEnvironment({ AWS_REGION: 'us-east-1' }, '[default]\ns3 =\n  use_accelerate_endpoint = true\n');
    expect((await targets('lake-data', 'k', { useAccelerateEndpoint: true })).direct.url).toBe('https://lake-data.s3-accelerate.amazonaws.com/k');
  });
});

describe('settings the S3 endpoint rules reject are refused once, before any request', () => {
  it.each([
    ['a custom endpoint with FIPS', { AWS_ENDPOINT_URL: 'http://127.0.0.1:9000', AWS_USE_FIPS_ENDPOINT: 'true' }, '', /custom endpoint .* cannot be combined with FIPS/],
    ['a custom endpoint with dual-stack', { AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }, '[default]\nuse_dualstack_endpoint = true\n', /cannot be combined with dual-stack/],
    ['acceleration with FIPS', { AWS_USE_FIPS_ENDPOINT: 'true' }, '[default]\ns3 =\n  use_accelerate_endpoint = true\n', /Acceleration cannot be combined with FIPS/],
    ['acceleration with path style', {}, '[default]\ns3 =\n  use_accelerate_endpoint = true\n  addressing_style = path\n', /Acceleration cannot be combined with path-style/],
    ['a use_accelerate_endpoint that is not true or false', {}, '[default]\ns3 =\n  use_accelerate_endpoint = yes\n', /invalid s3 use_accelerate_endpoint in profile 'default' 'yes'/],
  ])('%s', async (_name, environment, config, message) => {
    useEnvironment(environment, config);
    await expect(resolveSettings({})).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(message) });
  });
});

describe('S3 Express One Zone directory buckets', () => {
  const directoryBucket = 'lake--usw2-az1--x-s3';

  it('are signed by the SDK for s3express with session credentials, which datalake does not obtain', async () => {
    useEnvironment({ AWS_REGION: 'us-west-2' });
    const resolved = new S3Client({}).config.endpointProvider({ Bucket: directoryBucket, Region: 'us-west-2', UseFIPS: false, UseDualStack: false, Accelerate: false, ForcePathStyle: false });
    expect(resolved.properties?.authSchemes).toEqual([expect.objectContaining({ name: 'sigv4-s3express', signingName: 's3express' })]);
  });

  it('are refused by name before any request, in one line that says so', () => {
    expect(() => validateBucketName(directoryBucket)).toThrow(/S3 Express One Zone directory bucket, which datalake does not support/);
  });

  it('are refused by the direct path too, should one get past the name check', async () => {
    useEnvironment({ AWS_REGION: 'us-west-2' });
    const { client, direct } = connectS3(await resolveSettings({}));
    await expect(direct.target({ bucket: directoryBucket, key: 'k' })).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/sigv4-s3express signing, which datalake does not support/) });
    client.destroy();
  });
});
