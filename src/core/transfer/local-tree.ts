import { isUtf8 } from 'node:buffer';
import type { Stats } from 'node:fs';
import { constants, lstat, open, opendir, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { failure, systemReason } from '../errors.js';
import { pathOfOpen } from './listed-file.js';
import { isTemporaryDownloadName } from './temporary-names.js';

/** A regular file of a local tree, named by its path relative to the root with `/` separators. */
export interface LocalFile {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** The device it is on, as the walk saw it (with `ino`, what an upload proves it reads). */
  dev?: number;
  /** A symbolic link followed on purpose (`--follow-symlinks`) to the file it names. */
  followedLink?: true;
  /** A symbolic link not followed, listed (with `listSkippedLinks`) so that a sync can pair it with the destination; never read. */
  skippedLink?: true;
  /** With `skippedLink`: a link `--follow-symlinks` would follow, not followed because it leads back up the tree (a folder the walk is already in). */
  loopsBack?: true;
}

/**
 * Why a symbolic link `--follow-symlinks` asked to follow could not be: its target is not there
 * (ENOENT), not reachable (EACCES), a chain of links that loops (ELOOP)… Told to `onUnreadable`
 * under the link's own name, as a folder that cannot be read is: nothing is known of what is behind it.
 */
export interface LinkNotFollowed extends NodeJS.ErrnoException {
  linkNotFollowed: true;
}

export interface LocalWalkOptions {
  followSymlinks: boolean;
  /** Told of each symbolic link left alone, so the run can say how many. */
  onSymlinkSkipped?: (name: string) => void;
  /**
   * Links not followed are yielded too, marked `skippedLink`, in their place in key order (as their
   * own name); with `followSymlinks`, so is a link to a folder the walk is already in (`loopsBack`).
   */
  listSkippedLinks?: boolean;
  /** Told of each name left out as another download's temporary file (or its lock). */
  onTemporarySkipped?: (name: string) => void;
  /**
   * Told of each folder (`name/`) or file that cannot be read, as rsync and rclone report one and go
   * on; the walk then continues past it. Without it, the first unreadable entry ends the walk. A name
   * that is not valid UTF-8 comes here too (code `EILSEQ`, the name shown with `\xNN` escapes): S3
   * keys are UTF-8, so it cannot be sent as it is. With `followSymlinks`, so does a link that cannot
   * be followed (its target missing or unreachable: a `LinkNotFollowed`, under the link's name).
   */
  onUnreadable?: (name: string, error: NodeJS.ErrnoException) => void;
}

/**
 * The files under `root` in S3 key order (UTF-8 bytes of the relative path). Directories sort as
 * `name/`, so `a-b` comes before `a/x` exactly as S3 lists `a-b` before `a/x`. Only one directory's
 * entries are held at a time per level: memory follows the depth and width of the tree, not its size.
 *
 * Each folder is opened once, below the root without following a link, and everything in it (its
 * entries, their inodes, its subfolders) is reached through that open folder, not by its path again:
 * a folder swapped for a link by another process while the walk goes on is never entered, and every
 * file listed is named with the inode it has in the tree (an upload reads it only if it still is that
 * file, listed-file.ts). Where the system cannot name an open folder (not Linux), paths are used and
 * only their last component is kept from following a link.
 */
export async function* walkLocalTree(root: string, options: LocalWalkOptions): AsyncGenerator<LocalFile> {
  const ancestors = new Set<string>([await realpath(root)]);
  yield* walkDirectory(root, '', options, ancestors, root, true);
}

/** How many files of one directory are stat'ed at once. */
const STAT_WINDOW = 64;

interface DirectoryEntry {
  name: string;
  sortKey: Buffer;
  kind: 'file' | 'directory' | 'link' | 'other';
  viaSymlink: boolean;
  /** A link followed to a folder: that folder's real path (kept out of the walk below it, against loops). */
  real?: string;
  /** A link to a folder the walk is already in: not followed. */
  loopsBack?: boolean;
}

/** `reach`: the path that opens this folder (through its open parent); `follow`: whether it may be a link (the root, or a link followed on purpose). */
async function* walkDirectory(root: string, relative: string, options: LocalWalkOptions, ancestors: Set<string>, reach: string, follow: boolean): AsyncGenerator<LocalFile> {
  const directoryPath = relative ? join(root, relative) : root;
  let folder: FileHandle | undefined;
  let entries: DirectoryEntry[];
  let here: string;
  try {
    folder = await open(reach, constants.O_RDONLY | constants.O_DIRECTORY | (follow ? 0 : constants.O_NOFOLLOW)).catch(async (error: NodeJS.ErrnoException) => {
      // Linux says ENOTDIR, not ELOOP, for a link opened as a folder without following it.
      if (error.code === 'ENOTDIR' && !follow && (await lstat(reach).catch(() => undefined))?.isSymbolicLink()) error.code = 'ELOOP';
      throw error;
    });
    here = pathOfOpen(folder, directoryPath);
    entries = await readDirectory(here, relative, options, ancestors);
  } catch (error) {
    await folder?.close();
    // The root itself ends the walk, named as the folder it is; below it, one folder that cannot be
    // read (or that vanished meanwhile) does not stop the walk of the rest.
    if (!relative) throw failure(`cannot read the folder '${root}': ${systemReason(error as NodeJS.ErrnoException)}`, { cause: error });
    if (!options.onUnreadable) throw error;
    // A link followed whose folder went away since it was looked at, the link still there: reported as
    // a link that cannot be followed, never taken for a folder removed.
    if (follow && isVanished(error) && !(await isGone(reach))) options.onUnreadable(relative, linkNotFollowed(relative, error as NodeJS.ErrnoException));
    else if (!isVanished(error)) options.onUnreadable(`${relative}/`, error as NodeJS.ErrnoException);
    return;
  }

  try {
    for (let index = 0; index < entries.length; ) {
      const entry = entries[index]!;
      if (entry.kind === 'link') {
        index += 1;
        const name = relative ? `${relative}/${entry.name}` : entry.name;
        yield { name, path: join(root, name), size: 0, mtimeMs: 0, ctimeMs: 0, ino: 0, skippedLink: true, ...(entry.loopsBack ? { loopsBack: true as const } : {}) };
        continue;
      }
      if (entry.kind !== 'file') {
        index += 1;
        if (entry.kind !== 'directory') continue;
        const name = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.viaSymlink) {
          // Its real path was found as its folder was read, and is not one the walk is in (readDirectory).
          const real = entry.real!;
          ancestors.add(real);
          yield* walkDirectory(root, name, options, ancestors, join(here, entry.name), true);
          ancestors.delete(real);
        } else {
          yield* walkDirectory(root, name, options, ancestors, join(here, entry.name), false);
        }
        continue;
      }
      // A run of files is stat'ed a window at a time, concurrently: one awaited lstat after another
      // would pay a round trip through the thread pool for each file, one after the other.
      const batch: DirectoryEntry[] = [];
      while (index < entries.length && entries[index]!.kind === 'file' && batch.length < STAT_WINDOW) batch.push(entries[index++]!);
      const files = await Promise.all(
        batch.map(async (file) => {
          const name = relative ? `${relative}/${file.name}` : file.name;
          try {
            const info = file.viaSymlink ? await stat(join(here, file.name)) : await lstat(join(here, file.name));
            // Swapped for something else since the folder was listed: not a file of the tree any more.
            if (!info.isFile()) return undefined;
            const listed: LocalFile = { name, path: join(root, name), size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev };
            return file.viaSymlink ? { ...listed, followedLink: true as const } : listed;
          } catch (error) {
            if (!options.onUnreadable) throw error;
            if (file.viaSymlink && !(await isGone(join(here, file.name)))) options.onUnreadable(name, linkNotFollowed(name, error as NodeJS.ErrnoException));
            else if (!isVanished(error)) options.onUnreadable(name, error as NodeJS.ErrnoException);
            return undefined;
          }
        }),
      );
      for (const file of files) if (file) yield file;
    }
  } finally {
    await folder.close();
  }
}

