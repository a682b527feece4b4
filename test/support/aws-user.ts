/**
 * What the tests of the AWS configuration (aws-settings, aws-transport) share: a user whose environment
 * holds nothing of this machine's AWS setup, the shared config files that user writes, an SDK client of
 * the MinIO the test file starts, and one round trip of put, get, ls and presign.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY } from '../../scripts/lib/minio.js';
import { runCliWith, writeAwsConfig } from './testbed.js';

export interface AwsUserOptions {
  /** The region of the MinIO the file starts (the SDK client signs for it). */
  region: string;
  /** The CA a TLS MinIO's certificate is signed by, once the file has made it. */
  caPem?: () => string;
}

/** A user working in `dir` (its HOME, where its config files and downloads go), which must exist. */
export function awsUser(dir: string, options: AwsUserOptions) {
  const emptyConfig = join(dir, 'empty-config');
  writeFileSync(emptyConfig, '');

  function sdkClient(endpoint: string): S3Client {
    return new S3Client({
      region: options.region,
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: DEV_ACCESS_KEY, secretAccessKey: DEV_SECRET_KEY },
      ...(options.caPem ? { requestHandler: { httpsAgent: new Agent({ ca: options.caPem() }) } } : {}),
    });
  }

  async function createBucket(endpoint: string): Promise<string> {
    const bucket = `lake-${randomBytes(4).toString('hex')}`;
    const client = sdkClient(endpoint);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    return bucket;
  }

  async function exists(endpoint: string, bucket: string, key: string): Promise<boolean> {
    const client = sdkClient(endpoint);
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    } finally {
      client.destroy();
    }
  }

  /**
   * A user's environment with nothing of this machine's AWS setup: the dev keys, no region, no endpoint,
   * no proxy, an empty shared config. `extra` adds to it; an undefined value removes a variable.
   */
  function userEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: DEV_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: DEV_SECRET_KEY,
      AWS_CONFIG_FILE: emptyConfig,
      AWS_SHARED_CREDENTIALS_FILE: emptyConfig,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    for (const [key, value] of Object.entries(extra)) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    return env;
  }

  /** A run that hangs is stopped after two minutes, so a failing test fails instead of hanging the suite. */
  const run = (args: string[], env: NodeJS.ProcessEnv, runOptions: { faketime?: string; killAfterMs?: number } = {}) =>
    runCliWith(args, { env, cwd: dir, killAfterMs: 120_000, ...runOptions });

  const configFile = (name: string, file: Parameters<typeof writeAwsConfig>[1]) => writeAwsConfig(join(dir, `${name}.config`), file);
  /** The keys in the profile, as a user with AWS_PROFILE has them (the SDK takes the profile over keys in the environment). */
  const profileKeys = { aws_access_key_id: DEV_ACCESS_KEY, aws_secret_access_key: DEV_SECRET_KEY };
  /** A user who picks the profile `prod` of this config file and has nothing else set. */
  const profileEnv = (config: string, extra: Record<string, string | undefined> = {}) =>
    userEnv({ AWS_CONFIG_FILE: config, AWS_PROFILE: 'prod', AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, ...extra });
  const unique = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;

  /**
   * put, get, ls and presign (with its existence check) of `small.txt` (in `dir`, written by the test
   * file): the commands every setup must carry. `args` are added to each command.
   */
  async function roundTrip(endpoint: string, bucket: string, env: NodeJS.ProcessEnv, trip: { args?: string[]; faketime?: string } = {}) {
    const key = `${unique('rt')}/small.txt`;
    const args = trip.args ?? [];
    const runOptions = trip.faketime === undefined ? {} : { faketime: trip.faketime };
    const results = {
      put: await run(['put', join(dir, 'small.txt'), `s3://${bucket}/${key}`, ...args], env, runOptions),
      get: await run(['get', `s3://${bucket}/${key}`, join(dir, `${unique('back')}.txt`), ...args], env, runOptions),
      ls: await run(['ls', `s3://${bucket}/${key.split('/')[0]}/`, ...args], env, runOptions),
      presign: await run(['presign', `s3://${bucket}/${key}`, ...args], env, runOptions),
    };
    // presign prints its expiry on stderr: a failure's message is what matters, shown when the code is wrong.
    const outcome = Object.fromEntries(Object.entries(results).map(([command, result]) => [command, { code: result.code, error: result.code === 0 ? '' : result.stderr.trim() }]));
    return { outcome, key, stored: await exists(endpoint, bucket, key), presignedUrl: results.presign.stdout.trim() };
  }

  return { emptyConfig, sdkClient, createBucket, exists, userEnv, run, configFile, profileKeys, profileEnv, unique, roundTrip };
}

/** The outcome of a round trip in which every command succeeded. */
export const allSucceeded = { put: { code: 0, error: '' }, get: { code: 0, error: '' }, ls: { code: 0, error: '' }, presign: { code: 0, error: '' } };

/** The URL the SDK's own endpoint resolver builds for these settings. */
export async function sdkEndpoint(parameters: { Bucket: string; Region: string; UseFIPS?: boolean; UseDualStack?: boolean }): Promise<string> {
  const client = new S3Client({ region: parameters.Region });
  const resolved = client.config.endpointProvider({ ...parameters, Accelerate: false, UseFIPS: parameters.UseFIPS ?? false, UseDualStack: parameters.UseDualStack ?? false });
  client.destroy();
  return resolved.url.href;
}
