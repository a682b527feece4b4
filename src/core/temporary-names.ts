import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { tryLock } from './lock-file.js';

/**
 * The one naming rule for a download in progress: a hidden file beside the target, its record of
 * ranges written (`….json`, rewritten through `….json.new`) and the lock on the fixed name
 * (`….lock`). Walks of a local tree leave these out, so a sync never uploads another download's
 * partial file, nor deletes one as a stray.
 */
const SUFFIX = '.datalake-part';
const TEMPORARY_NAME = new RegExp(`^\\..+${SUFFIX.replace('.', '\\.')}(\\.json(\\.new)?|\\.lock)?$`);

/** The fixed name a download is written under, so that a run killed half-way finds it again. */
export function temporaryDownloadPath(target: string): string {
  return join(dirname(target), `.${basename(target)}${SUFFIX}`);
}

/**
 * A name only this download uses, for a small object received in memory and written in one go, or
 * for a download whose fixed name another live process holds. Unique across processes (a random
 * token chosen once per process) and within this one (a counter).
 */
export function privateTemporaryPath(target: string): string {
  processToken ??= randomBytes(4).toString('hex');
  privateNames += 1;
  return join(dirname(target), `.${basename(target)}.${processToken}-${privateNames}${SUFFIX}`);
}

let processToken: string | undefined;
let privateNames = 0;

/**
 * The temporary file of a download: the fixed name when this process can lock it (`fixed`: a later
 * run finds it again, and resumes it if ranges were recorded); otherwise another live run (an
 * overlapping cron job, say) is downloading to the same target, and this one writes under a private
 * name rather than into that run's file. Both end whole; the last rename wins, as with any two
 * writers of one path.
 */
export async function claimTemporaryDownloadPath(target: string): Promise<{ path: string; fixed: boolean; release: () => Promise<void> }> {
  const fixed = temporaryDownloadPath(target);
  const lock = await tryLock(`${fixed}.lock`);
  if (lock.acquired) return { path: fixed, fixed: true, release: lock.release };
  return { path: privateTemporaryPath(target), fixed: false, release: async () => undefined };
}

export function isTemporaryDownloadName(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}
