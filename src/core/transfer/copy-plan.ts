import { formatS3Url, isS3Url, joinKey, parseObjectAddress, validateKey, validatePrefix, type ObjectRef } from '../config/address.js';
import { usageError } from '../errors.js';
import { parseLayoutDate, parseLayoutKey, parseZone, renderLayoutKey, todayUtc, undatedLayout, validateDataset, type LayoutDate, type Zone } from '../config/layout.js';

/** Where `cp`/`mv` put the copy: a key or prefix named, or the lake layout (a zone promotion). */
export type CopyDestination =
  | { kind: 'address'; ref: ObjectRef; isPrefix: boolean }
  | { kind: 'layout'; bucket: string; template: string; zone: Zone; dataset: string; date: LayoutDate | undefined };

export interface CopyRequest {
  source: string;
  destination: string | undefined;
  recursive: boolean;
  zone?: string | undefined;
  dataset?: string | undefined;
  date?: string | undefined;
  /** The configured bucket, for bare keys and the layout. */
  bucket: string | undefined;
  layout: string;
}

export interface CopyPlan {
  /** The object, or with `recursive` the prefix (empty or ending in `/`). */
  source: ObjectRef;
  recursive: boolean;
  destination: CopyDestination;
}

/** Checks the source, the destination and the layout flags before any request; bad input is a usage error. */
export function planCopy(request: CopyRequest, command: 'cp' | 'mv'): CopyPlan {
  const { zone, dataset, date } = request;
  const parsedSource = parseObjectAddress(request.source, request.bucket, { allowPrefix: request.recursive, localPathHint: 'upload a local file with `datalake put`' });
  const source = request.recursive && parsedSource.key !== '' && !parsedSource.key.endsWith('/') ? { ...parsedSource, key: `${parsedSource.key}/` } : parsedSource;
  let destination: CopyDestination;
  if (zone !== undefined || dataset !== undefined || date !== undefined) {
    if (request.destination !== undefined) throw usageError('--zone makes the destination; give only the source', `e.g. datalake ${command} s3://lake/raw/x/ --recursive --zone processed --dataset x`);
    if (zone === undefined || dataset === undefined) throw usageError('the layout needs both --zone and --dataset');
    validateDataset(dataset);
    destination = {
      kind: 'layout',
      bucket: request.bucket ?? source.bucket,
      template: request.layout,
      zone: parseZone(zone),
      dataset,
      date: date === undefined ? undefined : parseLayoutDate(date),
    };
  } else {
    if (request.destination === undefined) throw usageError(`${command} needs a destination`, 's3://bucket/key, s3://bucket/prefix/, or --zone ZONE --dataset NAME');
    if (!isS3Url(request.destination) && /^(\.{0,2}\/|~)/.test(request.destination)) {
      throw usageError(`'${request.destination}' is a local path: ${command} copies between S3 locations`, command === 'cp' ? 'download with `datalake get`' : undefined);
    }
    const isPrefix = request.recursive || request.destination.endsWith('/') || /^s3:\/\/[^/]+$/.test(request.destination);
    const ref = parseObjectAddress(request.destination, request.bucket, { allowPrefix: isPrefix, newKey: true });
    destination = { kind: 'address', ref: isPrefix && ref.key !== '' && !ref.key.endsWith('/') ? { ...ref, key: `${ref.key}/` } : ref, isPrefix };
  }
  if (request.recursive) refuseOverlap(source, destination, command);
  return { source, recursive: request.recursive, destination };
}

/**
 * A recursive copy into its own prefix (or out of a prefix into one that holds it) would list its own
 * copies and copy them again: refused before any request.
 */
function refuseOverlap(source: ObjectRef, destination: CopyDestination, command: string): void {
  const target = destination.kind === 'address' ? destination.ref : { bucket: destination.bucket, key: layoutRoot(destination) };
  if (target.bucket !== source.bucket) return;
  if (target.key.startsWith(source.key) || source.key.startsWith(target.key)) {
    throw usageError(`${command} --recursive from ${formatS3Url(source)} to ${formatS3Url(target)}: one prefix contains the other`, 'copy into a prefix outside the source');
  }
}

/** The fixed start of every key the layout makes for one zone and dataset: the template up to its first other placeholder. */
function layoutRoot(destination: Extract<CopyDestination, { kind: 'layout' }>): string {
  const head = destination.template.split(/\{(?:yyyy|mm|dd|name)\}/)[0] ?? '';
  return head.replace(/\{zone\}/g, destination.zone).replace(/\{dataset\}/g, destination.dataset);
}

