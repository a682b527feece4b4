import { access, constants, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import mime from 'mime';
import { isS3Url, joinKey, missingBucketError, parseObjectAddress, validateNewKey, type ObjectRef } from '../config/address.js';
import { usageError } from '../errors.js';
import { parseLayoutDate, parseZone, renderLayoutKey, todayUtc, validateDataset, type LayoutDate, type Zone } from '../config/layout.js';
import type { PutOptions, ServerSideEncryption } from './put-options.js';
import { MD5_METADATA_KEY } from '../integrity/checksums.js';
import { walkLocalTree, whyUnreadable, type LocalFile } from './local-tree.js';

/** Where `put` sends files: a named key, a prefix, or the lake layout. */
export type PutDestination =
  | { kind: 'address'; text: string }
  | { kind: 'key'; text: string }
  | { kind: 'layout'; zone: Zone; dataset: string; date: LayoutDate }
  | { kind: 'none' };

export interface PutItem {
  /** A local path, or `-` for standard input. */
  source: string;
  ref: ObjectRef;
  contentType: string | undefined;
  /** The file's size when planned; unknown for standard input. */
  size: number | undefined;
  /** The file as the walk of a tree listed it: uploaded only if it still is that file. */
  listed?: LocalFile;
}

export interface PutRequest {
  sources: string[];
  destination: PutDestination;
  recursive: boolean;
  bucket: string | undefined;
  layout: string;
  contentType: string | undefined;
  /** `--exclude/--include` on the names of a tree, relative to its root (sync's rules). */
  includeName?: (name: string) => boolean;
}

/** Checks `--zone/--dataset/--date/--key` and the positional destination, and says where files go. */
export function resolvePutDestination(args: { positionals: string[]; key?: string; zone?: string; dataset?: string; date?: string }): {
  sources: string[];
  destination: PutDestination;
} {
  const { positionals, key, zone, dataset, date } = args;
  if (key !== undefined && zone !== undefined) throw usageError('--key and --zone cannot be used together', 'name the key, or let the layout make it');
  if (zone === undefined && (dataset !== undefined || date !== undefined)) throw usageError('--dataset and --date need --zone');
  const last = positionals[positionals.length - 1];
  if ((zone !== undefined || key !== undefined) && positionals.length >= 2 && last !== undefined && isS3Url(last)) {
    throw usageError(`'${last}' and ${zone !== undefined ? '--zone/--dataset' : '--key'} both name the destination`, 'give one of them');
  }
  if (zone !== undefined) {
    if (dataset === undefined) throw usageError('--zone needs --dataset');
    validateDataset(dataset);
    return {
      sources: positionals,
      destination: { kind: 'layout', zone: parseZone(zone), dataset, date: date === undefined ? todayUtc() : parseLayoutDate(date) },
    };
  }
  if (key !== undefined) return { sources: positionals, destination: { kind: 'key', text: key } };
  if (positionals.length >= 2) {
    return { sources: positionals.slice(0, -1), destination: { kind: 'address', text: positionals[positionals.length - 1] as string } };
  }
  return { sources: positionals, destination: { kind: 'none' } };
}

/**
 * Every file `put` will send and the key it goes to, all checked before the first byte moves: sources
 * exist and are readable, keys are valid, the bucket is known. Inside a tree (`--recursive`), a folder
 * or file that cannot be read goes to `onUnreadable` (its path, and why) and the rest is planned.
 */
export async function planPut(request: PutRequest, onUnreadable?: (path: string, reason: string) => void): Promise<PutItem[]> {
  const { sources, destination, recursive } = request;
  if (sources.length === 0) throw usageError('no file to upload', 'name one or more files, or - for standard input');
  if (sources.includes('-') && sources.length > 1) throw usageError("'-' (standard input) cannot be combined with other files");
  if (destination.kind === 'none') {
    throw usageError('no destination', 'add s3://bucket/key, --key KEY, or --zone ZONE --dataset NAME');
  }
  if (destination.kind === 'key' && (sources.length > 1 || recursive)) throw usageError('--key names one object; it cannot take several files or a directory');
  if (sources[0] === '-' && destination.kind === 'layout') throw usageError("standard input has no file name for the layout's {name}", 'use --key or s3://bucket/key');

  const files: Array<{ path: string; name: string; size: number | undefined; listed?: LocalFile }> = [];
  for (const source of sources) {
    if (source === '-') {
      files.push({ path: '-', name: '', size: undefined });
      continue;
    }
    if (isS3Url(source)) {
      throw usageError(`'${source}' is an S3 address: put uploads local files`, 'download it with `datalake get`');
    }
    const info = await stat(source).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') throw usageError(`no such file '${source}'`);
      throw usageError(`cannot read '${source}': ${error.code ?? error.message}`);
    });
    await access(source, constants.R_OK).catch(() => {
      throw usageError(`cannot read '${source}': permission denied`);
    });
    if (info.isDirectory()) {
      if (!recursive) throw usageError(`'${source}' is a directory`, 'add --recursive to upload the tree, or use `datalake sync`');
      const unreadable = onUnreadable && ((relative: string, error: NodeJS.ErrnoException) => onUnreadable(join(source, relative), whyUnreadable(relative, error)));
      for await (const file of walkFiles(source, unreadable)) {
        if (request.includeName && !request.includeName(file.name)) continue;
        files.push({ path: join(source, file.name), name: file.name, size: file.size, listed: file });
      }
    } else if (info.isFile()) {
      files.push({ path: source, name: basename(source), size: info.size });
    } else {
      throw usageError(`'${source}' is not a regular file`);
    }
  }

  const many = files.length > 1 || recursive;
  return files.map((file) => {
    const ref = keyFor(request, destination, file, many);
    // Standard input has no file name: its type comes from the key's extension.
    return {
      source: file.path,
      ref,
      size: file.size,
      contentType: request.contentType ?? guessContentType(file.path === '-' ? ref.key : file.path),
      ...(file.listed ? { listed: file.listed } : {}),
    };
  });
}

