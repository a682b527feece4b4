import { constants, unlinkSync, lstatSync } from 'node:fs';
import { link, lstat, open, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { failure, TargetExists } from '../errors.js';

/**
 * The one way datalake creates the files of its own work beside a user's files — a download's
 * temporary file and its record, lock files, journal and cache entries written aside — so that a
 * symbolic link or a file planted at such a name is never written through and never reused: a new
 * file is created exclusively without following links (O_CREAT | O_EXCL | O_NOFOLLOW), and a file
 * taken up again (a download resumed) must be a regular file of our own with no other name.
 */
const { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDWR, O_RDONLY, O_NONBLOCK } = constants;

/** Creates `path` as a new file; fails with EEXIST when anything at all is there, a link included. */
export function createNewFile(path: string): Promise<FileHandle> {
  return creating(open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o666));
}

/**
 * Names being made now, on the thread pool: an exit (a second Ctrl-C) can come while one is under
 * way, and the name then appears after the exit hook looked for it. The hook waits a moment for
 * them and looks again.
 */
let creationsInFlight = 0;

/** Marks `making` (a file created, a link made) as in flight until it settles. */
export function creating<T>(making: Promise<T>): Promise<T> {
  creationsInFlight += 1;
  return making.finally(() => {
    creationsInFlight -= 1;
  });
}

/** Writes `data` into a new file at `path`; on any failure (a full disk) nothing is left there. */
export async function writeNewFile(path: string, data: string | Uint8Array): Promise<void> {
  const file = await createNewFile(path);
  try {
    await file.writeFile(data);
    await file.close();
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
}

/**
 * Replaces `path` whole with `data`: written to `aside` (whatever was at that name, a planted link
 * included, is removed first: it is ours to use) and renamed over `path`, which replaces a link at
 * `path` itself, never what it points to. A kill -9 mid-write leaves the previous content.
 */
export async function replaceFile(path: string, aside: string, data: string | Uint8Array): Promise<void> {
  await rm(aside, { force: true });
  await writeNewFile(aside, data);
  try {
    await rename(aside, path);
  } catch (error) {
    await rm(aside, { force: true });
    throw error;
  }
}

/**
 * Puts `temporary` at `path`: renamed over whatever is there, or with `noReplace` (`--no-clobber`)
 * only if nothing is, atomically — a hard link made at `path` (which fails with EEXIST instead of
 * replacing), then the temporary name removed. TargetExists when something got there first. On a
 * file system without hard links, `path` is looked at and then renamed onto.
 */
export async function moveIntoPlace(temporary: string, path: string, { noReplace = false }: { noReplace?: boolean } = {}): Promise<void> {
  if (!noReplace) return renameOntoFile(temporary, path);
  try {
    await creating(link(temporary, path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new TargetExists(path);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    if (await lstat(path).then(() => true, () => false)) throw new TargetExists(path);
    return renameOntoFile(temporary, path);
  }
  await unlink(temporary);
}

/** A rename that replaces a file, never a folder: one made at `path` meanwhile is named, not a raw EISDIR. */
async function renameOntoFile(temporary: string, path: string): Promise<void> {
  try {
    await rename(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
    throw failure(`${path} is a folder: the download is not put in its place`, { hint: 'move the folder away, or name another target' });
  }
}

/**
 * Opens an existing file of ours for reading and writing (a download to resume): undefined when
 * nothing is there, or when what is there is a link, not a regular file, another user's, or has
 * another name too (a hard link to a file elsewhere).
 */
export async function openOwnFile(path: string): Promise<FileHandle | undefined> {
  const file = await open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
  if (!file) return undefined;
  const info = await file.stat().catch(() => undefined);
  if (info && info.isFile() && info.nlink === 1 && info.uid === process.getuid?.()) return file;
  await file.close().catch(() => undefined);
  return undefined;
}

/** A small file read without following a link or blocking on a pipe; undefined unless a regular file. */
export async function readRegularFile(path: string, limit = 64 * 1024): Promise<{ text: string; ino: number; uid: number } | undefined> {
  const file = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
  if (!file) return undefined;
  try {
    const info = await file.stat();
    if (!info.isFile() || info.size > limit) return undefined;
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), ino: info.ino, uid: info.uid };
  } catch {
    return undefined;
  } finally {
    await file.close().catch(() => undefined);
  }
}

/**
 * Removes a name of datalake's own work (a temporary file, a record, a lock): whatever file or link
 * is there, or an empty folder. A folder with files in it is never emptied: that is one clear
 * failure naming it, never the raw system error.
 */
export async function removeOwnName(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_FS_EISDIR' && code !== 'EISDIR') throw error;
    await rmdir(path).catch((inner: NodeJS.ErrnoException) => {
      if (inner.code === 'ENOENT') return;
      throw failure(`${path} is a folder, not a file datalake made, and is left as it is`, { hint: 'move it away or remove it' });
    });
  }
}

/** Removes `path` only while it is still the file (inode) we made: never one that replaced it. */
export async function removeIfSame(path: string, ino: number): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (info?.ino === ino) await unlink(path).catch(() => undefined);
}

/**
 * Files that exist only while this process works on them. If it exits before it removes them (a
 * second Ctrl-C, a run that ends while other downloads are still in flight), they are removed as it
 * exits; only a kill -9 leaves them, for the next run to find (their names carry the holder's pid).
 */
const ownedUntilExit = new Map<string, number | undefined>();

export function removeOnExit(path: string, ino?: number): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      removeOwned();
      // Thread-pool calls still running can make a name just after it was looked for (each takes
      // microseconds to milliseconds, more on a busy machine): a short, bounded wait, looking again.
      if (creationsInFlight > 0) {
        const pause = new Int32Array(new SharedArrayBuffer(4));
        for (let waited = 0; waited < EXIT_WAIT_MS; waited += EXIT_WAIT_STEP_MS) {
          Atomics.wait(pause, 0, 0, EXIT_WAIT_STEP_MS);
          removeOwned();
        }
      }
    });
  }
  ownedUntilExit.set(path, ino);
  return () => {
    if (ownedUntilExit.get(path) === ino) ownedUntilExit.delete(path);
  };
}

let exitHookInstalled = false;
const EXIT_WAIT_MS = 250;
const EXIT_WAIT_STEP_MS = 25;

function removeOwned(): void {
  for (const [owned, inode] of ownedUntilExit) {
    try {
      if (inode === undefined || lstatSync(owned).ino === inode) unlinkSync(owned);
    } catch {
      // already gone, or not made
    }
  }
}
