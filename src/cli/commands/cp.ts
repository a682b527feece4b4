import type { Command } from 'commander';
import { formatS3Url, type ObjectRef } from '../../core/config/address.js';
import type { CopiedObject, CopyOptions, CopyVerdict } from '../../core/transfer/copy.js';
import { destinationFor, markerLeftOut, planCopy, sameObject, type CopyPlan } from '../../core/transfer/copy-plan.js';
import { usageError } from '../../core/errors.js';
import { resolvePutOptions } from '../../core/transfer/put-plan.js';
import type { FilterRule } from '../../core/sync/filters.js';
import { formatBytes } from '../../core/config/units.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals, type Runtime } from '../runtime.js';
import { COPY_PROOFS, RULES_MATCHED_NOTHING, addFilterOptions, attempt, collect, countingNameFilter, type FailedItem, type LayoutAndStorageFlags } from './shared.js';
import { failIfAny } from '../exit-codes.js';

export interface CopyFlags extends LayoutAndStorageFlags {
  recursive?: boolean;
  /** commander's name for --no-clobber: false when it is given. */
  clobber?: boolean;
}

export function registerCp(program: Command): void {
  const rules: FilterRule[] = [];
  const command = program.command('cp');
  addCopyOptions(command, rules);
  command
    .option('-n, --no-clobber', 'skip objects whose destination exists')
    .summary('copy objects between S3 locations, server-side')
    .description(
      'Copy an object, or with --recursive every object under a prefix, from S3 to S3 without the bytes passing through ' +
        'this machine. A single-part object up to 5 GiB goes in one CopyObject, which keeps its checksums; a multipart ' +
        'object is copied part for part (UploadPartCopy) in its own part layout. A multipart copy keeps the source\'s ETag, ' +
        'and its full-object CRC32 only where the server takes checksums on part copies (MinIO does not). Metadata, tags, ' +
        'content type and the other content headers, storage class and encryption are kept unless a flag replaces them. ' +
        `Every copy is proven afterwards: ${COPY_PROOFS}.`,
    )
    .addHelpText(
      'after',
      `
Examples:
  datalake cp s3://lake/raw/x/events.csv s3://lake/processed/x/events.csv
  datalake cp s3://lake/raw/x/ s3://lake/archive/x/ -r --exclude '*.tmp'
  datalake cp s3://lake/raw/x/ --recursive --zone processed --dataset x
      → processed/x/year=…/month=…/day=…/NAME
        (keys that follow the layout keep their date)
  datalake cp s3://lake/raw/a.csv s3://other-lake/raw/ --no-clobber --json
  datalake cp s3://lake/raw/a.csv s3://lake/raw/a.csv --meta owner=etl
      (replaces the metadata in place)`,
    )
    .action(async (source: string, destination: string | undefined, flags: CopyFlags, cmd: Command) => {
      await runCopies('cp', source, destination, flags, rules, cmd);
    });
}

/** The options `cp` and `mv` share: recursion, filters, the layout and how the copy is stored. */
export function addCopyOptions(command: Command, rules: FilterRule[]): Command {
  command
    .argument('<source>', 's3://bucket/key, or a key in --bucket (a prefix with --recursive)')
    .argument('[destination]', 's3://bucket/key, or s3://bucket/prefix/ (omit with --zone)')
    .option('-r, --recursive', 'every object under the source prefix');
  addFilterOptions(command, rules);
  command
    .option('--zone <zone>', 'destination by the lake layout: zone raw, processed or analytics')
    .option('--dataset <name>', 'dataset name for the layout')
    .option('--date <yyyy-mm-dd>', "partition date for the layout (default: the source key's own, when it follows the layout; else today, UTC)")
    .option('--meta <name=value>', "replace the copies' user metadata (repeatable; default: the source's, kept whole)", collect)
    .option('--tag <name=value>', "replace the copies' tags (repeatable; default: the source's)", collect)
    .option('--content-type <type>', "Content-Type (default: the source's)")
    .option('--storage-class <class>', "storage class, e.g. STANDARD_IA (default: the source's)")
    .option('--sse <mode>', "server-side encryption: AES256 or aws:kms (default: the source's)")
    .option('--sse-kms-key-id <id>', 'KMS key for --sse aws:kms');
  return command;
}

interface Skipped {
  source: string;
  bucket: string;
  key: string;
  reason: string;
}

