import { opendir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isGoneHolder, processTag, tryLock } from './lock-file.js';

/**
 * The one naming rule for a download in progress: a hidden file beside the target, its record of
 * ranges written (`….json`, rewritten through `….json.new`) and the lock on the fixed name
 * (`….lock`, with the lock's own files `….lock.<…>`). Walks of a local tree leave these out, so a
 * sync never uploads another download's partial file, nor deletes one as a stray.
 */
const SUFFIX = '.datalake-part';
const TEMPORARY_NAME = new RegExp(`^\\..+${SUFFIX.replace('.', '\\.')}(\\.json(\\.new)?|\\.lock(\\..+)?)?$`);

/** The fixed name a download is written under, so that a run killed half-way finds it again. */
export function temporaryDownloadPath(target: string): string {
  return join(dirname(target), `.${basename(target)}${SUFFIX}`);
}

/**
 * A name only this download uses, for a small object received in memory and written in one go, or
 * for a download whose fixed name another live process holds: `.NAME.<pid>-<host tag>-<n>.datalake-part`.
 * Unique across live processes (pid and host) and within this one (a counter); the pid and host
 * tell a later run whether the process that left it is gone.
 */
export function privateTemporaryPath(target: string): string {
  privateNames += 1;
  return join(dirname(target), `.${basename(target)}.${processTag()}-${privateNames}${SUFFIX}`);
}

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

/** Names that carry their holder: private temporary files, and the files a lock is made from. */
const HELD_NAMES = [new RegExp(`^\\.(.+)\\.(\\d+)-([0-9a-f]{8})-\\d+\\${SUFFIX}$`), new RegExp(`^\\.(.+)\\${SUFFIX}\\.lock\\.(\\d+)-([0-9a-f]{8})-\\d+$`)];

/** Per folder, once per run: the temporary files there whose names carry a holder, by target name. */
const leftoverScans = new Map<string, Promise<Map<string, Array<{ name: string; pid: number; tag: string }>>>>();

/**
 * Removes what runs that are gone (a kill -9, a crash, a machine that lost power) left for `target`:
 * private temporary files and lock files whose holder's pid no longer runs on this host. The folder is
 * read once per run, when the first download into it starts; a fixed name left behind is taken over
 * with its lock, and resumed or replaced, by the download itself.
 */
export async function removeLeftoversOfGoneRuns(target: string): Promise<void> {
  const directory = dirname(target);
  let scan = leftoverScans.get(directory);
  if (!scan) {
    scan = scanForLeftovers(directory);
    leftoverScans.set(directory, scan);
  }
  const byTarget = await scan;
  const found = byTarget.get(basename(target));
  if (!found) return;
  byTarget.delete(basename(target));
  for (const leftover of found) {
    if (isGoneHolder(leftover.pid, leftover.tag)) await rm(join(directory, leftover.name), { force: true });
  }
}

async function scanForLeftovers(directory: string): Promise<Map<string, Array<{ name: string; pid: number; tag: string }>>> {
  const byTarget = new Map<string, Array<{ name: string; pid: number; tag: string }>>();
  // Streamed: a folder of a million files costs no more memory than one of ten.
  const entries = await opendir(directory, { bufferSize: 256 }).catch(() => undefined);
  for await (const { name } of entries ?? []) {
    if (!name.startsWith('.') || !name.includes(SUFFIX)) continue;
    for (const pattern of HELD_NAMES) {
      const match = pattern.exec(name);
      if (!match) continue;
      const list = byTarget.get(match[1]!) ?? [];
      list.push({ name, pid: Number(match[2]), tag: match[3]! });
      byTarget.set(match[1]!, list);
      break;
    }
  }
  return byTarget;
}