function keyFor(request: PutRequest, destination: PutDestination, file: { path: string; name: string }, many: boolean): ObjectRef {
  switch (destination.kind) {
    case 'layout': {
      if (!request.bucket) throw missingBucketError();
      const key = renderLayoutKey(request.layout, { ...destination, name: file.name });
      validateNewKey(key);
      return { bucket: request.bucket, key };
    }
    case 'key':
      return parseObjectAddress(destination.text, request.bucket, { newKey: true });
    case 'address': {
      const asPrefix = many || destination.text.endsWith('/') || /^s3:\/\/[^/]+$/.test(destination.text);
      if (!asPrefix) return parseObjectAddress(destination.text, request.bucket, { newKey: true });
      if (file.path === '-') throw usageError("standard input needs a full key, not a prefix ending in '/'");
      const prefix = parseObjectAddress(destination.text, request.bucket, { allowPrefix: true, newKey: true });
      const ref = { bucket: prefix.bucket, key: joinKey(prefix.key, file.name) };
      validateNewKey(ref.key);
      return ref;
    }
    case 'none':
      throw usageError('no destination');
  }
}

/** By the file name's extension, looked up once per extension (a tree has few, and many files each). */
export function guessContentType(path: string): string {
  const name = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  const dot = name.lastIndexOf('.');
  // Names without an extension (or only a leading dot) go to mime itself, which has its own rules for them.
  if (dot < 1) return mime.getType(path) ?? 'application/octet-stream';
  const extension = name.slice(dot + 1).toLowerCase();
  let type = contentTypes.get(extension);
  if (type === undefined) {
    type = mime.getType(path) ?? 'application/octet-stream';
    if (contentTypes.size < 1000) contentTypes.set(extension, type);
  }
  return type;
}

const contentTypes = new Map<string, string>();

/**
 * The files `put -r` sends from a directory: the one walk of a local tree (local-tree.ts, which sync
 * makes too), in S3 key order (UTF-8 bytes), named by relative paths with `/` separators. Symbolic
 * links are not followed; another download's partial files are left out. A folder or file below the
 * root that cannot be read goes to `onUnreadable` and the walk goes on.
 */