/**
 * A folder marker (a key ending in `/`, as a console makes for an empty folder) is copied like any
 * object, to the folder it names under the destination prefix — the source prefix's own marker to
 * the destination prefix's — so that `mv -r` leaves nothing behind, as `rm -r` deletes it too. The
 * reason one has no place, else undefined: the layout names files, not folders, and a bucket's root
 * is no folder to mark.
 */
export function markerLeftOut(plan: CopyPlan, sourceKey: string): string | undefined {
  if (!sourceKey.endsWith('/')) return undefined;
  const { destination } = plan;
  if (destination.kind === 'layout') return 'a folder marker (a key ending in /), and the layout places files, not folders; left where it is';
  if (destination.isPrefix && destination.ref.key === '' && sourceKey === plan.source.key) return "the source prefix's own folder marker, and the destination is a bucket's root; left where it is";
  return undefined;
}

/**
 * The destination of one source object. Under the layout, a key that already follows it keeps its
 * partition date and name (raw/x/year=2024/…/f.csv → processed/x/year=2024/…/f.csv). Any other key is
 * named by its path under the source prefix (or its base name): dated --date or today, unless that
 * path has partitions of its own (a folder `name=value`, Hive's way: date=2026-01-01/f.json), which
 * are kept as they are and given no date partition besides (processed/x/date=2026-01-01/f.json); a
 * --date for such a key is refused, as it would give it a second date, and so is a layout whose date
 * folders cannot be left out alone (see undatedLayout). A folder marker's copy is a
 * marker too (see markerLeftOut for those that have none).
 */
export function destinationFor(plan: CopyPlan, sourceKey: string): ObjectRef {
  const { destination } = plan;
  const relative = plan.recursive ? sourceKey.slice(plan.source.key.length) : sourceKey.slice(sourceKey.lastIndexOf('/') + 1);
  let ref: ObjectRef;
  if (destination.kind === 'address') {
    ref = destination.isPrefix ? { bucket: destination.ref.bucket, key: joinKey(destination.ref.key, relative) } : destination.ref;
  } else {
    const parsed = parseLayoutKey(destination.template, sourceKey);
    const partitioned = parsed && parsed.date.yyyy !== '' && parsed.date.mm !== '' && parsed.date.dd !== '' ? parsed.date : undefined;
    const own = parsed ? [] : ownPartitions(relative);
    if (own.length > 0 && destination.date !== undefined) {
      throw usageError(`${formatS3Url({ bucket: plan.source.bucket, key: sourceKey })} has partitions of its own (${own.join('/')}): --date would give it a second date`, 'leave out --date so such keys keep their own partitions, or narrow the sources with --exclude/--include');
    }
    const key = renderLayoutKey(own.length > 0 ? undatedTemplate(destination.template, { bucket: plan.source.bucket, key: sourceKey }, own) : destination.template, {
      zone: destination.zone,
      dataset: destination.dataset,
      date: destination.date ?? partitioned ?? todayUtc(),
      name: parsed?.name ?? relative,
    });
    ref = { bucket: destination.bucket, key };
  }
  if (!sourceKey.endsWith('/')) validateKey(ref.key);
  else if (ref.key.endsWith('/')) validatePrefix(ref.key);
  else throw new Error(`internal: the folder marker ${sourceKey} has no folder to go to (${formatS3Url(ref)}): markerLeftOut must leave it out`);
  return ref;
}

/** The partitions a name's folders already are (`date=2026-01-01`, `region=eu`): Hive's `name=value` folders. */
function ownPartitions(name: string): string[] {
  return name.split('/').slice(0, -1).filter((segment) => /^[^=]+=[^=]*$/.test(segment));
}

/** The layout for a key with partitions of its own: without its date folders, or refused when one of them holds more than the date. */
function undatedTemplate(template: string, source: ObjectRef, own: string[]): string {
  const undated = undatedLayout(template);
  if (undated.kind === 'undated') return undated.template;
  throw usageError(
    `${formatS3Url(source)} has partitions of its own (${own.join('/')}), and the layout '${template}' cannot leave its date out for it: its folder '${undated.folder}' holds more than the date`,
    'give a --layout whose date folders hold date placeholders alone (such as {zone}/{dataset}/year={yyyy}/{name}), copy to an address (s3://bucket/prefix/), or narrow the sources with --exclude/--include',
  );
}

export function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  return a.bucket === b.bucket && a.key === b.key;
}
