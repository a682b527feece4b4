/** The lifecycle `init` asks of each zone: the defaults, a --lifecycle file's overrides of them, and the lifecycle in words. */
import { usageError } from '../errors.js';
import { ZONES, type Zone } from '../config/layout.js';

/** What `init` makes sure of in one zone's lifecycle rule. */
export interface ZoneLifecycle {
  zone: Zone;
  /** Move objects to cheaper storage classes after so many days. */
  transitions: Array<{ days: number; storageClass: string }>;
  /** Delete objects after so many days; none by default. */
  expirationDays?: number | undefined;
  /** Abort multipart uploads left incomplete after so many days (they cost money while they sit). */
  abortIncompleteUploadsDays: number;
}

/**
 * The default lifecycle, per zone: raw data is written once and rarely read again, so it cools
 * quickly; processed data cools later; analytics stays hot. Incomplete uploads go after 7 days.
 */
export const DEFAULT_LIFECYCLE: ZoneLifecycle[] = [
  { zone: 'raw', transitions: [{ days: 30, storageClass: 'STANDARD_IA' }, { days: 90, storageClass: 'GLACIER' }], abortIncompleteUploadsDays: 7 },
  { zone: 'processed', transitions: [{ days: 90, storageClass: 'STANDARD_IA' }], abortIncompleteUploadsDays: 7 },
  { zone: 'analytics', transitions: [], abortIncompleteUploadsDays: 7 },
];

/**
 * The lifecycle in words, for help text: `raw → STANDARD_IA at 30 days → GLACIER at 90; …;
 * incomplete multipart uploads aborted after 7 days in every zone`.
 */
export function describeLifecycle(lifecycle: readonly ZoneLifecycle[]): string {
  const zones = lifecycle
    .filter((zone) => zone.transitions.length > 0 || zone.expirationDays !== undefined)
    .map((zone) => {
      const steps = zone.transitions.map((step, index) => `${step.storageClass} at ${step.days}${index === 0 ? ' days' : ''}`);
      if (zone.expirationDays !== undefined) steps.push(`deleted at ${zone.expirationDays}${steps.length === 0 ? ' days' : ''}`);
      return `${zone.zone} → ${steps.join(' → ')}`;
    });
  const abortDays = [...new Set(lifecycle.map((zone) => zone.abortIncompleteUploadsDays))];
  const abort =
    abortDays.length === 1
      ? `incomplete multipart uploads aborted after ${abortDays[0]} days in every zone`
      : `incomplete multipart uploads aborted after ${lifecycle.map((zone) => `${zone.abortIncompleteUploadsDays} days in ${zone.zone}`).join(', ')}`;
  return [...zones, abort].join('; ');
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