/** Parses, plans and runs `cp` or `mv`; renders each object's outcome and the `--json` document. */
export async function runCopies(mode: 'cp' | 'mv', sourceText: string, destinationText: string | undefined, flags: CopyFlags, rules: FilterRule[], cmd: Command): Promise<void> {
  const globals = cmd.optsWithGlobals();
  const { settings, out } = await resolveGlobals(globals);
  const recursive = flags.recursive === true;
  if (rules.length > 0 && !recursive) throw usageError('--exclude and --include go with --recursive');
  const plan = planCopy({ source: sourceText, destination: destinationText, recursive, zone: flags.zone, dataset: flags.dataset, date: flags.date, bucket: settings.bucket, layout: settings.layout }, mode);
  const filter = countingNameFilter(rules);
  const includeName = filter.include;
  const options: CopyOptions = { ...copyOptions(flags), sourceListed: recursive };
  const replaces = options.metadata !== undefined || options.tags !== undefined || options.contentType !== undefined || options.storageClass !== undefined || options.sse !== undefined;
  if (!recursive) {
    const target = destinationFor(plan, plan.source.key);
    if (sameObject(plan.source, target) && (mode === 'mv' || !replaces || options.noClobber)) {
      throw usageError(`source and destination are the same object ${formatS3Url(target)}`, mode === 'cp' ? 'to change how it is stored in place, give --meta, --tag, --content-type, --storage-class or --sse' : undefined);
    }
  }

  const engine = Promise.all([import('../../core/transfer/copy.js'), import('../../core/s3/list.js'), import('../../core/s3/limiter.js'), import('../../core/transfer/read-ahead.js')]);
  const runtime = await openRuntime(globals, interruption, { settings, out });
  const [{ copyObject, moveObject }, { listObjects }, { forEachWindowed }, { readAhead }] = await engine;
  const objects: Array<CopiedObject & { sourceDeleted?: boolean }> = [];
  const skipped: Skipped[] = [];
  const failed: FailedItem[] = [];
  out.reportPartial(() => ({ objects, skipped, failed }));
  const verb = mode === 'cp' ? 'copied' : 'moved';

  // A recursive run's plan (progress): each listed source is added as it is read; one skipped is dropped.
  const dropFromPlan = (source: ListedSource) => {
    if (recursive) runtime.ctx.events.emit('plan:drop', { files: 1, bytes: source.size ?? 0 });
  };
  const one = async (source: ListedSource) => {
    await attempt(runtime, failed, { key: source.key, bucket: source.bucket }, async () => {
      const leftOut = markerLeftOut(plan, source.key);
      if (leftOut !== undefined) {
        // No destination: the marker itself is what was skipped.
        dropFromPlan(source);
        skipped.push({ source: formatS3Url(source), bucket: source.bucket, key: source.key, reason: leftOut });
        out.line(`skipped ${formatS3Url(source)}: ${leftOut}`);
        return;
      }
      const target = destinationFor(plan, source.key);
      if (mode === 'mv') {
        const moved = await moveObject(runtime.ctx, source, target, options);
        objects.push({ ...moved, sourceDeleted: true });
        out.line(`moved ${formatS3Url(source)} → ${formatS3Url(target)}  ${formatBytes(moved.size)}  verified by ${proofText(moved)}`);
        return;
      }
      const outcome = await copyObject(runtime.ctx, source, target, options);
      if (outcome.kind === 'skipped') {
        dropFromPlan(source);
        skipped.push({ source: formatS3Url(source), bucket: outcome.bucket, key: outcome.key, reason: outcome.reason });
        out.line(`skipped ${formatS3Url(source)}: ${formatS3Url(target)} ${outcome.reason}`);
        return;
      }
      objects.push(outcome.object);
      out.line(`copied ${formatS3Url(source)} → ${formatS3Url(target)}  ${formatBytes(outcome.object.size)}  verified by ${proofText(outcome.object)}`);
      if (outcome.object.verifiedBy === 'size-only') out.warn(`${formatS3Url(target)}: no MD5 ETag, stored MD5 or checksum to compare; size checked only`);
    });
  };

  let seen = 0;
  try {
    if (!recursive) {
      seen = 1;
      await one(plan.source);
    } else {
      // The listing is read ahead of the copies: the bar's total is the plan's, not the copies started so far.
      const listed = readAhead(listedSources(runtime, plan, includeName, listObjects), {
        onRead: (source) => runtime.ctx.events.emit('plan:add', { files: 1, bytes: source.size ?? 0 }),
        onEnd: () => runtime.ctx.events.emit('plan:complete'),
        signal: runtime.ctx.stopping,
      });
      // Through the layout, two sources can land on one key (the same name on two dates, given one --date):
      // the whole plan is checked first, and refused before anything is copied or deleted.
      const sources = flags.zone !== undefined ? await oneSourcePerDestination(listed, plan, mode) : listed;
      await forEachWindowed(
        sources,
        settings.concurrency,
        async (source) => {
          seen += 1;
          await one(source);
        },
        runtime.ctx.stopping,
      );
    }
  } finally {
    runtime.close();
  }
  if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
  if (filter.matchedNothing(seen)) out.line(`${RULES_MATCHED_NOTHING} ${formatS3Url(plan.source)}: nothing to ${mode === 'mv' ? 'move' : 'copy'}`);
  else if (seen === 0) {
    failed.push({ key: plan.source.key, error: 'no objects under this prefix', code: 'NoObjects' });
    out.failed(formatS3Url(plan.source), 'no objects under this prefix', { bucket: plan.source.bucket, key: plan.source.key, code: 'NoObjects' });
  }
  if (recursive || objects.length + skipped.length + failed.length > 1) {
    out.line(`${objects.length} ${verb}, ${skipped.length} skipped, ${failed.length} failed, ${formatBytes(objects.reduce((sum, object) => sum + object.size, 0))}`);
  }
  out.json({ objects, skipped, failed });
  failIfAny(failed.length);
}

