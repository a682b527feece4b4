import { existsSync } from 'node:fs';
import { constants, open, type FileHandle } from 'node:fs/promises';
import { failure } from '../errors.js';

/**
 * Where the system names an open file by its descriptor: `/proc/self/fd/N` opens again the very file
 * (or folder) N is, whatever has been renamed or swapped on the way to it since. Linux has it; elsewhere
 * paths are used, and only their last component is kept from following a link.
 */
const DESCRIPTOR_FOLDER = existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

/** A path that reaches the open file `handle` itself; its own path where the system has no such name. */
export function pathOfOpen(handle: FileHandle, path: string): string {
  return DESCRIPTOR_FOLDER ? `${DESCRIPTOR_FOLDER}/${handle.fd}` : path;
}

/** A file as a walk of a tree saw it: its inode (and device, where known). */
export interface ListedIdentity {
  ino: number;
  dev?: number | undefined;
  /** Listed as a symbolic link followed on purpose: its last component is followed too. */
  followedLink?: true | undefined;
}

/** A file of a walked tree, open: `readPath` reads that very file for as long as `handle` is open. */
export interface ListedFile {
  readPath: string;
  close(): Promise<void>;
}

/**
 * Opens a file a walk listed, for reading, and proves it is the one listed: a folder on its path
 * swapped for a link since the walk (by another process that can write in the tree) would lead
 * elsewhere, to another inode. The last component is not followed unless the walk followed it. What
 * is read afterwards is read through the descriptor (`readPath`), so a swap after this check leads
 * nowhere either.
 */
export async function openListedFile(path: string, listed: ListedIdentity): Promise<ListedFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (listed.followedLink ? 0 : constants.O_NOFOLLOW) | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw replaced(path, 'is now a symbolic link');
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.ino !== listed.ino || (listed.dev !== undefined && info.dev !== listed.dev)) {
      throw replaced(path, 'is no longer the file the walk listed (a folder on its path was replaced, by a link?)');
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  return { readPath: pathOfOpen(handle, path), close: () => handle.close() };
}

function replaced(path: string, what: string) {
  return failure(`${path} ${what}: not read`, { hint: 'something changed the tree during the run; run it again once the tree is settled' });
}
