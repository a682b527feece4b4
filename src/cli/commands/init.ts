import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { missingBucketError, validateBucketName } from '../../core/config/address.js';
import { systemReason, usageError } from '../../core/errors.js';
import { DEFAULT_LIFECYCLE, describeLifecycle, parseLifecycleOverride } from '../../core/lake/lifecycle-defaults.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .summary('make a bucket lake-ready, idempotently')
    .description(
      'Create the bucket if missing (with the region\'s LocationConstraint), then make sure of: default encryption ' +
        '(SSE-S3, or SSE-KMS with --kms-key-id), versioning, public access blocked, and lifecycle rules per zone ' +
        `(${describeLifecycle(DEFAULT_LIFECYCLE)}). Each setting is reported as created, updated, unchanged or unsupported. ` +
        'Lifecycle rules that datalake did not create are kept.',
    )
    .argument('[bucket]', 'the bucket (default: --bucket / DATALAKE_BUCKET)')
    .option('--kms-key-id <id>', 'default encryption with this KMS key (SSE-KMS) instead of SSE-S3')
    .option('--lifecycle <file>', 'JSON file overriding the per-zone lifecycle defaults')
    .option('--dry-run', 'report what would change, and change nothing')
    .addHelpText(
      'after',
      `
Examples:
  datalake init --bucket lake
  datalake init s3://lake --dry-run
  datalake init lake --kms-key-id alias/lake --lifecycle lifecycle.json --json

Lifecycle file (every field optional; zones left out keep the defaults):
  {"raw": {"transitions": [{"days": 30, "storageClass": "STANDARD_IA"}],
           "expirationDays": 365, "abortIncompleteUploadsDays": 3}}`,
    )
    .action(async (bucketArgument: string | undefined, flags: { kmsKeyId?: string; lifecycle?: string; dryRun?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      const bucket = bucketArgument?.replace(/^s3:\/\//, '').replace(/\/$/, '') ?? settings.bucket;
      if (!bucket) throw missingBucketError();
      validateBucketName(bucket);
      const { setUpBucket } = await import('../../core/lake/bucket-setup.js');
      let lifecycle = DEFAULT_LIFECYCLE;
      if (flags.lifecycle) {
        let text: string;
        try {
          text = readFileSync(flags.lifecycle, 'utf8');
        } catch (error) {
          throw usageError(`cannot read --lifecycle ${flags.lifecycle}: ${systemReason(error as NodeJS.ErrnoException)}`);
        }
        lifecycle = parseLifecycleOverride(text, flags.lifecycle);
      }
      const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
      try {
        const reports = await setUpBucket(runtime.ctx, { bucket, region: settings.region, kmsKeyId: flags.kmsKeyId, lifecycle, dryRun: flags.dryRun === true });
        const width = Math.max(...reports.map((report) => report.name.length));
        for (const report of reports) out.line(`${report.name.padEnd(width)}  ${(flags.dryRun && (report.state === 'created' || report.state === 'updated') ? `would be ${report.state}` : report.state).padEnd(16)}${report.detail ? `  ${report.detail}` : ''}`);
        out.json({ bucket, dryRun: flags.dryRun === true, settings: reports });
      } finally {
        runtime.close();
      }
    });
}
