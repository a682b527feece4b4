/**
 * lake/: what makes a bucket a lake: its setup (this file: versioning, encryption, public access,
 * the zones' lifecycle) and Delta tables (delta/: log, commit, append, history). Imports transfer/,
 * s3/, integrity/, config/, errors.ts.
 */
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLocationCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type LifecycleRule,
} from '@aws-sdk/client-s3';
import { retrying, type TransferContext } from '../s3/context.js';
import { failure, usageError } from '../errors.js';
import { ZONES, type Zone } from '../config/layout.js';
import { DEFAULT_LIFECYCLE, type ZoneLifecycle } from './lifecycle-defaults.js';

export { DEFAULT_LIFECYCLE, type ZoneLifecycle };
import { errorCodeOf, httpStatusOf } from '../s3/retry.js';

export type SettingState = 'created' | 'updated' | 'unchanged' | 'unsupported';

export interface SettingReport {
  name: string;
  state: SettingState;
  detail?: string;
}

export interface BucketSetup {
  bucket: string;
  region: string;
  /** SSE-KMS with this key; SSE-S3 (AES256) when absent. */
  kmsKeyId?: string | undefined;
  lifecycle: ZoneLifecycle[];
  dryRun: boolean;
}

/** Rules that datalake owns carry this ID prefix; every other rule in the bucket is left as it is. */
export const RULE_PREFIX = 'datalake-';

const UNSUPPORTED_CODES = new Set(['NotImplemented', 'XNotImplemented', 'NotSupported', 'MethodNotAllowed']);

