import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { failure } from '../errors.js';

/**
 * One sync of a given source and destination at a time. The lock file holds the owner's pid and
 * host; a lock left by a process that is gone (kill -9, a crash) is taken over.
 */
export async function acquireSyncLock(path: string, description: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  const owner = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(path, owner, { flag: 'wx' });
      return async () => {
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await readFile(path, 'utf8')
        .then((text) => JSON.parse(text) as { pid: number; host: string })
        .catch(() => undefined);
      if (holder && holder.host === hostname() && !isAlive(holder.pid)) {
        await rm(path, { force: true });
        continue;
      }
      throw failure(`another sync of ${description} is running${holder ? ` (pid ${holder.pid} on ${holder.host})` : ''}`, {
        hint: `wait for it to finish; if it is gone, remove ${path}`,
      });
    }
  }
  throw failure(`cannot take the sync lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
