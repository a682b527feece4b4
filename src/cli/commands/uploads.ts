import type { Command } from 'commander';
import { configuredBucketRoot, formatS3Url, parseObjectAddress } from '../../core/config/address.js';
import { parseDuration } from '../../core/config/units.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import type { IncompleteUpload } from '../../core/s3/uploads.js';

export function registerUploads(program: Command): void {
  const uploads = program
    .command('uploads')
    .summary('list or abort incomplete multipart uploads')
    .description('Incomplete multipart uploads cost storage while they sit. List them under a prefix, or abort them.')
    .addHelpText(
      'after',
      `
Examples:
  datalake uploads ls s3://lake/
  datalake uploads abort s3://lake/raw/ --older-than 7d
  datalake uploads ls --bucket lake --json`,
    );

  uploads
    .command('ls')
    .description('list incomplete multipart uploads under a prefix')
    .argument('[prefix]', 's3://bucket/prefix or a prefix in --bucket (default: the whole bucket)')
    .addHelpText('after', '\nExamples:\n  datalake uploads ls s3://lake/\n  datalake uploads ls raw/ --bucket lake --json')
    .action(async (prefixText: string | undefined, _flags: unknown, command: Command) => {
      interruption.stdoutIsTheOutput = true;
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      const where = prefixText === undefined ? configuredBucketRoot(settings.bucket) : parseObjectAddress(prefixText, settings.bucket, { allowPrefix: true });
      const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
      const { listIncompleteUploads } = await import('../../core/s3/uploads.js');
      const found = [];
      try {
        for await (const upload of listIncompleteUploads(runtime.ctx, where)) {
          found.push(upload);
          out.line(`${(upload.initiated ?? '').slice(0, 19).replace('T', ' ')}  ${formatS3Url({ bucket: where.bucket, key: upload.key })}  ${upload.uploadId}`);
        }
      } finally {
        runtime.close();
      }
      out.line(`${found.length} incomplete upload${found.length === 1 ? '' : 's'} under ${formatS3Url(where)}`);
      out.json({ uploads: found });
    });

  uploads
    .command('abort')
    .description('abort incomplete multipart uploads under a prefix')
    .argument('[prefix]', 's3://bucket/prefix or a prefix in --bucket (default: the whole bucket)')
    .option('--older-than <duration>', 'only uploads started longer ago than this: 900, 15m, 1h, 7d')
    .option('--dry-run', 'list what would be aborted, and abort nothing')
    .addHelpText('after', '\nExamples:\n  datalake uploads abort s3://lake/raw/ --older-than 7d\n  datalake uploads abort --bucket lake --dry-run')
    .action(async (prefixText: string | undefined, flags: { olderThan?: string; dryRun?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      const where = prefixText === undefined ? configuredBucketRoot(settings.bucket) : parseObjectAddress(prefixText, settings.bucket, { allowPrefix: true });
      const olderThanSeconds = flags.olderThan === undefined ? 0 : parseDuration(flags.olderThan, '--older-than');
      const cutoff = Date.now() - olderThanSeconds * 1000;
      const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
      const { listIncompleteUploads, abortUpload } = await import('../../core/s3/uploads.js');
      const aborted: IncompleteUpload[] = [];
      let kept = 0;
      // A run that fails midway still names, with --json, the uploads it aborted.
      out.reportPartial(() => ({ aborted, kept, dryRun: flags.dryRun === true }));
      try {
        for await (const upload of listIncompleteUploads(runtime.ctx, where)) {
          if (upload.initiated !== null && Date.parse(upload.initiated) > cutoff) {
            kept += 1;
            continue;
          }
          if (!flags.dryRun) await abortUpload(runtime.ctx, where.bucket, upload);
          aborted.push(upload);
          out.line(`${flags.dryRun ? '(dry run) ' : ''}aborted ${formatS3Url({ bucket: where.bucket, key: upload.key })}  ${upload.uploadId}`);
        }
      } finally {
        runtime.close();
      }
      out.line(`${aborted.length} ${flags.dryRun ? 'to abort' : 'aborted'}, ${kept} newer than --older-than kept`);
      out.json({ aborted, kept, dryRun: flags.dryRun === true });
    });
}