function isUnsupported(error: unknown): boolean {
  const code = errorCodeOf(error);
  return (code !== undefined && UNSUPPORTED_CODES.has(code)) || httpStatusOf(error) === 501;
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
  const send: Send = <T>(name: string, command: object) => retrying(ctx, name, () => ctx.client.send(command as never, { abortSignal: ctx.signal }) as Promise<T>);

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

/** One SDK command under the retry policy; typed loosely because each setting speaks its own command. */
type Send = <T>(name: string, command: object) => Promise<T>;

interface SettingPlan {
  existed: boolean;
  same: boolean;
  write: () => Promise<unknown>;
  detail: string;
}

async function applySetting(setup: BucketSetup, name: string, plan: () => Promise<SettingPlan>): Promise<SettingReport> {
  try {
    const { existed, same, write, detail } = await plan();
    if (same) return { name, state: 'unchanged', detail };
    if (!setup.dryRun) await write();
    return { name, state: existed ? 'updated' : 'created', detail };
  } catch (error) {
    if (isUnsupported(error)) return { name, state: 'unsupported', detail: `${errorCodeOf(error) ?? 'not implemented'} by this endpoint` };
    throw error;
  }
}

/** Create-if-missing, with the LocationConstraint every region but us-east-1 needs. */
async function ensureBucket(ctx: TransferContext, setup: BucketSetup): Promise<SettingState> {
  try {
    await retrying(ctx, 'HeadBucket', () => ctx.client.send(new HeadBucketCommand({ Bucket: setup.bucket }), { abortSignal: ctx.signal }));
    return 'unchanged';
  } catch (error) {
    const status = httpStatusOf(error);
    if (status === 403) throw await forbiddenWhy(ctx, setup.bucket, error);
    if (status !== 404 && errorCodeOf(error) !== 'NotFound' && errorCodeOf(error) !== 'NoSuchBucket') throw error;
  }
  if (setup.dryRun) return 'created';
  try {
    await retrying(ctx, 'CreateBucket', () =>
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
    await retrying(ctx, 'GetBucketLocation', () => ctx.client.send(new GetBucketLocationCommand({ Bucket: bucket }), { abortSignal: ctx.signal }));
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

/** The parts of a lifecycle rule an endpoint may or may not implement, each reported on its own. */
export type LifecycleFeature = 'transitions' | 'abort-incomplete-uploads' | 'expiration';

/** The rule datalake keeps for one zone, with only the features given; undefined if it would do nothing. */
export function lifecycleRule(zone: ZoneLifecycle, features: ReadonlySet<LifecycleFeature>): LifecycleRule | undefined {
  const transitions = features.has('transitions') && zone.transitions.length > 0;
  const expiration = features.has('expiration') && zone.expirationDays !== undefined;
  const abort = features.has('abort-incomplete-uploads');
  if (!transitions && !expiration && !abort) return undefined;
  return {
    ID: `${RULE_PREFIX}${zone.zone}`,
    Status: 'Enabled',
    Filter: { Prefix: `${zone.zone}/` },
    ...(abort ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: zone.abortIncompleteUploadsDays } } : {}),
    ...(transitions ? { Transitions: zone.transitions.map((transition) => ({ Days: transition.days, StorageClass: transition.storageClass as never })) } : {}),
    ...(expiration ? { Expiration: { Days: zone.expirationDays } } : {}),
  };
}

/** A rule as plain comparable text: the same rule reads back in different shapes from different servers. */
function canonicalRule(rule: LifecycleRule): string {
  const prefix = rule.Filter?.Prefix ?? rule.Filter?.And?.Prefix ?? (rule as { Prefix?: string }).Prefix ?? '';
  return JSON.stringify({
    id: rule.ID,
    status: rule.Status,
    prefix,
    abort: rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation ?? null,
    transitions: (rule.Transitions ?? []).map((t) => [t.Days ?? null, t.StorageClass]).sort(),
    expiration: rule.Expiration?.Days ?? null,
  });
}

/** Feature sets to try, richest first: each later one drops what an endpoint may refuse. */
function fallbacks(wanted: LifecycleFeature[]): LifecycleFeature[][] {
  const sets: LifecycleFeature[][] = [];
  for (let mask = (1 << wanted.length) - 1; mask >= 0; mask -= 1) {
    sets.push(wanted.filter((_, index) => mask & (1 << index)));
  }
  return sets.sort((a, b) => b.length - a.length);
}

/**
 * PutBucketLifecycleConfiguration replaces the whole configuration, so the rules datalake did not
 * create are read and written back unchanged. Each feature (transitions, abort of incomplete uploads,
 * expiration) is reported on its own: an endpoint that refuses one (MinIO refuses the abort rule and
 * transitions to classes it has no tier for) gets the others, and the refused one is `unsupported`.
 */
async function applyLifecycle(setup: BucketSetup, send: Send): Promise<SettingReport[]> {
  const bucket = setup.bucket;
  const wanted: LifecycleFeature[] = ['abort-incomplete-uploads'];
  if (setup.lifecycle.some((zone) => zone.transitions.length > 0)) wanted.unshift('transitions');
  if (setup.lifecycle.some((zone) => zone.expirationDays !== undefined)) wanted.push('expiration');
  const report = (state: SettingState, supported: ReadonlySet<LifecycleFeature>, refusal?: string): SettingReport[] =>
    wanted.map((feature) =>
      supported.has(feature)
        ? { name: `lifecycle-${feature}`, state, detail: describeFeature(setup.lifecycle, feature) }
        : { name: `lifecycle-${feature}`, state: 'unsupported', detail: `${refusal ?? 'refused'} by this endpoint` },
    );

  let existing: LifecycleRule[];
  try {
    const current = await send<{ Rules?: LifecycleRule[] }>('GetBucketLifecycleConfiguration', new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    existing = current.Rules ?? [];
  } catch (error) {
    if (isUnsupported(error)) return report('unsupported', new Set(), errorCodeOf(error));
    if (errorCodeOf(error) !== 'NoSuchLifecycleConfiguration') throw error;
    existing = [];
  }
  const foreign = existing.filter((rule) => !(rule.ID ?? '').startsWith(RULE_PREFIX));
  const ours = JSON.stringify(existing.filter((rule) => (rule.ID ?? '').startsWith(RULE_PREFIX)).map(canonicalRule).sort());
  const hadRules = ours !== '[]';

  let refusal: string | undefined;
  for (const featureList of fallbacks(wanted)) {
    const features = new Set(featureList);
    const rules = setup.lifecycle.map((zone) => lifecycleRule(zone, features)).filter((rule): rule is LifecycleRule => rule !== undefined);
    if (rules.length === 0) break;
    if (JSON.stringify(rules.map(canonicalRule).sort()) === ours) return report('unchanged', features, refusal);
    // A dry run cannot know which rules the endpoint refuses (it says so only to a write): said, not guessed.
    if (setup.dryRun) return report(hadRules ? 'updated' : 'created', features, refusal).map((line) => ({ ...line, detail: `${line.detail ?? ''}; whether this endpoint accepts it is known only when it is applied` }));
    try {
      await send('PutBucketLifecycleConfiguration', new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [...foreign, ...rules] } }));
      return report(hadRules ? 'updated' : 'created', features, refusal);
    } catch (error) {
      if (!isUnsupported(error) && httpStatusOf(error) !== 400) throw error;
      refusal ??= errorCodeOf(error) ?? 'refused';
    }
  }
  return report('unsupported', new Set(), refusal);
}

