import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, lstat, rm, rmdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { DatalakeError } from '../errors.js';
import { creating, readRegularFile, removeIfSame, removeOnExit, writeNewFile } from './exclusive-files.js';

/** Who holds a lock file: written into it by the process that took it. */
export interface LockHolder {
  pid: number;
  host: string;
  /** When the holder started (Linux: /proc/PID/stat's start time), so that a pid used again is told apart. */
  start?: string;
}

export type LockAttempt = { acquired: true; release: () => Promise<void> } | { acquired: false; holder: LockHolder | undefined };

/**
 * The one way a path is claimed by one process at a time. The lock never exists half-written: the
 * holder's pid, host and start time go into a file of its own, which is then hard-linked to the
 * lock's name (link fails if anything is there, a planted symbolic link included). A lock that is
 * empty, unreadable, or held by a process gone from this host (kill -9, a crash) is stale and taken
 * over. So is one that names this very process while it does not hold it (a container started again:
 * datalake is pid 1 once more, on the same host name), and one whose pid now belongs to a process
 * started at another time. An empty folder at the lock's name is removed; any other folder or
 * special file there is refused with a line naming it. A lock held by a live process, or by another
 * host, is reported with its holder.
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

/** The locks this process holds now: a lock that names our pid but is not among them is stale. */
const heldHere = new Set<string>();

async function acquire(path: string, depth: number): Promise<LockAttempt> {
  // Another task of this process holds it (two downloads to one target): held, and its exit entry kept.
  if (heldHere.has(path)) return { acquired: false, holder: { pid: process.pid, host: thisHost() } };
  const mine = ownerFileName(path);
  const owner = JSON.stringify({ pid: process.pid, host: thisHost(), start: startTimeOf(process.pid), started: new Date().toISOString() });
  // Registered before the file is made: an exit while it is being written removes it too.
  const forget = removeOnExit(mine);
  await writeNewFile(mine, owner).catch(async (error: NodeJS.ErrnoException) => {
    // Our own pid's name: left by an earlier process that had this pid.
    if (error.code !== 'EEXIST') throw error;
    await rm(mine, { force: true });
    await writeNewFile(mine, owner);
  }).catch((error: unknown) => {
    forget();
    throw error;
  });
  try {
    // The lock is a second name of this file: it is removed on exit from the moment it is made.
    const { ino: ownerIno } = await lstat(mine);
    let holder: LockHolder | undefined;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      let forgetLock = removeOnExit(path, ownerIno);
      try {
        await linkInPlace(mine, path, owner);
        const { ino } = await lstat(path);
        if (ino !== ownerIno) forgetLock = removeOnExit(path, ino);
        heldHere.add(path);
        return {
          acquired: true,
          release: async () => {
            // Removed, then forgotten: an exit in between still removes it.
            await removeIfSame(path, ino);
            forgetLock();
            heldHere.delete(path);
          },
        };
      } catch (error) {
        forgetLock();
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const found = await readLock(path);
      if (found === 'gone') continue;
      if (found.kind === 'folder') {
        await removeFolderAtLock(path);
        continue;
      }
      holder = found.holder;
      if (holder && !isStale(holder, path)) return { acquired: false, holder };
      if (depth >= MAX_TAKEOVER_DEPTH) return { acquired: false, holder };
      const takeover = await acquire(`${path}.${found.ino}.takeover`, depth + 1);
      if (!takeover.acquired) return { acquired: false, holder: takeover.holder ?? holder };
      try {
        const again = await readLock(path);
        if (again !== 'gone' && again.kind === 'file' && again.ino === found.ino && (!again.holder || isStale(again.holder, path))) await unlink(path).catch(() => undefined);
      } finally {
        await takeover.release();
      }
    }
    return { acquired: false, holder };
  } finally {
    // Removed, then forgotten: an exit in between still removes it.
    await rm(mine, { force: true });
    forget();
  }
}