/**
 * One directory's entries, sorted as S3 lists keys. A link to be followed is looked at here: what it
 * leads to decides where it sorts (a folder as `name/`); one that leads nowhere it can go is reported
 * (`onUnreadable`), one that leads back to a folder the walk is in (`ancestors`) is not followed.
 */
async function readDirectory(directoryPath: string, relative: string, options: LocalWalkOptions, ancestors: Set<string>): Promise<DirectoryEntry[]> {
  const entries: DirectoryEntry[] = [];
  // Names are read as bytes: decoded as UTF-8 by Node, an invalid name would turn into U+FFFD, a name
  // no file has, and its file would vanish from the walk without a word.
  for await (const entry of await opendir(directoryPath, { bufferSize: 256, encoding: 'buffer' as BufferEncoding })) {
    const bytes = entry.name as unknown as Buffer;
    let kind: DirectoryEntry['kind'] = entry.isFile() ? 'file' : entry.isDirectory() ? 'directory' : 'other';
    const viaSymlink = entry.isSymbolicLink();
    if (!isUtf8(bytes)) {
      if (kind === 'other' && !viaSymlink) continue;
      const shown = escapeInvalidUtf8(bytes);
      const name = `${relative ? `${relative}/${shown}` : shown}${kind === 'directory' ? '/' : ''}`;
      const error: NodeJS.ErrnoException = Object.assign(new Error(`${name}: the name is not valid UTF-8`), { code: 'EILSEQ' });
      if (!options.onUnreadable) throw error;
      options.onUnreadable(name, error);
      continue;
    }
    const entryName = bytes.toString('utf8');
    if (isTemporaryDownloadName(entryName)) {
      // Another download's partial file is neither content to send nor a stray to delete.
      options.onTemporarySkipped?.(`${relative ? `${relative}/${entryName}` : entryName}${kind === 'directory' ? '/' : ''}`);
      continue;
    }
    if (viaSymlink) {
      const name = relative ? `${relative}/${entryName}` : entryName;
      if (!options.followSymlinks) {
        options.onSymlinkSkipped?.(name);
        if (options.listSkippedLinks) entries.push({ name: entryName, kind: 'link', viaSymlink, sortKey: Buffer.from(entryName, 'utf8') });
        continue;
      }
      // Followed, a link sorts as what it points to: a directory as `name/`.
      const path = join(directoryPath, entryName);
      const target = await stat(path).catch((error: NodeJS.ErrnoException) => error);
      const real = target instanceof Error || !target.isDirectory() ? undefined : await realpath(path).catch((error: NodeJS.ErrnoException) => error);
      const failed = target instanceof Error ? target : real instanceof Error ? real : undefined;
      if (failed) {
        // The link itself removed since the folder was listed: not there, nothing to report.
        if (await isGone(path)) continue;
        const error = linkNotFollowed(name, failed);
        if (!options.onUnreadable) throw error;
        options.onUnreadable(name, error);
        continue;
      }
      if (typeof real === 'string' && ancestors.has(real)) {
        // A loop back up the tree: not walked twice, but listed as a link, so that what the
        // destination holds under its name is known to be unseen, not missing.
        if (options.listSkippedLinks) entries.push({ name: entryName, kind: 'link', viaSymlink, loopsBack: true, sortKey: Buffer.from(entryName, 'utf8') });
        continue;
      }
      kind = (target as Stats).isFile() ? 'file' : typeof real === 'string' ? 'directory' : 'other';
      entries.push({ name: entryName, kind, viaSymlink, ...(typeof real === 'string' ? { real } : {}), sortKey: Buffer.from(kind === 'directory' ? `${entryName}/` : entryName, 'utf8') });
      continue;
    }
    entries.push({ name: entryName, kind, viaSymlink, sortKey: Buffer.from(kind === 'directory' ? `${entryName}/` : entryName, 'utf8') });
  }
  entries.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  return entries;
}

