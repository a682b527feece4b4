import type { Command } from 'commander';
import { formatS3Url, parseObjectAddress } from '../../core/config/address.js';
import { usageError } from '../../core/errors.js';
import type { Removed, RemovalFailure } from '../../core/transfer/delete-objects.js';
import type { FilterRule } from '../../core/sync/filters.js';
import { parseCount } from '../../core/config/units.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import { RULES_MATCHED_NOTHING, addFilterOptions, countingNameFilter } from './shared.js';
import { failIfAny } from '../exit-codes.js';

interface RmFlags {
  recursive?: boolean;
  dryRun?: boolean;
  maxDelete?: string;
  allVersions?: boolean;
  yes?: boolean;
}

export function registerRm(program: Command): void {
  const rules: FilterRule[] = [];
  const command = program
    .command('rm')
    .summary('delete an object, or every object under a prefix')
    .description(
      'Delete an object, or with --recursive every object under a prefix, in DeleteObjects batches of up to 1,000 keys ' +
        '(a key XML cannot carry, such as one with ESC or BEL, by a DeleteObject of its own). ' +
        'On a versioned bucket a delete makes a delete marker (the data stays, as older versions); --all-versions --yes ' +
        'deletes every version and delete marker for good. Every key the server refuses is named, and the command exits 1.',
    )
    .argument('<target>', 's3://bucket/key, or a key in --bucket (a prefix with --recursive)')
    .option('-r, --recursive', 'delete every object under the prefix')
    .option('--dry-run', 'list what would be deleted, and delete nothing')
    .option('--max-delete <n>', 'refuse (exit 1, nothing deleted) when more than N would be deleted')
    .option('--all-versions', 'delete every version and delete marker, not just the current version (needs --yes)')
    .option('--yes', 'confirm --all-versions')
    .addHelpText(
      'after',
      `
Examples:
  datalake rm s3://lake/tmp/scratch.csv
  datalake rm -r s3://lake/tmp/ --dry-run
  datalake rm -r s3://lake/raw/old/ --max-delete 1000 --exclude '*.keep'
  datalake rm -r s3://lake/tmp/ --all-versions --yes --json

Names for --exclude/--include are relative to the prefix, with sync's rules:
every name is included unless a rule matches; the last matching rule decides;
a pattern without / matches the base name.`,
    );
  addFilterOptions(command, rules);
  command.action(async (targetText: string, flags: RmFlags, cmd: Command) => {
    const globals = cmd.optsWithGlobals();
    const { settings, out } = await resolveGlobals(globals);
    const recursive = flags.recursive === true;
    const parsed = parseObjectAddress(targetText, settings.bucket, { allowPrefix: recursive });
    const target = recursive && parsed.key !== '' && !parsed.key.endsWith('/') ? { ...parsed, key: `${parsed.key}/` } : parsed;
    if (rules.length > 0 && !recursive) throw usageError('--exclude and --include go with --recursive');
    // A dry run deletes nothing: it needs no confirmation.
    if (flags.allVersions && !flags.yes && !flags.dryRun) throw usageError('--all-versions deletes every version for good: confirm with --yes', 'or leave it out to make delete markers');
    if (flags.yes && !flags.allVersions) throw usageError('--yes confirms --all-versions, and nothing else');
    const filter = countingNameFilter(rules);
    const includeName = filter.include;
    const maxDelete = flags.maxDelete === undefined ? undefined : parseCount(flags.maxDelete, '--max-delete', 0);
    const dryRun = flags.dryRun === true;

    const engine = import('../../core/transfer/remove.js');
    const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
    const { removeObjects } = await engine;
    const deleted: Array<Removed> = [];
    const failed: Array<RemovalFailure> = [];
    const document = () => ({ bucket: target.bucket, dryRun, deleted: deleted.map(jsonEntry), failed: failed.map(jsonEntry) });
    out.reportPartial(document);
    const name = (entry: { key: string; versionId?: string | undefined }) =>
      `${formatS3Url({ bucket: target.bucket, key: entry.key })}${entry.versionId ? ` (version ${entry.versionId})` : ''}`;
    try {
      await removeObjects(runtime.ctx, { target, recursive, includeName, allVersions: flags.allVersions === true, dryRun, maxDelete }, {
        removed(entry) {
          deleted.push(entry);
          out.line(`${dryRun ? '(dry run) would delete' : 'deleted'} ${name(entry)}${entry.isDeleteMarker ? ' [delete marker]' : ''}${entry.deleteMarkerCreated ? ': delete marker made, older versions kept' : ''}`);
        },
        failed(entry) {
          failed.push(entry);
          out.failed(name(entry), entry.error, { bucket: target.bucket, key: entry.key });
        },
      });
    } finally {
      runtime.close();
    }
    if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
    if (filter.matchedNothing(deleted.length + failed.length)) out.line(`${RULES_MATCHED_NOTHING} ${formatS3Url(target)}: nothing to delete`);
    if (recursive || failed.length > 0) out.line(`${deleted.length} ${dryRun ? 'to delete (dry run, nothing deleted)' : 'deleted'}, ${failed.length} failed`);
    out.json(document());
    failIfAny(failed.length);
  });
}

function jsonEntry(entry: Removed | RemovalFailure): Record<string, unknown> {
  return {
    key: entry.key,
    ...(entry.versionId ? { versionId: entry.versionId } : {}),
    ...(entry.isDeleteMarker ? { isDeleteMarker: true } : {}),
    ...('deleteMarkerCreated' in entry && entry.deleteMarkerCreated ? { deleteMarker: true } : {}),
    ...('error' in entry ? { error: entry.error } : {}),
  };
}
