import type { Command } from 'commander';
import { formatS3Url, type ObjectRef } from '../../core/config/address.js';
import { describeError, TargetExists, usageError } from '../../core/errors.js';
import { DestinationGuard } from '../../core/transfer/destination-guard.js';
import { isDirectory, localPathFor, refuseTemporaryTarget, requireKeyForGet, resolveGetPrefix, resolveGetTarget } from '../../core/transfer/get-plan.js';
import { formatBytes } from '../../core/config/units.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import { DOWNLOAD_PROOFS, RULES_MATCHED_NOTHING, addFilterOptions, attempt, countingNameFilter, refuseLossyLocalPath } from './shared.js';
import { failIfAny } from '../exit-codes.js';
import type { FilterRule } from '../../core/sync/filters.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TransferSummary } from '../summary.js';
import type { Output } from '../output.js';

export function registerGet(program: Command): void {
  const rules: FilterRule[] = [];
  addFilterOptions(program.command('get'), rules, 'names under the prefix of a --recursive get')
    .summary('download an object, or a prefix with --recursive')
    .description(
      'Download an object to a file, a directory or - (standard output); with --recursive, every object under a prefix. ' +
        'Large objects come in parallel ranges. Bytes go to a temporary file beside the target, are checked against the ' +
        `cheapest strong proof the object carries — ${DOWNLOAD_PROOFS} — and only then renamed into place: never a partial ` +
        'or corrupt file.',
    )
    .argument('<source>', 's3://bucket/key, or a key in --bucket (a prefix with --recursive)')
    .argument('[destination]', 'file, directory, or - for standard output (default: the current directory)')
    .option('-r, --recursive', 'download every object under the prefix')
    .option('-n, --no-clobber', 'leave a local file that already exists alone (skipped)')
    .addHelpText(
      'after',
      `
Examples:
  datalake get s3://lake/raw/reddit/year=2024/month=01/day=15/events.csv
  datalake get raw/reddit/year=2024/month=01/day=15/events.csv ./data/
  datalake get s3://lake/analytics/report.csv - | head
  datalake get -r s3://lake/raw/reddit/ ./reddit
  datalake get -r s3://lake/raw/reddit/ ./reddit --exclude '*' --include '*.csv'`,
    )
    .action(async (source: string, destination: string | undefined, flags: { recursive?: boolean; clobber?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals();
      // As for cat: standard output holds the object itself, and a document could not be told from its bytes.
      if (globals.json && destination === '-' && !flags.recursive) {
        throw usageError('`-` writes the object itself to standard output: there is no room for --json', 'get it to a file, or use `datalake stat --json` for what the object carries');
      }
      const { settings, out } = await resolveGlobals(globals);
      const noClobber = flags.clobber === false;

      if (rules.length > 0 && !flags.recursive) throw usageError('--exclude and --include go with --recursive');
      refuseLossyLocalPath(destination);
      if (!flags.recursive) {
        const ref = requireKeyForGet(source, settings.bucket);
        const target = await resolveGetTarget(ref, destination);
        interruption.stdoutIsTheOutput = target.kind === 'stdout';
        if (target.kind === 'file' && (await isDirectory(target.path))) throw usageError(`'${target.path}' is a directory`);
        if (target.kind === 'file') refuseTemporaryTarget(target.path);
        const engine = Promise.all([import('../../core/transfer/download.js'), import('../../core/transfer/download-claim.js'), import('../../core/s3/objects.js')]);
        const runtime = await openRuntime(globals, interruption, { settings, out });
        const summary = new TransferSummary(runtime.ctx.events);
        const { failed } = summary;
        out.reportPartial(() => summary.toJson());
        const skip = skipper(summary, out);
        const [{ downloadToFile, downloadToStream }, { removeAbandonedDownload }, { headObject }] = await engine;
        try {
          await attempt(runtime, failed, { key: ref.key, bucket: ref.bucket }, async () => {
            if (noClobber && target.kind === 'file' && existsSync(target.path)) {
              // A source that is not there is the failure it is without --no-clobber, not a skip.
              await headObject(runtime.ctx, ref);
              skip(ref, target.path);
              await removeAbandonedDownload(target.path).then(
                (kept) => warnNotRecords(out, target.path, kept),
                (error: unknown) => out.warn(leftoversKept(target.path, error)),
              );
              return;
            }
            const downloaded = target.kind === 'stdout' ? await downloadToStream(runtime.ctx, ref, process.stdout) : await downloadToFile(runtime.ctx, ref, target.path, { noClobber }).catch(leftAlone);
            if (!downloaded) {
              // --no-clobber: the file appeared while the object was on its way.
              skip(ref, target.kind === 'file' ? target.path : '-');
              return;
            }
            if (target.kind === 'file') out.line(
                `downloaded ${formatS3Url(ref)} → ${target.path}  ${formatBytes(downloaded.size)}  ` +
                  (downloaded.verifiedBy === 'unverifiable' ? 'unverifiable (size checked only)' : `crc32 ${downloaded.crc32}${downloaded.md5 ? `  md5 ${downloaded.md5}` : ''}  verified by ${downloaded.verifiedBy}`),
              );
            if (downloaded.verifiedBy === 'unverifiable') out.warn(`${formatS3Url(ref)}: no CRC32 or MD5 to check against (${downloaded.etag ?? 'no ETag'}); size checked only`);
          });
        } finally {
          runtime.close();
        }
        if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
        if (target.kind === 'file') out.json(summary.toJson());
        failIfAny(failed.length);
        return;
      }

      if (destination === '-') throw usageError('--recursive cannot write to standard output');
      const prefix = resolveGetPrefix(source, settings.bucket);
      const root = destination ?? '.';
      if (existsSync(root) && !(await isDirectory(root))) throw usageError(`'${root}' is not a directory`);
      // The engine's modules load while the runtime's do: one wave of imports, not two.
      const engine = Promise.all([
        import('../../core/transfer/download.js'),
        import('../../core/s3/list.js'),
        import('../../core/s3/limiter.js'),
        import('../../core/transfer/read-ahead.js'),
        import('../../core/transfer/download-claim.js'),
      ]);
      const runtime = await openRuntime(globals, interruption, { settings, out });
      const summary = new TransferSummary(runtime.ctx.events);
      const { failed } = summary;
      out.reportPartial(() => summary.toJson());
      const skip = skipper(summary, out);
      const [{ downloadToFile }, { listObjects }, { forEachWindowed }, { readAhead }, { removeAbandonedDownload }] = await engine;
      const { events } = runtime.ctx;
      let seen = 0;
      const guard = new DestinationGuard(root);
      const filter = countingNameFilter(rules);
      const includeName = filter.include;
      try {
        const listed = (async function* () {
          for await (const entry of listObjects(runtime.ctx, prefix, { recursive: true })) {
            if (entry.kind === 'object' && !entry.object.key.endsWith('/') && includeName(entry.object.key.slice(prefix.key.length))) yield entry.object;
          }
        })();
        // The listing is read ahead of the downloads: the bar's total is the plan's, not the downloads started so far.
        const keys = readAhead(listed, {
          onRead: (object) => events.emit('plan:add', { files: 1, bytes: object.size }),
          onEnd: () => events.emit('plan:complete'),
          signal: runtime.ctx.stopping,
        });
        await forEachWindowed(
          keys,
          settings.concurrency * 2,
          async (listed) => {
            seen += 1;
            const ref = { bucket: prefix.bucket, key: listed.key };
            await attempt(runtime, failed, { key: listed.key, bucket: prefix.bucket }, async () => {
              const path = localPathFor(root, prefix.key, listed.key);
              if (noClobber && existsSync(path)) {
                events.emit('plan:drop', { files: 1, bytes: listed.size });
                skip(ref, path);
                // Reached through the destination's folders held open, as a download would be: never through a link.
                await guard.within(path, (reachable) => removeAbandonedDownload(reachable)).then(
                  (kept) => warnNotRecords(out, path, kept),
                  (error: unknown) => out.warn(leftoversKept(path, error)),
                );
                return;
              }
              await guard.check(path);
              const downloaded = await downloadToFile(runtime.ctx, ref, path, { sizeHint: listed.size, folder: guard, noClobber }).catch(leftAlone);
              if (!downloaded) {
                // --no-clobber: the file appeared while the object was on its way.
                skip(ref, path);
                return;
              }
              out.line(`downloaded ${formatS3Url(ref)} → ${path}  ${formatBytes(downloaded.size)}  ${downloaded.verifiedBy === 'unverifiable' ? 'unverifiable (size checked only)' : `verified by ${downloaded.verifiedBy}`}`);
              if (downloaded.verifiedBy === 'unverifiable') out.warn(`${formatS3Url(ref)}: no CRC32 or MD5 to check against (${downloaded.etag ?? 'no ETag'}); size checked only`);
            });
          },
          runtime.ctx.stopping,
        );
      } finally {
        await guard.close();
        runtime.close();
      }
      if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
      if (filter.matchedNothing(seen)) out.line(`${RULES_MATCHED_NOTHING} ${formatS3Url(prefix)}: nothing to download`);
      else if (seen === 0) {
        const why = 'no objects under this prefix';
        failed.push({ key: prefix.key, error: why, code: 'NoObjects' });
        out.failed(formatS3Url(prefix), why, { bucket: prefix.bucket, key: prefix.key, code: 'NoObjects' });
      } else {
        out.line(`${summary.objects.length} downloaded, ${summary.skipped.length} skipped, ${failed.length} failed, ${formatBytes(summary.bytes)}`);
      }
      out.json(summary.toJson());
      failIfAny(failed.length);
    });
}

/** Reports an object `--no-clobber` leaves alone: its key, then the local path that exists. */
function skipper(summary: TransferSummary, out: Output): (ref: ObjectRef, path: string) => void {
  return (ref, path) => {
    summary.skipped.push({ key: ref.key, path, reason: 'exists' });
    out.line(`skipped ${formatS3Url(ref)}: ${path} exists (--no-clobber)`);
  };
}

/** What an earlier run left beside a skipped target, when it could not be removed: a warning, the skip stands. */
function leftoversKept(path: string, error: unknown): string {
  return `${path}: what an earlier run left beside it was not removed: ${describeError(error)}`;
}

/** Files at a skipped target's temporary names that are not provably datalake's: kept, each told. */
function warnNotRecords(out: Output, path: string, kept: string[]): void {
  for (const name of kept) {
    const kept = join(dirname(path), name);
    out.warn(name.endsWith('.json') || name.endsWith('.json.new') ? `${kept}: not a range record of datalake's downloads (named like one), so left as it is` : `${kept} is not a file datalake can prove it made, so it is left as it is`);
  }
}

/** `--no-clobber` found a file at the target only as the download was put in place: left alone (undefined). */
function leftAlone(error: unknown): undefined {
  if (error instanceof TargetExists) return undefined;
  throw error;
}
