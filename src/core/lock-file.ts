import { readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/** Who holds a lock file: written into it by the process that took it. */
export interface LockHolder {
  pid: number;
  host: string;
}

export type LockAttempt = { acquired: true; release: () => Promise<void> } | { acquired: false; holder: LockHolder | undefined };

/**
 * The one way a path is claimed by one process at a time: the lock file is created exclusively and
 * holds the owner's pid and host. A lock left by a process that is gone (kill -9, a crash) on this
 * host is taken over; one held by a live process (or unreadable) is reported with its holder.
 */
export async function tryLock(path: string): Promise<LockAttempt> {
  const owner = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  let holder: LockHolder | undefined;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(path, owner, { flag: 'wx' });
      return { acquired: true, release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      holder = await readFile(path, 'utf8')
        .then((text) => JSON.parse(text) as LockHolder)
        .catch(() => undefined);
      if (!holder || holder.host !== hostname() || isAlive(holder.pid)) break;
      await rm(path, { force: true });
    }
  }
  return { acquired: false, holder };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
