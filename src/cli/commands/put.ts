import type { Command } from 'commander';
import { formatS3Url } from '../../core/config/address.js';
import { planPut, resolvePutDestination, resolvePutOptions } from '../../core/transfer/put-plan.js';
import { formatBytes } from '../../core/config/units.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import { interruption } from '../interrupt.js';
import { addFilterOptions, addLayoutOptions, addStorageOptions, attempt, refuseLossyLocalPath, type FailedItem } from './shared.js';
import { failIfAny } from '../exit-codes.js';
import { buildNameFilter, type FilterRule } from '../../core/sync/filters.js';
import { usageError } from '../../core/errors.js';
import { TransferSummary } from '../summary.js';
import { errorCodeOf } from '../../core/s3/retry.js';

interface PutFlags {
  key?: string;
  zone?: string;
  dataset?: string;
  date?: string;
  recursive?: boolean;
  /** false with --no-clobber */
  clobber?: boolean;
  meta?: string[];
  tag?: string[];
  contentType?: string;
  storageClass?: string;
  sse?: string;
  sseKmsKeyId?: string;
  md5Metadata?: boolean;
}

export function registerPut(program: Command): void {
  const command = program.command('put');
  const rules: FilterRule[] = [];
  addLayoutOptions(command);
  addStorageOptions(command);
  addFilterOptions(command, rules, 'paths of a --recursive tree');
  command
    .summary('upload files, a directory tree or standard input')
    .description(
      'Upload files (or - for standard input) to s3://bucket/key, --key KEY, or the lake layout (--zone/--dataset/--date). ' +
        'Every object carries S3\'s full-object CRC32, computed as the bytes are sent and checked by the server. ' +
        'Files up to one part size go in a single PUT with Content-MD5 and the whole-content MD5 in metadata (md5chksum); ' +
        'larger ones in parts, each with its own Content-MD5 and CRC32 (md5chksum too with --md5-metadata). The ETag is checked after upload.',
    )
    .argument('<files...>', 'files to upload, then optionally the destination (s3://bucket/key, a key, or a prefix ending in /)')
    .option('--key <key>', 'destination key (s3://bucket/key or a key in --bucket)')
    .option('-r, --recursive', 'upload a directory tree')
    .option('-n, --no-clobber', 'leave an object that already exists at the destination key alone (skipped)')
    .addHelpText(
      'after',
      `
Examples:
  datalake put events.csv --zone raw --dataset reddit --date 2024-01-15
      → s3://$DATALAKE_BUCKET/raw/reddit/year=2024/month=01/day=15/events.csv
  datalake put report.parquet s3://lake/analytics/reports/report.parquet
  datalake put a.csv b.csv s3://lake/raw/manual/
  datalake put -r ./exports s3://lake/raw/exports/
  datalake put -r ./exports s3://lake/raw/exports/ --exclude '*.tmp'
  datalake put -r ./exports s3://lake/raw/exports/ --no-clobber   # new only
  pg_dump mydb | datalake put - --key backups/mydb.sql
  datalake put big.bin --key tmp/big.bin --meta owner=etl --tag team=data --json`,
    )
    .action(async (positionals: string[], flags: PutFlags, command: Command) => {
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      if (rules.length > 0 && flags.recursive !== true) throw usageError('--exclude and --include go with --recursive');
      const { sources, destination } = resolvePutDestination({ positionals, ...flags });
      for (const source of sources) refuseLossyLocalPath(source);
      const options = resolvePutOptions(flags);
      // A folder or file of a tree that cannot be read is reported and the rest still goes, as rsync does.
      const unreadable: FailedItem[] = [];
      const items = await planPut(
        {
          sources,
          destination,
          recursive: flags.recursive === true,
          bucket: settings.bucket,
          layout: settings.layout,
          contentType: flags.contentType,
          includeName: rules.length > 0 ? buildNameFilter(rules) : undefined,
        },
        (path, reason) => unreadable.push({ path, error: path.endsWith('/') ? `${reason}; nothing under it was uploaded` : reason }),
      );

      // The engine's modules load while the runtime's do: one wave of imports, not two.
      const engine = Promise.all([import('../../core/transfer/upload.js'), import('../../core/s3/limiter.js'), import('../../core/s3/objects.js')]);
      const runtime = await openRuntime(globals, interruption, { settings, out });
      const [{ uploadFile, uploadStream }, { forEachWindowed }, { findObject }] = await engine;
      const summary = new TransferSummary(runtime.ctx.events);
      const { failed } = summary;
      out.reportPartial(() => summary.toJson());
      for (const item of unreadable) {
        failed.push(item);
        out.failed(item.path!, item.error, { path: item.path });
      }
      // The bar's total is the whole plan's, known before the first byte moves.
      const { events } = runtime.ctx;
      if (items.every((item) => item.size !== undefined)) {
        events.emit('plan:add', { files: items.length, bytes: items.reduce((sum, item) => sum + (item.size ?? 0), 0) });
        events.emit('plan:complete');
      }
      const noClobber = flags.clobber === false;
      const started = Date.now();
      try {
        await forEachWindowed(
          items,
          settings.concurrency * 2,
          async (item) => {
            await attempt(runtime, failed, { path: item.source, bucket: item.ref.bucket }, async () => {
              const skip = () => {
                summary.skipped.push({ key: item.ref.key, path: item.source, reason: 'exists' });
                events.emit('plan:drop', { files: 1, bytes: item.size ?? 0 });
                out.line(`skipped ${item.source}: ${formatS3Url(item.ref)} exists (--no-clobber)`);
              };
              if (noClobber && (await findObject(runtime.ctx, item.ref, 'data'))) return skip();
              // The write itself is conditional too: a writer that gets there between the look and the write keeps its object.
              const putOptions = { ...options, contentType: item.contentType, ifNoneMatch: noClobber };
              const upload = item.source === '-' ? uploadStream(runtime.ctx, process.stdin, item.ref, putOptions) : uploadFile(runtime.ctx, item.source, item.ref, putOptions, { stat: item.listed });
              const uploaded = await upload.catch((error: unknown) => {
                if (noClobber && errorCodeOf(error) === 'PreconditionFailed') return undefined;
                throw error;
              });
              if (!uploaded) return skip();
              out.line(`uploaded ${item.source} → ${formatS3Url(item.ref)}  ${formatBytes(uploaded.size)}  crc32 ${uploaded.crc32}${uploaded.md5 ? `  md5 ${uploaded.md5}` : ''}`);
            });
          },
          runtime.ctx.stopping,
        );
      } finally {
        runtime.close();
      }
      if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
      if (items.length > 1) {
        out.line(`${summary.objects.length} uploaded, ${failed.length} failed, ${formatBytes(summary.bytes)} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      }
      out.json(summary.toJson());
      failIfAny(failed.length);
    });
}
