import { formatS3Url, isS3Url, joinKey, parseObjectAddress, validateKey, validatePrefix, type ObjectRef } from '../config/address.js';
import { usageError } from '../errors.js';
import { parseLayoutDate, parseLayoutKey, parseZone, renderLayoutKey, todayUtc, validateDataset, type LayoutDate, type Zone } from '../config/layout.js';
import { treeFileKey, TreePartitions } from '../config/tree-layout.js';

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
  /** A recursive copy into the layout: told every name under the source prefix as it is listed, for the Delta tables among them (config/tree-layout.ts). */
  partitions?: TreePartitions;
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
  return { source, recursive: request.recursive, destination, ...(request.recursive && destination.kind === 'layout' ? { partitions: new TreePartitions() } : {}) };
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
 * named by its path under the source prefix (or its base name) and placed as put -r and sync place a
 * file of a tree (config/tree-layout.ts): dated --date or today, unless that path has partitions of
 * its own (date=2026-01-01/f.json → processed/x/date=2026-01-01/f.json, no date partition besides) or
 * is in a Delta table that has; --date for such a key is refused, and so is a layout whose date
 * folders cannot be left out alone. A folder marker's copy is a marker too (see markerLeftOut for
 * those that have none).
 */
export function destinationFor(plan: CopyPlan, sourceKey: string): ObjectRef {
  const { destination } = plan;
  const relative = plan.recursive ? sourceKey.slice(plan.source.key.length) : sourceKey.slice(sourceKey.lastIndexOf('/') + 1);
  let ref: ObjectRef;
  if (destination.kind === 'address') {
    ref = destination.isPrefix ? { bucket: destination.ref.bucket, key: joinKey(destination.ref.key, relative) } : destination.ref;
  } else {
    const parsed = parseLayoutKey(destination.template, sourceKey);
    const target = { template: destination.template, zone: destination.zone, dataset: destination.dataset, date: destination.date ?? todayUtc(), dateGiven: destination.date !== undefined };
    const key = parsed
      ? renderLayoutKey(destination.template, { ...target, date: destination.date ?? datedBy(parsed.date) ?? target.date, name: parsed.name })
      : treeFileKey(target, relative, plan.partitions ?? NO_PARTITIONS, formatS3Url({ bucket: plan.source.bucket, key: sourceKey }));
    ref = { bucket: destination.bucket, key };
  }
  if (!sourceKey.endsWith('/')) validateKey(ref.key);
  else if (ref.key.endsWith('/')) validatePrefix(ref.key);
  else throw new Error(`internal: the folder marker ${sourceKey} has no folder to go to (${formatS3Url(ref)}): markerLeftOut must leave it out`);
  return ref;
}

const NO_PARTITIONS = new TreePartitions();

/** A layout key's own date, when its template has all of year, month and day. */
function datedBy(date: LayoutDate): LayoutDate | undefined {
  return date.yyyy !== '' && date.mm !== '' && date.dd !== '' ? date : undefined;
}

export function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  return a.bucket === b.bucket && a.key === b.key;
}
