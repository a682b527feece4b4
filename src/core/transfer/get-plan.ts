import { constants, lstat, open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathOfOpen } from './listed-file.js';
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
 */
export function localPathFor(root: string, prefix: string, key: string): string {
  const name = key.slice(prefix.length);
  const segments = name.split('/');
  if (name === '' || isAbsolute(name) || segments.some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\') || segment.includes('\0'))) {
    throw failure(`key '${key}' would be written outside ${root}; skipped`);
  }
  const base = resolve(root);
  const target = resolve(base, ...segments);
  const inside = relative(base, target);
  // `..notes.txt` is a name like any other; only a first segment that is `..` climbs out.
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) throw failure(`key '${key}' would be written outside ${root}; skipped`);
  // Such a file would be taken for (and could be overwritten by, or renamed in place of) the temporary
  // file of another object's download in the same folder.
  if (isTemporaryDownloadName(segments[segments.length - 1]!)) {
    throw failure(`key '${key}' is named like a temporary file of datalake's downloads; not downloaded`, { hint: 'download it on its own with `datalake get KEY FILE`' });
  }
  return target;
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


/**
 * Keeps downloads under a root from being written through a symbolic link inside it (`dest/logs ->
 * /etc`): every existing folder between the root and the file must be a real folder. Folders already
 * checked are remembered for the run.
 */
export class DestinationGuard {
  private readonly checked = new Set<string>();
  private readonly root: string;
  private realRoot: Promise<string> | undefined;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * `fresh` looks at every folder again, remembered or not: just before a file is renamed into place or
   * deleted, so that a folder replaced by a link since the first look is caught (what is left is the
   * moment between this look and that one call).
   */
  async check(target: string, options: { fresh?: boolean } = {}): Promise<void> {
    let current = this.root;
    for (const segment of relative(this.root, dirname(resolve(target))).split(sep).filter(Boolean)) {
      current = join(current, segment);
      if (!options.fresh && this.checked.has(current)) continue;
      const info = await lstat(current).catch(() => undefined);
      if (!info) return; // not there yet: it will be created as a real folder
      if (!info.isDirectory()) {
        throw failure(`${current} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; nothing is written through it`, { hint: 'remove it or choose another destination' });
      }
      this.checked.add(current);
    }
  }

  /**
   * Runs `use` with a path to `path`'s name inside its folder as that folder is at this moment, once it
   * is proven to be the real folder under the root: a folder swapped for a link since `check` leads
   * elsewhere, and nothing is created there, not even for a moment. On Linux the folder is opened and
   * `use` reaches the name through it (/proc/self/fd), so a swap after the proof leads nowhere either;
   * elsewhere the path is used as it is, after the proof.
   */
  async within<T>(path: string, use: (reachable: string) => Promise<T>): Promise<T> {
    const folder = dirname(resolve(path));
    const handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      this.realRoot ??= realpath(this.root);
      const expected = join(await this.realRoot, relative(this.root, folder));
      const reachable = pathOfOpen(handle, folder);
      if ((await realpath(reachable)) !== expected) {
        throw failure(`${folder} is reached through a symbolic link now; nothing is written through it`, { hint: 'something changed the destination during the run; run it again once it is settled' });
      }
      return await use(reachable === folder ? path : join(reachable, basename(path)));
    } finally {
      await handle.close();
    }
  }
}