async function oneSourcePerDestination(sources: AsyncIterable<ListedSource>, plan: CopyPlan, mode: 'cp' | 'mv'): Promise<ListedSource[]> {
  const planned: ListedSource[] = [];
  const claimed = new Map<string, ObjectRef>();
  for await (const source of sources) {
    if (markerLeftOut(plan, source.key) !== undefined) {
      planned.push(source);
      continue;
    }
    const target = formatS3Url(destinationFor(plan, source.key));
    const other = claimed.get(target);
    if (other) {
      throw usageError(`${formatS3Url(other)} and ${formatS3Url(source)} would both be ${mode === 'mv' ? 'moved' : 'copied'} to ${target}; nothing was ${mode === 'mv' ? 'moved' : 'copied'}`, plan.destination.kind === 'layout' && plan.destination.date !== undefined ? 'narrow the sources with --exclude/--include, or leave out --date so each keeps its own' : 'narrow the sources with --exclude/--include');
    }
    claimed.set(target, source);
    planned.push(source);
  }
  return planned;
}

/** A source to copy, with its size where a listing gave it. */
type ListedSource = ObjectRef & { size?: number };

/** The sources under the prefix the rules let through, with their listed sizes. */
async function* listedSources(
  runtime: Runtime,
  plan: CopyPlan,
  includeName: (name: string) => boolean,
  listObjects: typeof import('../../core/s3/list.js').listObjects,
): AsyncGenerator<ListedSource> {
  for await (const entry of listObjects(runtime.ctx, plan.source, { recursive: true })) {
    // Folder markers (keys ending in /) too: copy-plan.ts's markerLeftOut says which have no place.
    if (entry.kind !== 'object') continue;
    if (!includeName(entry.object.key.slice(plan.source.key.length))) continue;
    yield { bucket: plan.source.bucket, key: entry.object.key, size: entry.object.size };
  }
}

/** The proof as a line names it: `checksum (crc32)`, `read-back (metadata-md5)`, `etag`. */
function proofText(verdict: CopyVerdict): string {
  return verdict.verifiedWith ? `${verdict.verifiedBy} (${verdict.verifiedWith})` : verdict.verifiedBy;
}

/** `--meta/--tag/--content-type/--storage-class/--sse` checked as put checks them; each left out keeps the source's. */
function copyOptions(flags: CopyFlags): CopyOptions {
  const checked = resolvePutOptions(flags);
  return {
    metadata: flags.meta === undefined ? undefined : checked.metadata,
    tags: flags.tag === undefined ? undefined : checked.tags,
    contentType: flags.contentType,
    storageClass: checked.storageClass,
    sse: checked.sse,
    sseKmsKeyId: checked.sseKmsKeyId,
    noClobber: flags.clobber === false,
  };
}
