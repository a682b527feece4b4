import { createHash } from 'node:crypto';
import { opendir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describeError } from '../errors.js';
import { removeOwnName } from './exclusive-files.js';
import { FolderAtLock, isGoneHolder, processTag, tryLock } from './lock-file.js';

/**
 * The one naming rule for a download in progress: a hidden file beside the target, its record
 * (`….json`, rewritten through `….json.<pid>-<host tag>-<n>`) and the lock on the fixed name
 * (`….lock`, with the lock's own files `….lock.<…>`). Walks of a local tree leave these out, so a
 * sync never uploads another download's partial file, nor deletes one as a stray. (`….json.new` is
 * what earlier versions rewrote the record through: still left out of walks.)
 */
const SUFFIX = '.datalake-part';
const TEMPORARY_NAME = new RegExp(`^\\..+${SUFFIX.replace('.', '\\.')}(\\.json(\\.new|\\.\\d+-[0-9a-f]{8}-\\d+)?|\\.lock(\\..+)?)?$`);

/** The fixed name a download is written under, so that a run killed half-way finds it again. */
export function temporaryDownloadPath(target: string): string {
  return join(dirname(target), `.${temporaryBase(basename(target))}${SUFFIX}`);
}

/**
 * The longest the names beside a download add to its base: `.` and the lock's takeover lock's owner
 * file, `.datalake-part.lock.<inode>.takeover.<pid>-<host tag>-<n>`, with room to spare.
 */
const ADDED_BYTES = 80;
const NAME_MAX = 255;

/**
 * The target's name in its temporary names: as it is, unless those names would then pass the file
 * system's 255 bytes; then a prefix of it (whole characters) and a short hash of the whole name, so
 * that two long names with one prefix never share a temporary name, and the result still reads as
 * the target's.
 */
function temporaryBase(name: string): string {
  if (Buffer.byteLength(name) + ADDED_BYTES <= NAME_MAX) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  let prefix = '';
  let bytes = 0;
  for (const character of name) {
    const size = Buffer.byteLength(character);
    if (bytes + size > NAME_MAX - ADDED_BYTES - hash.length - 1) break;
    prefix += character;
    bytes += size;
  }
  return `${prefix}~${hash}`;
}

/**
 * A name only this download uses: for an object written in one go or fetched in one GET (nothing to
 * resume), for a download whose fixed name another live process holds or holds a file that is not
 * provably datalake's, and for a new file before it takes the fixed name (download-claim.ts):
 * `.NAME.<pid>-<host tag>-<n>.datalake-part`.
 * Unique across live processes (pid and host) and within this one (a counter); the pid and host
 * tell a later run whether the process that left it is gone.
 */
export function privateTemporaryPath(target: string): string {
  privateNames += 1;
  return join(dirname(target), `.${temporaryBase(basename(target))}.${processTag()}-${privateNames}${SUFFIX}`);
}

let privateNames = 0;

/**
 * The name a record is written under before it is renamed over the record:
 * `RECORD.<pid>-<host tag>-<n>`, unique to this process (a record is rewritten after every range),
 * and removed by a later run once this process is gone (a kill -9 mid-write).
 */
export function recordAsidePath(record: string): string {
  privateNames += 1;
  return `${record}.${processTag()}-${privateNames}`;
}

export function isTemporaryDownloadName(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}

/**
 * Names that carry their holder, exactly as they are made: private temporary files
 * (`.NAME.<pid>-<tag>-<n>.datalake-part`), records being written (`.NAME.datalake-part.json.<pid>-<tag>-<n>`),
 * and the owner files a lock is made from (`.NAME.datalake-part.lock.<pid>-<tag>-<n>`, a takeover
 * lock's `….lock.<inode>.takeover.<pid>-<tag>-<n>` too). Nothing else is ever removed as a leftover:
 * every such name is also one `get` refuses to write and a walk leaves out (TEMPORARY_NAME).
 */
const HELD_NAME = new RegExp(
  `^\\..+(?:\\.(\\d+)-([0-9a-f]{8})-\\d+\\${SUFFIX}|\\${SUFFIX}\\.json\\.(\\d+)-([0-9a-f]{8})-\\d+|\\${SUFFIX}\\.lock(?:\\.\\d+\\.takeover)*\\.(\\d+)-([0-9a-f]{8})-\\d+)$`,
);
/** Lock files, which carry their holder inside: the fixed name's lock, and takeover locks of it. */
const LOCK_NAME = new RegExp(`^\\..+\\${SUFFIX}\\.lock(\\.\\d+\\.takeover)*$`);

/** Per folder, once per run: what runs that are gone left there, removed (or what could not be). */
const leftoverScans = new Map<string, Promise<string[]>>();

/** Once every look this run has begun through a folder for gone runs' leftovers is done (each may hold a stale lock a moment). */
export async function leftoverScansSettled(): Promise<void> {
  await Promise.all([...leftoverScans.values()].map((scan) => scan.catch(() => undefined)));
}

/**
 * Removes what runs that are gone (a kill -9, a crash, a machine that lost power) left in the
 * target's folder: private temporary files and the owner files of locks whose holder's pid no longer
 * runs on this host, and locks whose holder is gone (taken over, then removed). The folder is read
 * once per run, when the first download into it starts, and cleared whatever is downloaded: a re-run
 * that skips the files a killed run had finished still removes that run's locks. A fixed temporary
 * name left behind is kept: the download of its target takes it over and resumes or replaces it,
 * once its record proves it datalake's (download-claim.ts).
 * Returns, to the first download into the folder only, one line for each leftover that could not
 * be removed (a folder planted at such a name), for it to warn of; such a leftover fails nothing.
 */
export async function removeLeftoversOfGoneRuns(target: string, at = target): Promise<string[]> {
  const directory = dirname(target);
  const scan = leftoverScans.get(directory);
  if (scan) {
    await scan;
    return [];
  }
  // Read and cleared through `at`'s folder (the folder held open, when the download reaches its
  // target through it), remembered by the folder's path, and told by that path.
  const reached = dirname(at);
  const started = removeLeftoversIn(reached).then((stuck) => (reached === directory ? stuck : stuck.map((line) => line.split(`${reached}/`).join(`${directory}/`))));
  leftoverScans.set(directory, started);
  return started;
}

async function removeLeftoversIn(directory: string): Promise<string[]> {
  const stuck: string[] = [];
  // Streamed: a folder of a million files costs no more memory than one of ten.
  const entries = await opendir(directory, { bufferSize: 256 }).catch(() => undefined);
  for await (const { name } of entries ?? []) {
    if (!name.startsWith('.') || !name.includes(SUFFIX)) continue;
    const path = join(directory, name);
    try {
      const held = HELD_NAME.exec(name);
      if (held && isGoneHolder(Number(held[1] ?? held[3] ?? held[5]), (held[2] ?? held[4] ?? held[6])!)) await removeOwnName(path);
      else if (!held && LOCK_NAME.test(name)) {
        // Taken the way any stale lock is (never one a live process holds), then let go: removed.
        const lock = await tryLock(path);
        if (lock.acquired) await lock.release();
      }
    } catch (error) {
      // A folder with files at a lock's name is no run's leftover: someone's, left as it is (a download to its target says so).
      if (error instanceof FolderAtLock) continue;
      stuck.push(`${describeError(error)}; left there by a run that is gone`);
    }
  }
  return stuck;
}
