import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  PutBucketLifecycleConfigurationCommand,
  CreateBucketCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { lastJson, motoClient, motoEnv, runCli, tempDirectory, testClient } from '../support/harness.js';

interface InitJson {
  bucket: string;
  dryRun: boolean;
  settings: Array<{ name: string; state: string; detail?: string }>;
}

const fresh = (label: string) => `dl-init-${label}-${randomBytes(4).toString('hex')}`;
const states = (json: InitJson) => Object.fromEntries(json.settings.map((s) => [s.name, s.state]));
const work = tempDirectory('init');
afterAll(() => work.remove());

describe('init on the server under test', () => {
  const client: S3Client = testClient();
  afterAll(() => client.destroy());

  it('creates and configures a bucket, reports what the server does not implement, and a second run changes nothing', async () => {
    const { capabilities } = inject('s3');
    const bucket = fresh('setup');
    const first = await runCli(['init', '--bucket', bucket, '--json']);
    expect(first.code).toBe(0);
    const firstStates = states(lastJson<InitJson>(first));
    const setUp = (supported: boolean) => (supported ? 'created' : 'unsupported');
    // MinIO, for one, refuses a public access block, the abort-incomplete-uploads action and transitions to tiers it lacks.
    expect(firstStates).toMatchObject({
      bucket: 'created',
      encryption: setUp(capabilities.defaultEncryption),
      versioning: setUp(capabilities.versioning),
      'public-access-block': setUp(capabilities.publicAccessBlock),
      'lifecycle-abort-incomplete-uploads': setUp(capabilities.lifecycleAbortIncompleteUploads),
      'lifecycle-transitions': setUp(capabilities.lifecycleTransitions),
    });

    if (capabilities.defaultEncryption) {
      const encryption = await client.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
      expect(encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe('AES256');
    }
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe(capabilities.versioning ? 'Enabled' : undefined);

    const second = await runCli(['init', '--bucket', bucket, '--json']);
    expect(second.code).toBe(0);
    const secondStates = Object.values(states(lastJson<InitJson>(second)));
    expect(secondStates.every((state) => state === 'unchanged' || state === 'unsupported')).toBe(true);
  });

  it('--dry-run reports and creates nothing', async () => {
    const bucket = fresh('dry');
    const result = await runCli(['init', bucket, '--dry-run', '--json']);
    expect(result.code).toBe(0);
    expect(lastJson<InitJson>(result)).toMatchObject({ dryRun: true, settings: expect.arrayContaining([{ name: 'bucket', state: 'created' }]) });
    await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    // What an endpoint refuses is known only from a write: a dry run says so rather than promise it.
    const lifecycle = lastJson<InitJson>(result).settings.find((setting) => setting.name.startsWith('lifecycle'));
    expect(lifecycle).toMatchObject({ detail: expect.stringMatching(/known only when it is applied/) });
  });

  it('needs a bucket, and refuses a bad name or lifecycle file with exit 2', async () => {
    expect((await runCli(['init'])).code).toBe(2);
    expect((await runCli(['init', 'Bad_Name'])).code).toBe(2);
    const bad = join(work.path, 'bad.json');
    writeFileSync(bad, '{"bronze": {}}');
    const result = await runCli(['init', 'some-bucket', '--lifecycle', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/unknown zone 'bronze'/);
  });
});

describe('init read back from a second S3 implementation (moto)', () => {
  const moto: S3Client = motoClient();
  afterAll(() => moto.destroy());

  it('sets encryption, versioning, public access block and lifecycle per zone, keeping foreign rules', async () => {
    const bucket = fresh('moto');
    await moto.send(new CreateBucketCommand({ Bucket: bucket }));
    await moto.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: [{ ID: 'team-logs-expiry', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 14 } }] },
      }),
    );
    const first = await runCli(['init', '--bucket', bucket, '--json'], { env: motoEnv() });
    expect(first.code).toBe(0);
    expect(states(lastJson<InitJson>(first))).toEqual({
      bucket: 'unchanged',
      encryption: 'created',
      versioning: 'created',
      'public-access-block': 'created',
      'lifecycle-transitions': 'created',
      'lifecycle-abort-incomplete-uploads': 'created',
    });

    const block = await moto.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(block.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const encryption = await moto.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    expect(encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe('AES256');
    expect((await moto.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');

    const lifecycle = await moto.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    const rules = Object.fromEntries((lifecycle.Rules ?? []).map((rule) => [rule.ID ?? '', rule] as const));
    expect(Object.keys(rules).sort()).toEqual(['datalake-analytics', 'datalake-processed', 'datalake-raw', 'team-logs-expiry']);
    expect(rules['team-logs-expiry']?.Expiration?.Days).toBe(14);
    expect(rules['datalake-raw']?.Filter?.Prefix).toBe('raw/');
    expect(rules['datalake-raw']?.Transitions?.map((t) => [t.Days, t.StorageClass])).toEqual([
      [30, 'STANDARD_IA'],
      [90, 'GLACIER'],
    ]);
    expect(rules['datalake-analytics']?.AbortIncompleteMultipartUpload?.DaysAfterInitiation).toBe(7);

    const second = await runCli(['init', '--bucket', bucket, '--json'], { env: motoEnv() });
    expect(Object.values(states(lastJson<InitJson>(second))).every((state) => state === 'unchanged')).toBe(true);
  });

  it('takes SSE-KMS and a lifecycle override file, reporting what it updates', async () => {
    const bucket = fresh('kms');
    await runCli(['init', '--bucket', bucket], { env: motoEnv() });
    const override = join(work.path, 'lifecycle.json');
    writeFileSync(override, JSON.stringify({ raw: { transitions: [{ days: 45, storageClass: 'standard_ia' }], expirationDays: 400, abortIncompleteUploadsDays: 2 } }));
    const result = await runCli(['init', '--bucket', bucket, '--kms-key-id', 'alias/lake', '--lifecycle', override, '--json'], { env: motoEnv() });
    expect(result.code).toBe(0);
    expect(states(lastJson<InitJson>(result))).toMatchObject({ encryption: 'updated', 'lifecycle-transitions': 'updated', 'lifecycle-expiration': 'updated' });
    const encryption = await moto.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    expect(encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault).toMatchObject({ SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/lake' });
    const raw = (await moto.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules?.find((rule) => rule.ID === 'datalake-raw');
    expect(raw).toMatchObject({ Expiration: { Days: 400 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } });
    expect(raw?.Transitions?.map((t) => [t.Days, t.StorageClass])).toEqual([[45, 'STANDARD_IA']]);
  });
});

