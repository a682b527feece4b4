import { createHash } from 'node:crypto';
import { link, lstat, rm, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { readRegularFile, removeIfSame, removeOnExit, writeNewFile } from './exclusive-files.js';

/** Who holds a lock file: written into it by the process that took it. */
export interface LockHolder {
  pid: number;
  host: string;
}

export type LockAttempt = { acquired: true; release: () => Promise<void> } | { acquired: false; holder: LockHolder | undefined };

/**
 * The one way a path is claimed by one process at a time. The lock never exists half-written: the
 * holder's pid and host go into a file of its own, which is then hard-linked to the lock's name
 * (link fails if anything is there, a planted symbolic link included). A lock that is empty,
 * unreadable, not a regular file, or held by a process gone from this host (kill -9, a crash) is
 * stale and taken over; one held by a live process, or by another host, is reported with its holder.
 *
 * Taking over is atomic: of the processes that find the same stale lock, only the one that takes
 * the takeover lock named after that lock's inode may remove it, and only after seeing it is still
 * that inode and still stale; the others find the new lock, or the takeover held. (Removing a stale
 * lock and creating a new one in two steps lets a late process remove the new one, and two
 * processes then both hold the lock.) A takeover lock is itself a lock: one left by a process killed
 * mid-takeover is stale and taken over the same way.
 */
export async function tryLock(path: string): Promise<LockAttempt> {
  return acquire(path, 0);
}

/** Takeover locks of takeover locks: each level needs a kill -9 within a few system calls of the last. */
const MAX_TAKEOVER_DEPTH = 3;

async function acquire(path: string, depth: number): Promise<LockAttempt> {
  const mine = ownerFileName(path);
  const owner = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  await writeNewFile(mine, owner).catch(async (error: NodeJS.ErrnoException) => {
    // Our own pid's name: left by an earlier process that had this pid.
    if (error.code !== 'EEXIST') throw error;
    await rm(mine, { force: true });
    await writeNewFile(mine, owner);
  });
  const forget = removeOnExit(mine);
  try {
    let holder: LockHolder | undefined;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      try {
        await linkInPlace(mine, path, owner);
        const { ino } = await lstat(path);
        const forgetLock = removeOnExit(path, ino);
        return {
          acquired: true,
          release: async () => {
            forgetLock();
            await removeIfSame(path, ino);
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const found = await readLock(path);
      if (found === 'gone') continue;
      holder = found.holder;
      if (holder && !isStale(holder)) return { acquired: false, holder };
      if (depth >= MAX_TAKEOVER_DEPTH) return { acquired: false, holder };
      const takeover = await acquire(`${path}.${found.ino}.takeover`, depth + 1);
      if (!takeover.acquired) return { acquired: false, holder: takeover.holder ?? holder };
      try {
        const again = await readLock(path);
        if (again !== 'gone' && again.ino === found.ino && (!again.holder || isStale(again.holder))) await unlink(path).catch(() => undefined);
      } finally {
        await takeover.release();
      }
    }
    return { acquired: false, holder };
  } finally {
    forget();
    await rm(mine, { force: true });
  }
}

/**
 * Puts the owner file in place under the lock's name. A file system without hard links (FAT, some
 * network shares) gets the lock created exclusively and written in place instead: never through a
 * link either, but a reader may then find it empty for a moment.
 */
async function linkInPlace(owner: string, path: string, content: string): Promise<void> {
  try {
    await link(owner, path);
  } catch (error) {
    if (!NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await writeNewFile(path, content);
  }
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** The lock at `path` as found: its inode and holder (undefined: empty, damaged, not a regular file). */
async function readLock(path: string): Promise<{ ino: number; holder: LockHolder | undefined } | 'gone'> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return 'gone';
  if (!info.isFile()) return { ino: info.ino, holder: undefined };
  const read = await readRegularFile(path, 4096);
  if (read && read.ino !== info.ino) return readLock(path);
  try {
    const parsed = JSON.parse(read?.text ?? '') as Partial<LockHolder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return { ino: info.ino, holder: { pid: parsed.pid, host: parsed.host } };
  } catch {
    // empty or damaged: stale
  }
  return { ino: info.ino, holder: undefined };
}

function isStale(holder: LockHolder): boolean {
  return holder.host === hostname() && !isAlive(holder.pid);
}

let ownerFiles = 0;

/** A name beside `path` that only this process uses: `<path>.<pid>-<host tag>-<n>`. */
function ownerFileName(path: string): string {
  ownerFiles += 1;
  return `${path}.${processTag()}-${ownerFiles}`;
}

/** This process in a file name: its pid and a short tag of its host (so a later run can tell whether it is gone). */
export function processTag(): string {
  return `${process.pid}-${hostTag(hostname())}`;
}

function hostTag(host: string): string {
  return createHash('sha256').update(host).digest('hex').slice(0, 8);
}

/** Whether the process named by a `processTag()` is certainly gone: on this host, and not running. */
export function isGoneHolder(pid: number, tag: string): boolean {
  return tag === hostTag(hostname()) && pid !== process.pid && !isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