function describeFeature(lifecycle: ZoneLifecycle[], feature: LifecycleFeature): string {
  return lifecycle
    .map((zone) => {
      if (feature === 'transitions') return zone.transitions.length ? `${zone.zone}/ ${zone.transitions.map((t) => `${t.storageClass} at ${t.days}d`).join(', ')}` : '';
      if (feature === 'expiration') return zone.expirationDays !== undefined ? `${zone.zone}/ at ${zone.expirationDays}d` : '';
      return `${zone.zone}/ after ${zone.abortIncompleteUploadsDays}d`;
    })
    .filter(Boolean)
    .join('; ');
}

/** Reads a lifecycle override file: `{"raw": {"transitions": [{"days": 30, "storageClass": "STANDARD_IA"}], …}, …}`. */
export function parseLifecycleOverride(text: string, source: string): ZoneLifecycle[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usageError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw usageError(`${source}: expected an object keyed by zone`);
  const overrides = parsed as Record<string, unknown>;
  for (const key of Object.keys(overrides)) if (!(ZONES as readonly string[]).includes(key)) throw usageError(`${source}: unknown zone '${key}'`, `use ${ZONES.join(', ')}`);
  return DEFAULT_LIFECYCLE.map((defaults) => {
    const override = overrides[defaults.zone] as Partial<{ transitions: unknown; expirationDays: unknown; abortIncompleteUploadsDays: unknown }> | undefined;
    if (override === undefined) return defaults;
    const days = (value: unknown, what: string) => {
      if (!Number.isInteger(value) || (value as number) < 1) throw usageError(`${source}: ${defaults.zone}.${what} must be a whole number of days ≥ 1`);
      return value as number;
    };
    const transitions =
      override.transitions === undefined
        ? defaults.transitions
        : Array.isArray(override.transitions)
          ? override.transitions.map((t: { days?: unknown; storageClass?: unknown }, i) => {
              if (typeof t?.storageClass !== 'string') throw usageError(`${source}: ${defaults.zone}.transitions[${i}].storageClass must be a string`);
              return { days: days(t.days, `transitions[${i}].days`), storageClass: t.storageClass.toUpperCase() };
            })
          : (() => {
              throw usageError(`${source}: ${defaults.zone}.transitions must be a list`);
            })();
    return {
      zone: defaults.zone,
      transitions,
      expirationDays: override.expirationDays === undefined || override.expirationDays === null ? undefined : days(override.expirationDays, 'expirationDays'),
      abortIncompleteUploadsDays: override.abortIncompleteUploadsDays === undefined ? defaults.abortIncompleteUploadsDays : days(override.abortIncompleteUploadsDays, 'abortIncompleteUploadsDays'),
    };
  });
}
