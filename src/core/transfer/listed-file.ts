import { closeSync, constants, existsSync, fstatSync, openSync } from 'node:fs';
import { failure } from '../errors.js';

/**
 * Where the system names an open file by its descriptor: `/proc/self/fd/N` opens again the very file
 * (or folder) N is, whatever has been renamed or swapped on the way to it since. Linux has it; elsewhere
 * paths are used, and only their last component is kept from following a link.
 */
const DESCRIPTOR_FOLDER = existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

/** A path that reaches the open file `handle` itself; its own path where the system has no such name. */
export function pathOfOpen(handle: { fd: number }, path: string): string {
  return DESCRIPTOR_FOLDER ? `${DESCRIPTOR_FOLDER}/${handle.fd}` : path;
}

/** A file as a walk of a tree saw it: its inode (and device, where known). */
export interface ListedIdentity {
  ino: number;
  dev?: number | undefined;
  /** Listed as a symbolic link followed on purpose: its last component is followed too. */
  followedLink?: true | undefined;
}

/**
 * A file of a walked tree, open: `fd` is that very file, and so is `readPath` for as long as it is
 * open. Closed once, by its opener.
 */
export interface ListedFile {
  fd: number;
  readPath: string;
  close(): void;
}

/**
 * Opened without updating the access time where the system allows it (Linux, the file's owner): for
 * a file written since its last read, relatime would otherwise dirty its inode, one journal write per
 * file of a fresh backfill. Anyone else's file opens the ordinary way.
 */
export function openWithoutAtime(path: string, flags: number = constants.O_RDONLY): number {
  if (!constants.O_NOATIME) return openSync(path, flags);
  try {
    return openSync(path, flags | constants.O_NOATIME);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    return openSync(path, flags);
  }
}

/**
 * Opens a file a walk listed, for reading, and proves it is the one listed: a folder on its path
 * swapped for a link since the walk (by another process that can write in the tree) would lead
 * elsewhere, to another inode. The last component is not followed unless the walk followed it. What
 * is read afterwards is read through the descriptor (`readPath`), so a swap after this check leads
 * nowhere either.
 */
export function openListedFile(path: string, listed: ListedIdentity): ListedFile {
  // Synchronous on purpose: an open and an fstat cost microseconds, three thread-pool round trips
  // per file cost more than reading a small file does.
  let fd: number;
  try {
    fd = openWithoutAtime(path, constants.O_RDONLY | (listed.followedLink ? 0 : constants.O_NOFOLLOW) | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw replaced(path, 'is now a symbolic link');
    throw error;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.ino !== listed.ino || (listed.dev !== undefined && info.dev !== listed.dev)) {
      throw replaced(path, 'is no longer the file the walk listed (a folder on its path was replaced, by a link?)');
    }
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return { fd, readPath: pathOfOpen({ fd }, path), close: () => closeSync(fd) };
}

function replaced(path: string, what: string) {
  return failure(`${path} ${what}: not read`, { hint: 'something changed the tree during the run; run it again once the tree is settled' });
}
