import type { Command } from 'commander';
import { formatS3Url, parseObjectAddress, type ObjectRef } from '../../core/config/address.js';
import { usageError } from '../../core/errors.js';
import { parseZone, renderLayoutKey, todayUtc, validateDataset } from '../../core/config/layout.js';
import { formatBytes } from '../../core/config/units.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import { collect } from './shared.js';
import { failIfAny } from '../exit-codes.js';

/** Why a file is not added, for its line. */
const NOT_ADDED = {
  'in-table': 'already in the table',
  'removed-before': 'not added again (the table had it; a later version removed it)',
} as const;

interface LayoutFlags {
  zone?: string;
  dataset?: string;
}

interface AppendFlags extends LayoutFlags {
  partition?: string[];
  dryRun?: boolean;
}

export function registerTable(program: Command): void {
  const table = program
    .command('table')
    .summary('append Parquet files to a Delta Lake table')
    .description('Delta Lake tables: append Parquet files as one new version, committed with a conditional PUT (safe with concurrent writers).');

  table
    .command('append')
    .description(
      'Upload Parquet files under the table (Hive-style partition folders from --partition), then commit them as one new table version ' +
        '(_delta_log/NNNNNNNNNNNNNNNNNNNN.json with an add action and column stats per file). The first append to an empty prefix creates the table. ' +
        'A schema that differs from the table\'s is refused before anything is uploaded.',
    )
    .argument('<table-and-files...>', 'the table (s3://bucket/prefix/ or a prefix in --bucket; omit with --zone/--dataset), then the Parquet files')
    .option('--partition <column=value>', "the partition the files belong to (repeatable; a partitioned table needs every one of its columns)", collect)
    .option('--zone <zone>', 'the table is the layout\'s {zone}/{dataset}/: raw, processed or analytics')
    .option('--dataset <name>', 'dataset name: with --zone, the table is {zone}/{dataset}/ of the layout')
    .option('--dry-run', 'check the files and the table and show what would be committed; upload and commit nothing')
    .addHelpText(
      'after',
      `
Examples:
  datalake table append s3://lake/analytics/orders/ orders-2024-01-15.parquet \\
    --partition day=2024-01-15
  datalake table append --zone analytics --dataset orders out/*.parquet \\
    --partition day=$(date -u +%F)
  datalake table append s3://lake/analytics/orders/ new.parquet \\
    --partition day=2024-01-15 --dry-run --json

Exit codes:
  0  committed (or every file already in the table)
  1  an upload or the commit failed, a conflicting concurrent change, or a table
     datalake cannot write
  2  bad input (not Parquet, a schema or partitioning that differs from the
     table's, a prefix holding other objects); nothing uploaded`,
    )
    .action(async (positionals: string[], flags: AppendFlags, command: Command) => {
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      const { root, files } = resolveTable(positionals, flags, settings);
      const partition = (flags.partition ?? []).map(parsePartition);
      const runtime = await openRuntime(globals, interruption, { settings, out });
      const { isAdded, planAppend, runAppend } = await import('../../core/lake/delta/append.js');
      const tableUrl = formatS3Url(root);
      // A run that fails still names, with --json, what it uploaded: unreferenced files the next run reuses.
      const uploaded: string[] = [];
      runtime.ctx.events.on('transfer:done', (event) => uploaded.push(formatS3Url(event.ref)));
      out.reportPartial(() => ({ table: tableUrl, version: null, uploaded }));
      try {
        const plan = await planAppend(runtime.ctx, { root, files, partition });
        const planned = plan.files.map((file) => ({ path: file.source, key: file.ref.key, size: file.size, numRecords: file.facts.numRecords }));
        if (flags.dryRun) {
          for (const file of plan.files) out.line(`(dry run) ${file.state === 'new' ? 'would append' : NOT_ADDED[file.state]} ${file.source} → ${formatS3Url(file.ref)}`);
          const adds = plan.files.some((file) => file.state === 'new');
          const next = adds ? (plan.state ? plan.state.version + 1 : 0) : null;
          out.line(`(dry run) ${plan.state ? `table at version ${plan.state.version}` : 'no table yet: this append would create it'}${next === null ? '; nothing to commit' : `; this append would write version ${next}`}`);
          // `version` is the version this append would write (if no other writer commits first); `tableVersion` the table's now.
          out.json({ table: tableUrl, dryRun: true, version: next, tableVersion: plan.state?.version ?? null, files: plan.files.map((file, index) => ({ ...planned[index], action: file.state === 'new' ? 'append' : file.state })) });
          return;
        }
        const { files: placed, committed } = await runAppend(runtime.ctx, plan, `datalake/${program.version() ?? ''}`);
        for (const file of placed) {
          const what = file.action === 'uploaded' ? 'uploaded' : file.action === 'reused' ? 'reused (uploaded by an earlier run)' : NOT_ADDED[file.action];
          out.line(`${what}: ${file.source} → ${formatS3Url(file.ref)}  ${formatBytes(file.size)}  ${file.facts.numRecords} rows`);
        }
        const added = placed.filter((file) => isAdded(file.action) && !committed.alreadyCommitted.includes(file.path));
        const rows = added.reduce((sum, file) => sum + file.facts.numRecords, 0);
        if (committed.version === undefined) out.line(`nothing to commit: every file is in ${tableUrl} or was and has been removed since`);
        else out.line(`${committed.created ? 'created' : 'committed'} version ${committed.version} of ${tableUrl}: ${added.length} files, ${rows} rows`);
        out.json({
          table: tableUrl,
          version: committed.version ?? null,
          created: committed.created,
          versionsLost: committed.lost,
          files: placed.map((file, index) => ({ ...planned[index], action: committed.alreadyCommitted.includes(file.path) ? 'in-table' : file.action })),
        });
      } finally {
        runtime.close();
      }
    });

  addLayoutFlags(
    table
      .command('log')
      .description("the table's versions, oldest first: time, operation, files and rows added (from the JSON commits still in the log)")
      .argument('[table]', 's3://bucket/prefix/ or a prefix in --bucket (omit with --zone/--dataset)')
      .addHelpText('after', '\nExamples:\n  datalake table log s3://lake/analytics/orders/\n  datalake table log --zone analytics --dataset orders --json'),
  ).action(async (tableText: string | undefined, flags: LayoutFlags, command: Command) => {
    interruption.stdoutIsTheOutput = true;
    const globals = command.optsWithGlobals();
    const { settings, out } = await resolveGlobals(globals);
    const root = resolveRoot(tableText, flags, settings);
    const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
    const { tableHistory } = await import('../../core/lake/delta/history.js');
    try {
      const versions = await tableHistory(runtime.ctx, root, settings.concurrency);
      if (versions[0] && versions[0].version > 0) out.line(`versions before ${versions[0].version} are only in a checkpoint (their commits were cleaned up)`);
      for (const entry of versions) {
        const rows = entry.rowsAdded === null ? '?' : String(entry.rowsAdded);
        out.line(`${String(entry.version).padStart(6)}  ${(entry.timestamp ?? '-').slice(0, 19).replace('T', ' ')}  ${(entry.operation ?? '-').padEnd(12)}  +${entry.filesAdded} files  -${entry.filesRemoved} files  +${rows} rows`);
      }
      out.json({ table: formatS3Url(root), versions });
    } finally {
      runtime.close();
    }
  });

  addLayoutFlags(
    table
      .command('check')
      .description('check that every file of the latest version exists with the size the log says (exit 1 otherwise)')
      .argument('[table]', 's3://bucket/prefix/ or a prefix in --bucket (omit with --zone/--dataset)')
      .addHelpText('after', '\nExamples:\n  datalake table check s3://lake/analytics/orders/\n  datalake table check --zone analytics --dataset orders --json'),
  ).action(async (tableText: string | undefined, flags: LayoutFlags, command: Command) => {
    const globals = command.optsWithGlobals();
    const { settings, out } = await resolveGlobals(globals);
    const root = resolveRoot(tableText, flags, settings);
    const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
    const { checkTable } = await import('../../core/lake/delta/history.js');
    try {
      const checked = await checkTable(runtime.ctx, root, settings.concurrency);
      for (const problem of checked.problems) out.failed(formatS3Url(problem), problem.problem, { bucket: problem.bucket, key: problem.key });
      out.line(`version ${checked.version} of ${formatS3Url(root)}: ${checked.checked} files checked, ${checked.problems.length} missing or of another size`);
      out.json({ table: formatS3Url(root), version: checked.version, ok: checked.problems.length === 0, checked: checked.checked, problems: checked.problems });
      const first = checked.problems[0];
      failIfAny(checked.problems.length, first && { name: formatS3Url(first), reason: first.problem, ...(first.problem === 'missing' ? { code: 'NoSuchKey' } : {}) });
    } finally {
      runtime.close();
    }
  });
}

