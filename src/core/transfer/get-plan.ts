import { stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseObjectAddress, type ObjectRef } from '../config/address.js';
import { failure, usageError } from '../errors.js';
import { isTemporaryDownloadName } from './temporary-names.js';

/** Where one object goes: a file path, or standard output. */
export type GetTarget = { kind: 'stdout' } | { kind: 'file'; path: string };

/**
 * The file an object is written to, `aws s3 cp`-style: into an existing directory (or one named with a
 * trailing `/`) under its base name, else to the path given; the base name in the working directory
 * when no destination is given.
 */
export async function resolveGetTarget(ref: ObjectRef, destination: string | undefined): Promise<GetTarget> {
  if (destination === '-') return { kind: 'stdout' };
  const name = ref.key.slice(ref.key.lastIndexOf('/') + 1);
  if (destination === undefined) return { kind: 'file', path: name };
  if (destination.endsWith('/') || destination.endsWith(sep) || (await isDirectory(destination))) return { kind: 'file', path: join(destination, name) };
  return { kind: 'file', path: destination };
}

/** The prefix a recursive get downloads: `raw/reddit` is read as the folder `raw/reddit/`. */
export function resolveGetPrefix(source: string, bucket: string | undefined): ObjectRef {
  const ref = parseObjectAddress(source, bucket, { allowPrefix: true });
  return { bucket: ref.bucket, key: ref.key === '' || ref.key.endsWith('/') ? ref.key : `${ref.key}/` };
}

/**
 * The local path of a key under a prefix, inside `root`. A key that would land outside it (`..`,
 * an absolute path, empty segments) is refused: the bucket's contents never choose where we write.
 * So is a backslash, which Windows reads as a folder separator: said as such, since on this system
 * the key would not have left the root. So is a name any segment of which is named like one of
 * datalake's temporary download files, the file's own name or a folder on the way: the one rule for
 * get -r, sync down and sync --dry-run's plan of it.
 */
export function localPathFor(root: string, prefix: string, key: string): string {
  const name = key.slice(prefix.length);
  if (name.includes('\\')) throw failure(`key '${key}' has a backslash in its name, which datalake does not write as a file name (it separates folders on Windows); skipped`);
  const segments = name.split('/');
  if (name === '' || isAbsolute(name) || segments.some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\0'))) {
    throw failure(`key '${key}' would be written outside ${root}; skipped`);
  }
  const base = resolve(root);
  const target = resolve(base, ...segments);
  const inside = relative(base, target);
  // `..notes.txt` is a name like any other; only a first segment that is `..` climbs out.
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) throw failure(`key '${key}' would be written outside ${root}; skipped`);
  // Such a file would be taken for (and could be overwritten by, or renamed in place of) the temporary
  // file of another object's download in the same folder. Such a folder would stand where the download
  // of its namesake keeps its temporary file (`d/.q.datalake-part/` fails every later download of `d/q`),
  // and every walk of the tree leaves it out: what is under it would never be seen again by a sync.
  const temporary = segments.findIndex((segment) => isTemporaryDownloadName(segment));
  if (temporary === segments.length - 1) {
    throw failure(`key '${key}' is named like a temporary file of datalake's downloads; not downloaded`, { hint: 'download it under another name with `datalake get KEY OTHER-NAME`' });
  }
  if (temporary !== -1) {
    const folder = `${segments.slice(0, temporary + 1).join('/')}/`;
    throw failure(`key '${key}' is under a folder named like a temporary file of datalake's downloads ('${folder}'); not downloaded`, { hint: 'download it to another path with `datalake get KEY FILE`' });
  }
  return target;
}

/**
 * A file the user names for a download must not be named like one of datalake's temporary files
 * (`.x.datalake-part`, its `.json` record, its `.lock`): the next download of `x` beside it would take
 * it for its own, and resume from, overwrite or remove it.
 */
export function refuseTemporaryTarget(path: string): void {
  if (isTemporaryDownloadName(basename(path))) {
    throw usageError(`'${path}' is named like a temporary file of datalake's downloads, which a download of another file beside it would take for its own`, 'choose another name for it');
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}

export function requireKeyForGet(source: string, bucket: string | undefined): ObjectRef {
  const ref = parseObjectAddress(source, bucket, { allowPrefix: true });
  if (ref.key === '' || ref.key.endsWith('/')) {
    throw usageError(`'${source}' names a prefix, not an object`, 'add --recursive to download everything under it');
  }
  return ref;
}
