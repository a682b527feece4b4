import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isTemporaryDownloadName } from '../temporary-names.js';

/** A regular file of a local tree, named by its path relative to the root with `/` separators. */
export interface LocalFile {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface LocalWalkOptions {
  followSymlinks: boolean;
  /** Told of each symbolic link left alone, so the run can say how many. */
  onSymlinkSkipped?: (name: string) => void;
  /**
   * Told of each folder (`name/`) or file that cannot be read, as rsync and rclone report one and go
   * on; the walk then continues past it. Without it, the first unreadable entry ends the walk.
   */
  onUnreadable?: (name: string, error: NodeJS.ErrnoException) => void;
}

/**
 * The files under `root` in S3 key order (UTF-8 bytes of the relative path). Directories sort as
 * `name/`, so `a-b` comes before `a/x` exactly as S3 lists `a-b` before `a/x`. Only one directory's
 * entries are held at a time per level: memory follows the depth and width of the tree, not its size.
 */
export async function* walkLocalTree(root: string, options: LocalWalkOptions): AsyncGenerator<LocalFile> {
  const ancestors = new Set<string>([await realpath(root)]);
  yield* walkDirectory(root, '', options, ancestors);
}

/** How many files of one directory are stat'ed at once. */
const STAT_WINDOW = 64;

interface DirectoryEntry {
  name: string;
  sortKey: Buffer;
  kind: 'file' | 'directory' | 'other';
  viaSymlink: boolean;
}

async function* walkDirectory(root: string, relative: string, options: LocalWalkOptions, ancestors: Set<string>): AsyncGenerator<LocalFile> {
  const directoryPath = relative ? join(root, relative) : root;
  let entries: DirectoryEntry[];
  try {
    entries = await readDirectory(directoryPath, relative, options);
  } catch (error) {
    // The root itself is the caller's to check; below it, one folder that cannot be read (or that
    // vanished meanwhile) does not stop the walk of the rest.
    if (!relative || !options.onUnreadable) throw error;
    if (!isVanished(error)) options.onUnreadable(`${relative}/`, error as NodeJS.ErrnoException);
    return;
  }

  for (let index = 0; index < entries.length; ) {
    const entry = entries[index]!;
    if (entry.kind !== 'file') {
      index += 1;
      if (entry.kind !== 'directory') continue;
      const name = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.viaSymlink) {
        const real = await realpath(join(root, name));
        if (ancestors.has(real)) continue; // a loop back up the tree
        ancestors.add(real);
        yield* walkDirectory(root, name, options, ancestors);
        ancestors.delete(real);
      } else {
        yield* walkDirectory(root, name, options, ancestors);
      }
      continue;
    }
    // A run of files is stat'ed a window at a time, concurrently: one awaited lstat after another
    // costs ten times the CPU (each is a round trip through the thread pool).
    const batch: DirectoryEntry[] = [];
    while (index < entries.length && entries[index]!.kind === 'file' && batch.length < STAT_WINDOW) batch.push(entries[index++]!);
    const files = await Promise.all(
      batch.map(async (file) => {
        const name = relative ? `${relative}/${file.name}` : file.name;
        const path = join(root, name);
        try {
          const info = file.viaSymlink ? await stat(path) : await lstat(path);
          return { name, path, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino };
        } catch (error) {
          if (!options.onUnreadable) throw error;
          if (!isVanished(error)) options.onUnreadable(name, error as NodeJS.ErrnoException);
          return undefined;
        }
      }),
    );
    for (const file of files) if (file) yield file;
  }
}

/** One directory's entries, sorted as S3 lists keys. */
async function readDirectory(directoryPath: string, relative: string, options: LocalWalkOptions): Promise<DirectoryEntry[]> {
  const entries: DirectoryEntry[] = [];
  for await (const entry of await opendir(directoryPath, { bufferSize: 256 })) {
    // Another download's partial file is neither content to send nor a stray to delete.
    if (isTemporaryDownloadName(entry.name)) continue;
    let kind: DirectoryEntry['kind'] = entry.isFile() ? 'file' : entry.isDirectory() ? 'directory' : 'other';
    const viaSymlink = entry.isSymbolicLink();
    if (viaSymlink) {
      const name = relative ? `${relative}/${entry.name}` : entry.name;
      if (!options.followSymlinks) {
        options.onSymlinkSkipped?.(name);
        continue;
      }
      // Followed, a link sorts as what it points to: a directory as `name/`.
      const target = await stat(join(directoryPath, entry.name)).catch(() => undefined);
      kind = target?.isFile() ? 'file' : target?.isDirectory() ? 'directory' : 'other';
    }
    entries.push({ name: entry.name, kind, viaSymlink, sortKey: Buffer.from(kind === 'directory' ? `${entry.name}/` : entry.name, 'utf8') });
  }
  entries.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  return entries;
}

/** Why a folder (`name/`) or file of a walk could not be read, in words: `cannot read this folder: permission denied (EACCES)`. */
export function whyUnreadable(name: string, error: NodeJS.ErrnoException): string {
  const what = name.endsWith('/') ? 'folder' : 'file';
  const why = error.code === 'EACCES' || error.code === 'EPERM' ? `permission denied (${error.code})` : error.code ?? error.message;
  return `cannot read this ${what}: ${why}`;
}

/** Removed between the listing of its folder and its turn: nothing to send, nothing to report. */
function isVanished(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