/**
 * Puts the owner file in place under the lock's name. A file system without hard links (FAT, some
 * network shares) gets the lock created exclusively and written in place instead: never through a
 * link either, but a reader may then find it empty for a moment.
 */
async function linkInPlace(owner: string, path: string, content: string): Promise<void> {
  try {
    await creating(link(owner, path));
  } catch (error) {
    if (!NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await writeNewFile(path, content);
  }
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

type FoundLock = { kind: 'file'; ino: number; holder: LockHolder | undefined } | { kind: 'folder'; ino: number };

/** The lock at `path` as found: its inode and holder (undefined: empty or damaged), or what else is there. */
async function readLock(path: string): Promise<FoundLock | 'gone'> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return 'gone';
  if (info.isDirectory()) return { kind: 'folder', ino: info.ino };
  // A link, a pipe: no lock of ours (stale), and removing the name touches nothing else.
  if (!info.isFile()) return { kind: 'file', ino: info.ino, holder: undefined };
  const read = await readRegularFile(path, 4096);
  if (read && read.ino !== info.ino) return readLock(path);
  try {
    const parsed = JSON.parse(read?.text ?? '') as Partial<LockHolder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') {
      const start = typeof parsed.start === 'string' ? parsed.start : undefined;
      return { kind: 'file', ino: info.ino, holder: { pid: parsed.pid, host: parsed.host, start } };
    }
  } catch {
    // empty or damaged: stale
  }
  return { kind: 'file', ino: info.ino, holder: undefined };
}

/** A folder at a lock's name: never ours to empty, but an empty one is removed (rmdir removes nothing else). */
async function removeFolderAtLock(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    const what = code === 'ENOTEMPTY' || code === 'EEXIST' ? 'it has files in it' : `it cannot be removed: ${code ?? 'unknown error'}`;
    throw new FolderAtLock(path, what);
  }
}

/** A folder at a lock's name that is not empty (or cannot be removed): someone's, left as it is. */
export class FolderAtLock extends DatalakeError {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super('failed', `${path} is a folder, not a lock, and ${what}`, { hint: 'move it away or remove it' });
    this.name = 'FolderAtLock';
  }
}

function isStale(holder: LockHolder, path: string): boolean {
  if (holder.host !== thisHost()) return false;
  // Our own pid: an earlier process that had it (a container started again), unless we hold this lock.
  if (holder.pid === process.pid) return !heldHere.has(path);
  if (!isAlive(holder.pid)) return true;
  const start = holder.start === undefined ? undefined : startTimeOf(holder.pid);
  return start !== undefined && start !== holder.start;
}

/**
 * When a process started, in clock ticks since boot (field 22 of /proc/PID/stat): with the pid, it
 * names one process, never a later one given the same pid. Undefined where there is no /proc.
 */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name, which may itself hold spaces and parentheses: field 3 is the first.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  } catch {
    return undefined;
  }
}

let ownerFiles = 0;

/** A name beside `path` that only this process uses: `<path>.<pid>-<host tag>-<n>`. */
function ownerFileName(path: string): string {
  ownerFiles += 1;
  return `${path}.${processTag()}-${ownerFiles}`;
}

/** This process in a file name: its pid and a short tag of its host (so a later run can tell whether it is gone). */
export function processTag(): string {
  return `${process.pid}-${ownHostTag()}`;
}

/** This host's name and its tag, read once per run. */
function thisHost(): string {
  host ??= hostname();
  return host;
}

function ownHostTag(): string {
  ownTag ??= hostTag(thisHost());
  return ownTag;
}

let host: string | undefined;
let ownTag: string | undefined;

function hostTag(host: string): string {
  return createHash('sha256').update(host).digest('hex').slice(0, 8);
}

/** Whether the process named by a `processTag()` is certainly gone: on this host, and not running. */
export function isGoneHolder(pid: number, tag: string): boolean {
  return tag === ownHostTag() && pid !== process.pid && !isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
