/**
 * Whose files are at a download's fixed temporary names, and taking them. A ranged download writes
 * at the fixed name (`.NAME.datalake-part`, temporary-names.ts) so that a run killed half-way finds
 * it again; but a file there may be the user's own (made by hand, or by another tool), and datalake
 * never removes nor reuses a file it cannot prove it made. The proof is the record beside it
 * (`….json`, range-progress.ts): a record of datalake's that names that very file (inode number and
 * birth time). Every step keeps that proof true, wherever a kill -9 lands:
 *  - a new file is made under a name of this process's own, its record is written (whole, and
 *    never over anything), and only then is the file given the fixed name, by a hard link that
 *    never replaces (its own name removed after);
 *  - the record is rewritten whole (aside, then renamed over) and never removed while the file is
 *    at the fixed name: a download that starts over records that it holds no range;
 *  - the file leaves the fixed name (renamed into place, or removed) before its record is removed.
 * So a killed run leaves names carrying its pid (removed once it is gone, temporary-names.ts), a
 * record whose file is gone (removed: it reads as datalake's), or a file with a record naming it
 * (resumed, or replaced). Anything else at those names is left as it is, and the download goes
 * under a name of its own instead.
 */
import { lstat, unlink, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { TargetExists } from '../errors.js';
import type { ObjectHead } from '../s3/objects.js';
import { createNewFile, moveIntoPlace, openOwnFile, removeOnExit, removeOwnName } from './exclusive-files.js';
import { FolderAtLock, tryLock, type LockAttempt } from './lock-file.js';
import { isSamePartFile, partFileOf, RangeProgress, readRecord, type PartFile, type RecordAt } from './range-progress.js';
import { leftoverScansSettled, privateTemporaryPath, temporaryDownloadPath } from './temporary-names.js';

/** The file a download writes into. */
export interface DownloadFile {
  path: string;
  file: FileHandle;
  /** Its record, at the fixed name (a later run resumes it); undefined under a name of its own. */
  progress: RangeProgress | undefined;
  /** Files at the fixed temporary names that are not provably datalake's: left as they are (names in the folder). */
  notOurs: string[];
  /** Stops removing the file (and its record) as the process exits: they are kept, or gone. */
  forget: () => void;
  /** Lets go of the fixed name. */
  release: () => Promise<void>;
}

/**
 * The file a download of `at` writes into: with `resumable` (a ranged download), the fixed name if
 * this process can lock it and what is there is nothing or datalake's — resumed if its record fits
 * the object, else replaced. Otherwise a name of its own: another live run holds the fixed name (an
 * overlapping cron job; both end whole, the last rename wins), or something there is not provably
 * datalake's (named in `notOurs`), or there is nothing to resume (an object fetched in one GET).
 */
export async function openDownloadFile(at: string, resumable?: { head: ObjectHead; chunk: number }): Promise<DownloadFile> {
  if (!resumable) return underOwnName(at, []);
  const fixed = temporaryDownloadPath(at);
  const lock = await lockFixedName(fixed);
  if (lock === 'folder') return underOwnName(at, [`${basename(fixed)}.lock`]);
  if (!lock.acquired) return underOwnName(at, []);
  let claimed: DownloadFile | string[];
  try {
    claimed = await claimFixedName(at, fixed, resumable.head, resumable.chunk);
  } catch (error) {
    await lock.release();
    throw error;
  }
  if (!Array.isArray(claimed) && claimed.path === fixed) return { ...claimed, release: lock.release };
  await lock.release();
  return Array.isArray(claimed) ? underOwnName(at, claimed) : claimed;
}

/**
 * The lock of the fixed name `fixed`; 'folder' where a folder with files in it is at the lock's name:
 * someone's (never datalake's to empty), so the fixed name is not this run's to use, and the folder
 * is left as it is.
 */
async function lockFixedName(fixed: string): Promise<LockAttempt | 'folder'> {
  return tryLock(`${fixed}.lock`).catch((error: unknown) => {
    if (error instanceof FolderAtLock) return 'folder' as const;
    throw error;
  });
}

/**
 * Under the fixed name's lock: what is there taken up (resumed), replaced, or left alone (the names
 * left, for the download to go under a name of its own).
 */
async function claimFixedName(at: string, fixed: string, head: ObjectHead, chunk: number): Promise<DownloadFile | string[]> {
  const record = `${fixed}.json`;
  const found = await whatIsAt(fixed);
  if (found.part === 'foreign') {
    // A record of datalake's beside a file it does not name: its own file is gone, and so it goes.
    if (found.record.kind === 'ours') await removeOwnName(record);
    return [basename(fixed)];
  }
  if (found.record.kind === 'foreign') return [basename(record)];
  if (found.part === 'ours' && found.record.kind === 'ours') {
    const saved = found.record.saved;
    if (RangeProgress.fits(saved, head, chunk)) {
      const file = await openOwnFile(fixed);
      const stats = await file?.stat({ bigint: true }).catch(() => undefined);
      if (file && stats && isSamePartFile(partFileOf(stats), saved.file!)) {
        // Holding ranges, it is kept as the process exits; holding none (killed before the first landed), it is not.
        const forget = saved.done.length > 0 ? () => undefined : removedOnExit(fixed, record, stats.ino);
        return { path: fixed, file, progress: RangeProgress.resumed(record, saved, forget), notOurs: [], forget, release: async () => undefined };
      }
      await file?.close();
      // Replaced between the look and the open: not the file the record names.
      if (file) return [basename(fixed)];
    }
    // Datalake's, but not to resume (another object now, cut otherwise, or a second name to it): the file goes before its record.
    await removeNamedFile(fixed, saved.file!);
  }
  if (found.record.kind === 'ours') await removeOwnName(record);
  return startAtFixedName(at, fixed, record, head, chunk);
}

/**
 * A new file at the fixed name, with its record beside it from the first instant it has that name:
 * made under a name of this process's own, recorded, then linked to the fixed name (never over
 * anything: a file that appeared there meanwhile is left, and the download stays under its own name).
 */
async function startAtFixedName(at: string, fixed: string, record: string, head: ObjectHead, chunk: number): Promise<DownloadFile | string[]> {
  const own = await underOwnName(at, []);
  try {
    const stats = await own.file.stat({ bigint: true });
    // Removed as the process exits (from when the record is written), until a range is recorded.
    let forget: () => void = () => undefined;
    const progress = RangeProgress.fresh(record, head, chunk, partFileOf(stats), () => forget());
    const begun = await progress.begin().then(
      () => true,
      (error: unknown) => {
        if (error instanceof TargetExists) return false;
        throw error;
      },
    );
    if (!begun) return { ...own, notOurs: [basename(record)] };
    forget = removedOnExit(fixed, record, stats.ino);
    const placed = await moveIntoPlace(own.path, fixed, { noReplace: true }).then(
      () => true,
      async (error: unknown) => {
        forget();
        await progress.discard();
        if (error instanceof TargetExists) return false;
        throw error;
      },
    );
    if (!placed) return { ...own, notOurs: [basename(fixed)] };
    own.forget();
    return { path: fixed, file: own.file, progress, notOurs: [], forget, release: async () => undefined };
  } catch (error) {
    await own.file.close().catch(() => undefined);
    await removeOwnName(own.path).catch(() => undefined);
    own.forget();
    throw error;
  }
}

/**
 * Removes the file at the fixed name (only while it is still that inode) and then its record, if the
 * process exits before the returned function is called: the file first, so that a record is never
 * gone while its file is there.
 */
function removedOnExit(fixed: string, record: string, ino: bigint): () => void {
  const forgetFixed = removeOnExit(fixed, Number(ino));
  const forgetRecord = removeOnExit(record);
  return () => {
    forgetFixed();
    forgetRecord();
  };
}

/** A new file under a name only this download uses, removed as the process exits until `forget`. */
async function underOwnName(at: string, notOurs: string[]): Promise<DownloadFile> {
  const path = privateTemporaryPath(at);
  const forget = removeOnExit(path);
  try {
    const file = await createNewFile(path).catch(async (error: NodeJS.ErrnoException) => {
      // Our pid's name already there: left by a process that had this pid before.
      if (error.code !== 'EEXIST') throw error;
      await removeOwnName(path);
      return createNewFile(path);
    });
    return { path, file, progress: undefined, notOurs, forget, release: async () => undefined };
  } catch (error) {
    forget();
    throw error;
  }
}

/**
 * What is at the fixed name and its record's: the file is datalake's only if it is a regular file of
 * this user's that a record of datalake's names (inode number and birth time); nothing else proves it.
 */
async function whatIsAt(fixed: string): Promise<{ part: 'absent' | 'ours' | 'foreign'; record: RecordAt }> {
  const record = await readRecord(`${fixed}.json`);
  const info = await lstat(fixed, { bigint: true }).catch(() => undefined);
  if (!info) return { part: 'absent', record };
  const named = record.kind === 'ours' ? record.saved.file : undefined;
  const ours = named !== undefined && info.isFile() && Number(info.uid) === process.getuid?.() && isSamePartFile(partFileOf(info), named);
  return { part: ours ? 'ours' : 'foreign', record };
}

/** Removes the file at `path` only while it is still the one its record names: never one that replaced it. */
async function removeNamedFile(path: string, named: PartFile): Promise<void> {
  const info = await lstat(path, { bigint: true }).catch(() => undefined);
  if (info?.isFile() && isSamePartFile(partFileOf(info), named)) await unlink(path).catch(() => undefined);
}

/**
 * What an earlier run left under `target`'s fixed temporary names (killed or stopped half-way, kept
 * to resume), removed once `target` will not be downloaded (`--no-clobber` found a file there).
 * Taken as a download takes them, under the fixed name's lock: never while another live run
 * downloads to the same target (a stale lock is taken over, then let go). Only what is provably
 * datalake's is removed (the file a record of datalake's names, then that record; a record whose
 * file is gone): anything else at those names is kept. Returns the names (in the folder) of the files
 * kept so. `target` may be reached through its folder held open.
 */
export async function removeAbandonedDownload(target: string): Promise<string[]> {
  const fixed = temporaryDownloadPath(target);
  const record = `${fixed}.json`;
  // What earlier versions rewrote their record through.
  const rewritten = `${fixed}.json.new`;
  const found = await Promise.all([fixed, record, rewritten, `${fixed}.lock`].map((name) => lstat(name).then(() => true, () => false)));
  if (!found.includes(true)) return [];
  let lock = await lockFixedName(fixed);
  if (lock === 'folder') return [`${basename(fixed)}.lock`];
  if (!lock.acquired) {
    // This run's own look through the folder for gone runs' leftovers may hold that lock a moment
    // (taking a stale one to remove it): once those looks are done, once more.
    await leftoverScansSettled();
    lock = await tryLock(`${fixed}.lock`);
    if (!lock.acquired) return [];
  }
  const kept: string[] = [];
  try {
    const { part, record: recorded } = await whatIsAt(fixed);
    // The file before its record: a record whose file is gone still reads as datalake's.
    if (part === 'ours' && recorded.kind === 'ours') await removeNamedFile(fixed, recorded.saved.file!);
    else if (part === 'foreign') kept.push(basename(fixed));
    if (recorded.kind === 'ours') await removeOwnName(record);
    else if (recorded.kind === 'foreign') kept.push(basename(record));
    const old = await readRecord(rewritten);
    if (old.kind === 'ours') await removeOwnName(rewritten);
    else if (old.kind === 'foreign') kept.push(basename(rewritten));
  } finally {
    await lock.release();
  }
  return kept;
}