export function walkFiles(root: string, onUnreadable?: (relative: string, error: NodeJS.ErrnoException) => void): AsyncGenerator<LocalFile> {
  return walkLocalTree(root, { followSymlinks: false, ...(onUnreadable ? { onUnreadable } : {}) });
}

const STORAGE_CLASSES = new Set([
  'STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER', 'DEEP_ARCHIVE',
  'GLACIER_IR', 'OUTPOSTS', 'SNOW', 'EXPRESS_ONEZONE',
]);

/**
 * Checks `--meta`, `--tag`, `--storage-class` and `--sse` into PutOptions, and `--content-type` for
 * what a header can carry. Every request that sends user metadata (put, sync, cp, mv) takes it from here.
 */
export function resolvePutOptions(args: {
  meta?: string[];
  contentType?: string;
  tag?: string[];
  storageClass?: string;
  sse?: string;
  sseKmsKeyId?: string;
  md5Metadata?: boolean;
}, env: NodeJS.ProcessEnv = process.env): Omit<PutOptions, 'contentType'> {
  const metadata = parsePairs(args.meta ?? [], '--meta');
  for (const name of Object.keys(metadata)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) throw usageError(`invalid --meta name '${name}'`, 'use letters, digits, - and _');
    if (name.toLowerCase() === MD5_METADATA_KEY) throw usageError(`--meta ${name} is reserved: datalake stores the content MD5 there`);
    checkHeaderText(metadata[name]!, `--meta ${name}`, 'S3 metadata');
  }
  if (args.contentType !== undefined) checkHeaderText(args.contentType, '--content-type', 'a content-type');
  const tags = parsePairs(args.tag ?? [], '--tag');
  if (Object.keys(tags).length > 10) throw usageError('at most 10 tags per object');
  const storageClass = args.storageClass?.toUpperCase();
  if (storageClass !== undefined && !STORAGE_CLASSES.has(storageClass)) {
    throw usageError(`invalid storage class '${args.storageClass}'`, `use one of ${[...STORAGE_CLASSES].join(', ')}`);
  }
  let sse: ServerSideEncryption | undefined;
  if (args.sse !== undefined) {
    if (args.sse !== 'AES256' && args.sse !== 'aws:kms') throw usageError(`invalid --sse '${args.sse}'`, 'use AES256 or aws:kms');
    sse = args.sse;
  }
  if (args.sseKmsKeyId !== undefined && sse !== 'aws:kms') throw usageError('--sse-kms-key-id needs --sse aws:kms');
  const md5Metadata = args.md5Metadata ?? md5MetadataSetting(env.DATALAKE_MD5_METADATA);
  return { metadata, tags, storageClass, sse, sseKmsKeyId: args.sseKmsKeyId, md5Metadata };
}

/** DATALAKE_MD5_METADATA as a switch: 1/true/yes or 0/false/no (unset or empty: off). */
function md5MetadataSetting(value: string | undefined): boolean {
  const text = (value ?? '').trim().toLowerCase();
  if (text === '' || text === '0' || text === 'false' || text === 'no') return false;
  if (text === '1' || text === 'true' || text === 'yes') return true;
  throw usageError(`invalid DATALAKE_MD5_METADATA '${value}'`, 'use 1 or 0 (true or false)');
}

/**
 * User metadata and the content type travel as HTTP headers, which carry printable ASCII: anything else
 * was signed as one text and sent as another (a misleading "credentials rejected"), or refused by Node
 * as a raw TypeError. Refused before any request, as boto3 refuses non-ASCII metadata.
 */
function checkHeaderText(value: string, flag: string, what: string): void {
  if (/^[\x20-\x7e]*$/.test(value)) return;
  throw usageError(`invalid ${flag} value '${value}': ${what} can only contain printable ASCII characters`, 'encode the value first, e.g. percent- or base64-encoded');
}

function parsePairs(pairs: string[], flag: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw usageError(`invalid ${flag} '${pair}'`, `use ${flag} name=value`);
    values[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return values;
}