/**
 * A file name's bytes for a message: valid UTF-8 as text, every other byte NN as the lone surrogate
 * U+DCNN (Python's "surrogateescape"): printed lines show it as `\xNN` and `--json` as `\udcNN`,
 * never as a name a file could really have (a file named with the four characters `\xff` prints `\\xff`).
 */
export function escapeInvalidUtf8(bytes: Buffer): string {
  let shown = '';
  let start = 0;
  for (let index = 0; index < bytes.length; ) {
    const length = utf8SequenceLength(bytes, index);
    if (length > 0) {
      index += length;
      continue;
    }
    shown += bytes.subarray(start, index).toString('utf8') + String.fromCharCode(0xdc00 + bytes[index]!);
    index += 1;
    start = index;
  }
  return shown + bytes.subarray(start).toString('utf8');
}

/** The length of the valid UTF-8 sequence at `index`, or 0 if the bytes there are not one. */
function utf8SequenceLength(bytes: Buffer, index: number): number {
  const lead = bytes[index]!;
  const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (length === 0 || index + length > bytes.length) return 0;
  return isUtf8(bytes.subarray(index, index + length)) ? length : 0;
}

/**
 * Why a folder (`name/`) or file of a walk could not be read, in words: `cannot read this folder:
 * permission denied (EACCES)`. A name that is not UTF-8 is told for the walk's direction: upward it
 * cannot be sent; downward (the destination's walk) it matches no key, so --delete never deletes it.
 */
export function whyUnreadable(name: string, error: NodeJS.ErrnoException, direction: 'upload' | 'download' = 'upload'): string {
  if ((error as Partial<LinkNotFollowed>).linkNotFollowed) {
    const why = error.code === 'ENOENT' || error.code === 'ENOTDIR' ? `its target is not there (${error.code})` : error.code === 'EACCES' || error.code === 'EPERM' ? `permission denied (${error.code})` : error.code === 'ELOOP' ? 'a chain of links that loops (ELOOP)' : error.code ?? error.message;
    return `this symbolic link cannot be followed: ${why}`;
  }
  const what = name.endsWith('/') ? 'folder' : 'file';
  if (error.code === 'EILSEQ') {
    return direction === 'upload'
      ? `this ${what}'s name is not valid UTF-8, and S3 keys must be: rename it to send it`
      : `this ${what}'s name is not valid UTF-8, so it matches no key (S3 keys are): it is not deleted, and told here rather than passed over in silence; rename or remove it`;
  }
  // A folder opened without following links that is one: swapped for a link during the run.
  if (error.code === 'ELOOP') return `this ${what} became a symbolic link during the walk: not followed`;
  return `cannot read this ${what}: ${error.code === undefined ? error.message : systemReason(error)}`;
}

function linkNotFollowed(name: string, error: NodeJS.ErrnoException): LinkNotFollowed {
  return Object.assign(new Error(`${name}: ${error.message}`), { code: error.code, linkNotFollowed: true as const });
}

/** Whether nothing is at `path` any more (not even a link): removed since its folder was listed. */
async function isGone(path: string): Promise<boolean> {
  return lstat(path).then(
    () => false,
    (error: NodeJS.ErrnoException) => isVanished(error),
  );
}

/** Removed between the listing of its folder and its turn: nothing to send, nothing to report. */
function isVanished(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