/** The table's root and the files, from `TABLE FILE…` or `--zone Z --dataset D FILE…`. */
function resolveTable(positionals: string[], flags: LayoutFlags, settings: { bucket: string | undefined; layout: string }): { root: ObjectRef; files: string[] } {
  if (flags.zone !== undefined || flags.dataset !== undefined) return { root: resolveRoot(undefined, flags, settings), files: positionals };
  const [tableText, ...files] = positionals;
  if (tableText === undefined || files.length === 0) throw usageError('give the table, then one or more Parquet files', 'e.g. datalake table append s3://lake/analytics/orders/ part.parquet');
  if (tableText.toLowerCase().endsWith('.parquet') && !tableText.startsWith('s3://')) {
    throw usageError(`'${tableText}' looks like a file, not a table`, 'name the table first (s3://bucket/prefix/), or use --zone and --dataset');
  }
  return { root: resolveRoot(tableText, flags, settings), files };
}

/** The table's root prefix: `s3://bucket/prefix/`, a prefix in --bucket, or the layout's `{zone}/{dataset}/`. */
function resolveRoot(tableText: string | undefined, flags: LayoutFlags, settings: { bucket: string | undefined; layout: string }): ObjectRef {
  if (flags.zone !== undefined || flags.dataset !== undefined) {
    if (tableText !== undefined) throw usageError('--zone/--dataset name the table; give no TABLE as well');
    if (flags.zone === undefined || flags.dataset === undefined) throw usageError('the layout needs both --zone and --dataset');
    validateDataset(flags.dataset);
    if (!settings.bucket) throw usageError('no bucket', 'set --bucket or DATALAKE_BUCKET, or name the table as s3://bucket/prefix/');
    const at = settings.layout.indexOf('{dataset}');
    if (at === -1) throw usageError(`the layout '${settings.layout}' has no {dataset}, so --zone/--dataset name no table`, 'name the table as s3://bucket/prefix/');
    const dated = /\{(yyyy|mm|dd)\}/.exec(settings.layout.slice(0, at));
    if (dated) throw usageError(`the layout '${settings.layout}' has {${dated[1]}} before {dataset}, so the table would move every day: dates belong in partitions (--partition day=…)`, 'name the table as s3://bucket/prefix/');
    // The table is the layout up to its dataset: dates become partitions, not folders above the table.
    const key = renderLayoutKey(settings.layout.slice(0, at + '{dataset}'.length), { zone: parseZone(flags.zone), dataset: flags.dataset, date: todayUtc(), name: '' });
    return { bucket: settings.bucket, key: `${key}/` };
  }
  if (tableText === undefined) throw usageError('no table', 'give s3://bucket/prefix/, or --zone and --dataset');
  const root = parseObjectAddress(tableText, settings.bucket, { allowPrefix: true });
  return { bucket: root.bucket, key: root.key === '' || root.key.endsWith('/') ? root.key : `${root.key}/` };
}

function addLayoutFlags(command: Command): Command {
  return command
    .option('--zone <zone>', "the table is the layout's {zone}/{dataset}/: raw, processed or analytics")
    .option('--dataset <name>', 'dataset name, with --zone');
}

function parsePartition(text: string): { column: string; value: string } {
  const equals = text.indexOf('=');
  if (equals <= 0) throw usageError(`invalid --partition '${text}'`, 'use --partition column=value');
  const column = text.slice(0, equals);
  // Which names are allowed depends on the table (any it has; Delta's rules for a new one): append.ts decides.
  return { column, value: text.slice(equals + 1) };
}
