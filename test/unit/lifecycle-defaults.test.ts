import { describe, expect, it } from 'vitest';
import { DEFAULT_LIFECYCLE, describeLifecycle } from '../../src/core/lake/lifecycle-defaults.js';

describe('the lifecycle init applies, in words for --help', () => {
  it('names every transition of every zone and the abort age, from the defaults themselves', () => {
    const text = describeLifecycle(DEFAULT_LIFECYCLE);
    for (const zone of DEFAULT_LIFECYCLE) {
      for (const step of zone.transitions) expect(text).toMatch(new RegExp(`${zone.zone} →[^;]*${step.storageClass} at ${step.days}\\b`));
    }
    expect(text).toBe('raw → STANDARD_IA at 30 days → GLACIER at 90; processed → STANDARD_IA at 90 days; incomplete multipart uploads aborted after 7 days in every zone');
  });

  it('follows a changed lifecycle: expiration, zones without rules, abort ages that differ', () => {
    const text = describeLifecycle([
      { zone: 'raw', transitions: [], expirationDays: 365, abortIncompleteUploadsDays: 3 },
      { zone: 'processed', transitions: [], abortIncompleteUploadsDays: 7 },
    ]);
    expect(text).toBe('raw → deleted at 365 days; incomplete multipart uploads aborted after 3 days in raw, 7 days in processed');
  });
});
