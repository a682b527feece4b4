/**
 * lake/: what makes a bucket a lake: its setup (this file: the bucket, versioning, encryption, public
 * access; settings.ts for how each is applied; the zones' lifecycle in lifecycle-defaults.ts and
 * lifecycle-rules.ts) and Delta tables (delta/: log, commit, append, history). Imports transfer/,
 * s3/, integrity/, config/, errors.ts.
 */
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { controlRequest, type TransferContext } from '../s3/context.js';
import { failure } from '../errors.js';
import { errorCodeOf, httpStatusOf } from '../s3/retry.js';
import { applyLifecycle } from './lifecycle-rules.js';
import type { ZoneLifecycle } from './lifecycle-defaults.js';
import { applySetting, type Send, type SettingReport, type SettingState } from './settings.js';

export interface BucketSetup {
  bucket: string;
  region: string;
  /** SSE-KMS with this key; SSE-S3 (AES256) when absent. */
  kmsKeyId?: string | undefined;
  lifecycle: ZoneLifecycle[];
  dryRun: boolean;
}

/**
 * Makes a bucket lake-ready, idempotently: each setting is read, compared with what it should be, and
 * written only when it differs. An endpoint that does not implement a setting gets it reported as
 * `unsupported` and the rest goes on.
 */
export async function setUpBucket(ctx: TransferContext, setup: BucketSetup): Promise<SettingReport[]> {
  const reports: SettingReport[] = [];
  const bucketState = await ensureBucket(ctx, setup);
  reports.push({ name: 'bucket', state: bucketState });
  const fresh = bucketState === 'created';
  if (fresh && setup.dryRun) {
    // Nothing to read on a bucket that does not exist yet: every setting would be created.
    for (const name of ['encryption', 'versioning', 'public-access-block', 'lifecycle']) {
      reports.push({ name, state: 'created', detail: 'on the new bucket; whether this endpoint accepts it is known only when it is applied' });
    }
    return reports;
  }
  const { bucket } = setup;
  const send: Send = <T>(name: string, command: object) => controlRequest(ctx, name, () => ctx.client.send(command as never, { abortSignal: ctx.signal }) as Promise<T>);

  reports.push(
    await applySetting(setup, 'encryption', async () => {
      const want = setup.kmsKeyId ? { algorithm: 'aws:kms', key: setup.kmsKeyId } : { algorithm: 'AES256', key: undefined };
      const current = await send<{ ServerSideEncryptionConfiguration?: { Rules?: Array<{ ApplyServerSideEncryptionByDefault?: { SSEAlgorithm?: string; KMSMasterKeyID?: string } }> } }>(
        'GetBucketEncryption',
        new GetBucketEncryptionCommand({ Bucket: bucket }),
      ).catch((error: unknown) => {
        if (['ServerSideEncryptionConfigurationNotFoundError', 'NoSuchEncryptionConfiguration'].includes(errorCodeOf(error) ?? '')) return undefined;
        throw error;
      });
      const rule = current?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
      const same = rule?.SSEAlgorithm === want.algorithm && (want.key === undefined || rule.KMSMasterKeyID === want.key);
      return {
        existed: rule !== undefined,
        same,
        write: () =>
          send('PutBucketEncryption', new PutBucketEncryptionCommand({
            Bucket: bucket,
            ServerSideEncryptionConfiguration: {
              Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: want.algorithm as 'AES256', ...(want.key ? { KMSMasterKeyID: want.key } : {}) }, BucketKeyEnabled: want.key !== undefined }],
            },
          })),
        detail: want.key ? `SSE-KMS ${want.key}` : 'SSE-S3 (AES256)',
      };
    }),
  );

  reports.push(
    await applySetting(setup, 'versioning', async () => {
      const current = await send<{ Status?: string }>('GetBucketVersioning', new GetBucketVersioningCommand({ Bucket: bucket }));
      return {
        existed: current.Status !== undefined,
        same: current.Status === 'Enabled',
        write: () => send('PutBucketVersioning', new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } })),
        detail: 'Enabled',
      };
    }),
  );

  reports.push(
    await applySetting(setup, 'public-access-block', async () => {
      const current = await send<{ PublicAccessBlockConfiguration?: Record<string, boolean | undefined> }>('GetPublicAccessBlock', new GetPublicAccessBlockCommand({ Bucket: bucket })).catch(
        (error: unknown) => {
          if (errorCodeOf(error) === 'NoSuchPublicAccessBlockConfiguration') return undefined;
          throw error;
        },
      );
      const config = current?.PublicAccessBlockConfiguration;
      const flags = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;
      return {
        existed: config !== undefined,
        same: config !== undefined && flags.every((flag) => config[flag] === true),
        write: () =>
          send('PutPublicAccessBlock', new PutPublicAccessBlockCommand({
            Bucket: bucket,
            PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
          })),
        detail: 'all four blocks on',
      };
    }),
  );

  reports.push(...(await applyLifecycle(setup, send)));
  return reports;
}

/** Create-if-missing, with the LocationConstraint every region but us-east-1 needs. */
async function ensureBucket(ctx: TransferContext, setup: BucketSetup): Promise<SettingState> {
  try {
    await controlRequest(ctx, 'HeadBucket', () => ctx.client.send(new HeadBucketCommand({ Bucket: setup.bucket }), { abortSignal: ctx.signal }));
    return 'unchanged';
  } catch (error) {
    const status = httpStatusOf(error);
    if (status === 403) throw await forbiddenWhy(ctx, setup.bucket, error);
    if (status !== 404 && errorCodeOf(error) !== 'NotFound' && errorCodeOf(error) !== 'NoSuchBucket') throw error;
  }
  if (setup.dryRun) return 'created';
  try {
    await controlRequest(ctx, 'CreateBucket', () =>
      ctx.client.send(
        new CreateBucketCommand({
          Bucket: setup.bucket,
          ...(setup.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: setup.region as never } }),
        }),
        { abortSignal: ctx.signal },
      ),
    );
    return 'created';
  } catch (error) {
    const code = errorCodeOf(error);
    if (code === 'BucketAlreadyOwnedByYou') return 'unchanged';
    if (code === 'BucketAlreadyExists') throw ownedElsewhere(setup.bucket);
    throw error;
  }
}

/**
 * A HEAD's 403 has no body: rejected credentials look like someone else's bucket. GetBucketLocation
 * answers with a body that names the reason (SignatureDoesNotMatch, InvalidAccessKeyId: the credentials;
 * AccessDenied: the bucket is not ours).
 */
async function forbiddenWhy(ctx: TransferContext, bucket: string, headError: unknown): Promise<unknown> {
  try {
    await controlRequest(ctx, 'GetBucketLocation', () => ctx.client.send(new GetBucketLocationCommand({ Bucket: bucket }), { abortSignal: ctx.signal }));
  } catch (error) {
    const code = errorCodeOf(error);
    if (code === 'AccessDenied' || code === 'AllAccessDisabled') return ownedElsewhere(bucket);
    if (code !== undefined && httpStatusOf(error) === 403) return error;
  }
  // The bucket answers this request but not HEAD: a policy that denies some actions.
  return headError;
}

function ownedElsewhere(bucket: string) {
  return failure(`bucket '${bucket}' exists and belongs to another account`, { hint: 'bucket names are global: choose another name' });
}
