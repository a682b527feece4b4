import type { WriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { formatS3Url, isS3Url, missingBucketError, parseObjectAddress, type ObjectRef } from '../../core/config/address.js';
import { failure, systemReason, usageError } from '../../core/errors.js';
import { parseLayoutDate, parseZone, renderLayoutPrefix, todayUtc, validateDataset } from '../../core/config/layout.js';
import { resolvePutOptions } from '../../core/transfer/put-plan.js';
import { buildNameFilter, parseShard, type FilterRule } from '../../core/sync/filters.js';
import { cacheDirectory, fileNameFor, stateDirectory } from '../../core/config/state-paths.js';
import { formatBytes, parseCount } from '../../core/config/units.js';
import { interruption } from '../interrupt.js';
import { jsonText } from '../output.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import { failIfAny } from '../exit-codes.js';
import { addLayoutOptions, addStorageOptions, collect, refuseLossyLocalPath, type LayoutAndStorageFlags } from './shared.js';

interface SyncFlags extends LayoutAndStorageFlags {
  delete?: boolean;
  maxDelete?: string;
  dryRun?: boolean;
  sizeOnly?: boolean;
  shard?: string;
  followSymlinks?: boolean;
  manifest?: string;
}

export function registerSync(program: Command): void {
  const rules: FilterRule[] = [];
  const command = program
    .command('sync')
    .summary('make a prefix match a local directory, or a local directory match a prefix')
    .description(
      'Local directory → s3://bucket/prefix/ (or the layout with --zone/--dataset/--date), or prefix → local directory. ' +
        'Transfers what is missing or different BY CONTENT: same size but different bytes is different, an mtime-only touch ' +
        'is not. A local hash cache means unchanged files are not hashed again. Delta Lake tables are synced data files ' +
        'first, then _delta_log entries in version order; a table with a file not transferred keeps its log back until a ' +
        'run where all its files arrive. Re-running a finished sync transfers nothing.',
    )
    .argument('<source>', 'local directory or s3://bucket/prefix/')
    .argument('[destination]', 's3://bucket/prefix/ or local directory (omit with --zone)')
    .option('--delete', 'delete what exists only on the destination, after every transfer succeeded')
    .option('--max-delete <n>', 'refuse to delete more than N files')
    .option('--dry-run', 'print the plan (each action and why) and change nothing')
    .option('--exclude <glob>', 'leave out matching relative paths (repeatable; the last matching rule wins)', collect)
    .option('--include <glob>', 'take matching paths back in after an --exclude (repeatable)', collect)
    .option('--size-only', 'compare by size alone, not content')
    .option('--shard <i/n>', 'take only shard I of N (by a hash of the relative path); /N reads JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX')
    .option('--follow-symlinks', 'follow symbolic links (they are skipped otherwise)')
    .option('--manifest <file>', 'write one JSON line per action to FILE')
    .addHelpText(
      'after',
      `
Examples:
  datalake sync ./exports s3://lake/raw/exports/
  datalake sync ./events --zone raw --dataset events --date 2024-01-15
  datalake sync s3://lake/analytics/daily/ ./daily --delete
  datalake sync ./orders s3://lake/processed/orders/ --dry-run --delete
  datalake sync ./logs s3://lake/raw/logs/ \\
      --exclude '*.tmp' --exclude 'debug/**' --include 'debug/keep.log'
  datalake sync ./big-tree s3://lake/raw/tree/ --shard 2/8       # worker 2 of 8
  JOB_COMPLETION_INDEX=3 datalake sync ./big-tree s3://lake/raw/tree/ --shard /8

Filters: a pattern without '/' matches the base name at any depth; with '/',
the relative path. Every name is included unless a rule matches; the last
matching rule decides.`,
    );
  addLayoutOptions(command);
  addStorageOptions(command);
  command.on('option:exclude', (pattern: string) => rules.push({ kind: 'exclude', pattern }));
  command.on('option:include', (pattern: string) => rules.push({ kind: 'include', pattern }));
  command.action(async (sourceText: string, destinationText: string | undefined, flags: SyncFlags, cmd: Command) => {
    const globals = cmd.optsWithGlobals();
    const { settings, out } = await resolveGlobals(globals);

    // Which side is local and which is the lake.
    let direction: 'upload' | 'download';
    let localText: string;
    let remote: ObjectRef;
    if (flags.zone !== undefined || flags.dataset !== undefined || flags.date !== undefined) {
      if (destinationText !== undefined) throw usageError('--zone makes the destination; give only the local source directory');
      if (flags.zone === undefined || flags.dataset === undefined) throw usageError('the layout needs both --zone and --dataset');
      validateDataset(flags.dataset);
      if (!settings.layout.endsWith('{name}')) throw usageError(`sync needs a layout that ends in {name}; '${settings.layout}' does not`);
      if (!settings.bucket) throw missingBucketError();
      const date = flags.date === undefined ? todayUtc() : parseLayoutDate(flags.date);
      direction = 'upload';
      localText = sourceText;
      remote = { bucket: settings.bucket, key: renderLayoutPrefix(settings.layout, { zone: parseZone(flags.zone), dataset: flags.dataset, date }) };
    } else {
      if (destinationText === undefined) throw usageError('sync needs a source and a destination', 'e.g. datalake sync ./dir s3://bucket/prefix/');
      const sourceIsRemote = isS3Url(sourceText);
      const destinationIsRemote = isS3Url(destinationText);
      if (sourceIsRemote === destinationIsRemote) {
        throw usageError(sourceIsRemote ? 'both sides are s3:// addresses: bucket-to-bucket sync is not supported' : 'one side must be an s3://bucket/prefix/ address');
      }
      direction = sourceIsRemote ? 'download' : 'upload';
      localText = sourceIsRemote ? destinationText : sourceText;
      const parsed = parseObjectAddress(sourceIsRemote ? sourceText : destinationText, settings.bucket, { allowPrefix: true });
      remote = { bucket: parsed.bucket, key: parsed.key === '' || parsed.key.endsWith('/') ? parsed.key : `${parsed.key}/` };
    }

    refuseLossyLocalPath(localText);
    const localInfo = await stat(localText).catch(() => undefined);
    if (direction === 'upload' && !localInfo) throw usageError(`no such directory '${localText}'`);
    if (localInfo && !localInfo.isDirectory()) throw usageError(`'${localText}' is not a directory`, direction === 'upload' ? 'use `datalake put` for a single file' : undefined);

    const putOptions = { ...resolvePutOptions(flags), contentType: flags.contentType };
    const includeName = buildNameFilter(rules);
    const shard = flags.shard === undefined ? undefined : parseShard(flags.shard, process.env);
    const maxDelete = flags.maxDelete === undefined ? undefined : parseCount(flags.maxDelete, '--max-delete', 0);
    if (maxDelete !== undefined && !flags.delete) throw usageError('--max-delete goes with --delete');
    const localRoot = resolve(localText);
    const shardTag = shard ? `${shard.index}of${shard.count}` : 'all';
    const hashCachePath = join(cacheDirectory(), 'hashes', `${fileNameFor(localRoot)}-${shardTag}.jsonl`);

    // The engine's modules load while the runtime's do: one wave of imports, not two.
    const engine = Promise.all([import('../../core/sync/sync.js'), import('../../core/sync/lock.js')]);
    const runtime = await openRuntime(globals, interruption, { settings, out });
    const [{ runSync, describeSyncTarget, emptySyncReport }, { acquireSyncLock, canonicalLocalRoot }] = await engine;
    const plan = {
      direction,
      localRoot,
      remote,
      deleteExtraneous: flags.delete === true,
      maxDelete,
      dryRun: flags.dryRun === true,
      sizeOnly: flags.sizeOnly === true,
      followSymlinks: flags.followSymlinks === true,
      includeName,
      shard,
      putOptions,
      hashCachePath,
    };
    const description = describeSyncTarget(plan);
    let manifest: WriteStream | undefined;
    let releaseLock: (() => Promise<void>) | undefined;
    const started = Date.now();
    let failedCount = 0;
    try {
      manifest = flags.manifest ? await openManifest(flags.manifest) : undefined;
      if (!plan.dryRun) {
        const lockRoot = await canonicalLocalRoot(localRoot);
        const lockPath = join(stateDirectory(), 'locks', `${fileNameFor(`${direction}\0${lockRoot}\0${formatS3Url(remote)}\0${shardTag}`)}.lock`);
        releaseLock = await acquireSyncLock(lockPath, description);
      }
      const dry = plan.dryRun ? '(dry run) ' : '';
      // What completed, in the document of a run that fails as a whole (a bucket not there) or is interrupted.
      const report = emptySyncReport(plan.dryRun);
      out.reportPartial(() => ({ ...report }));
      await runSync(runtime.ctx, plan, (action) => {
        manifest?.write(`${jsonText({ ...action, time: new Date().toISOString() })}\n`);
        if (action.action === 'skip') {
          if (action.reason === 'temporary name') out.line(`skip: ${action.name} (named as a datalake download in progress: never sent, fetched or deleted)`);
          return;
        }
        if (action.status === 'failed') {
          out.failed(action.name, action.error ?? 'failed', { bucket: remote.bucket, key: action.key, path: action.path });
          return;
        }
        const remoteUrl = formatS3Url({ bucket: remote.bucket, key: action.key });
        const arrow = action.action === 'upload' ? `${action.name} → ${remoteUrl}` : action.action === 'download' ? `${remoteUrl} → ${action.path}` : direction === 'upload' ? remoteUrl : action.path;
        out.line(`${dry}${action.action}: ${arrow} (${action.reason})`);
      }, report);
      for (const error of report.errors.filter((e) => e.name === '(deletions)')) out.failed('--delete', error.error);
      if (report.symlinksSkipped > 0) out.warn(`${report.symlinksSkipped} symbolic links not followed (use --follow-symlinks)`);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      out.line(
        `${dry}sync ${description}: ${report.transferred} ${plan.dryRun ? 'to transfer' : 'transferred'}, ${report.skipped} skipped, ${report.deleted} ${plan.dryRun ? 'to delete' : 'deleted'}, ${report.failed} failed, ${formatBytes(report.bytes)} in ${seconds}s`,
      );
      // An interrupted run's document is the partial one, with the interrupt as its `error` (printed where errors are mapped).
      if (!runtime.ctx.stopping?.aborted) out.json(report);
      failedCount = report.failed;
    } finally {
      runtime.close();
      await new Promise<void>((done) => (manifest ? manifest.end(() => done()) : done()));
      await releaseLock?.();
    }
    if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
    const manifestError = manifest?.errored;
    if (manifestError) throw failure(`could not write the manifest ${flags.manifest}: ${systemReason(manifestError)}`, { cause: manifestError });
    failIfAny(failedCount);
  });
}

/**
 * The --manifest file, opened before anything is transferred: a path that cannot be written is bad
 * input (exit 2). A write that fails later (a full disk) is kept on the stream and reported once the
 * sync is over, never an unhandled 'error' event.
 */
async function openManifest(path: string): Promise<WriteStream> {
  const handle = await open(path, 'w').catch((error: unknown) => {
    throw usageError(`cannot write the manifest '${path}': ${systemReason(error as NodeJS.ErrnoException)}`);
  });
  const stream = handle.createWriteStream();
  stream.on('error', () => undefined);
  return stream;
}
