import { mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { failure } from '../errors.js';
import { tryLock } from '../transfer/lock-file.js';

/**
 * One sync of a given source and destination at a time. A lock left by a process that is gone
 * (kill -9, a crash) is taken over.
 */
export async function acquireSyncLock(path: string, description: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  const lock = await tryLock(path);
  if (lock.acquired) return lock.release;
  const { holder } = lock;
  throw failure(`another sync of ${description} is running${holder ? ` (pid ${holder.pid} on ${holder.host})` : ''}`, {
    hint: `wait for it to finish; if it is gone, remove ${path}`,
  });
}

/**
 * The local root as the lock knows it: one folder reached through a symbolic link, or by another
 * spelling of its path, is the same sync. A download root not made yet is its nearest existing
 * ancestor's real path with the rest of the name.
 */
export async function canonicalLocalRoot(absolute: string): Promise<string> {
  try {
    return await realpath(absolute);
  } catch {
    const parent = dirname(absolute);
    return parent === absolute ? absolute : join(await canonicalLocalRoot(parent), basename(absolute));
  }
}
