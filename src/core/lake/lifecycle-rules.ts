/**
 * The lifecycle rules datalake keeps in a lake's bucket, one per zone: built from the zones' lifecycle
 * (lifecycle-defaults.ts), compared with what the bucket has, and written with the rules datalake did
 * not create kept as they are; each feature an endpoint refuses is dropped and reported on its own.
 */
import {
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  type LifecycleRule,
} from '@aws-sdk/client-s3';
import { errorCodeOf, httpStatusOf } from '../s3/retry.js';
import type { ZoneLifecycle } from './lifecycle-defaults.js';
import { isUnsupported, type Send, type SettingReport, type SettingState } from './settings.js';

/** Rules that datalake owns carry this ID prefix; every other rule in the bucket is left as it is. */
export const RULE_PREFIX = 'datalake-';

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
export async function applyLifecycle(setup: { bucket: string; lifecycle: ZoneLifecycle[]; dryRun: boolean }, send: Send): Promise<SettingReport[]> {
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
