/**
 * The record of a download at its fixed temporary name (a small JSON file beside it): which file it
 * is for, and which ranges of the object are already in that file, so that a run killed half-way
 * resumes instead of starting over, and a file at that name is known for datalake's own.
 */

import type { BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import type { ObjectHead } from '../s3/objects.js';
import { moveIntoPlace, readRegularFile, removeOnExit, removeOwnName, replaceFile, writeNewFile } from './exclusive-files.js';
import { recordAsidePath } from './temporary-names.js';

/**
 * The one file a record is for, as the file system tells it apart: its inode number and its birth
 * time in nanoseconds ("0" where the file system keeps none). A file made again at the same name,
 * even on the same inode number, is born at another time: it is not the file the record names.
 */
export interface PartFile {
  ino: string;
  birth: string;
}

export function partFileOf(stats: BigIntStats): PartFile {
  return { ino: String(stats.ino), birth: String(stats.birthtimeNs) };
}

export function isSamePartFile(a: PartFile, b: PartFile): boolean {
  return a.ino === b.ino && a.birth === b.birth;
}

/** A record as written: the object (ETag, size) and range size it was cut for, the ranges landed, and its file. */
export interface SavedRecord {
  etag: string;
  size: number;
  chunk: number;
  done: LandedRange[];
  /** Absent in a record an earlier version wrote: such a record proves no file to be datalake's. */
  file?: PartFile;
}

/**
 * Which ranges of a download are already in its temporary file, kept in a small JSON file beside it
 * and written before the file has its name, then after each range lands: whenever datalake's file is
 * at the fixed name, a record naming it is beside it. It is trusted only for the same object (ETag
 * and size) cut the same way; the bytes themselves are proven again at the end like any others.
 */
export class RangeProgress {
  private writing: Promise<void> = Promise.resolve();

  /** `resumable` is called once a range is recorded: from then on the file is worth keeping. */
  private constructor(
    private readonly path: string,
    private readonly state: SavedRecord,
    private readonly resumable: () => void,
  ) {}

  /** A record for a new file, with no range yet: written by `begin`. */
  static fresh(path: string, head: ObjectHead, chunk: number, file: PartFile, resumable: () => void): RangeProgress {
    return new RangeProgress(path, { etag: head.etag ?? '', size: head.size, chunk, done: [], file }, resumable);
  }

  /** The record a killed or stopped run left, for its file taken up again. */
  static resumed(path: string, saved: SavedRecord, resumable: () => void): RangeProgress {
    return new RangeProgress(path, saved, resumable);
  }

  /** Whether `saved` was cut for this very object and range size, so that its ranges may be reused. */
  static fits(saved: SavedRecord, head: ObjectHead, chunk: number): boolean {
    return saved.etag === head.etag && saved.size === head.size && saved.chunk === chunk;
  }

  /**
   * Writes the first record, never over anything: TargetExists when something is at its name (a
   * file that appeared since it was looked at is not ours to replace).
   */
  async begin(): Promise<void> {
    const aside = recordAsidePath(this.path);
    const forgetAside = removeOnExit(aside);
    try {
      await writeNewFile(aside, JSON.stringify(this.state));
      await moveIntoPlace(aside, this.path, { noReplace: true }).catch(async (error: unknown) => {
        await removeOwnName(aside);
        throw error;
      });
    } finally {
      forgetAside();
    }
  }

  done(): ReadonlyArray<LandedRange> {
    return this.state.done;
  }

  /** Forgets recorded ranges other than `indexes` (those whose bytes were found changed). */
  keepOnly(indexes: ReadonlySet<number>): void {
    this.state.done = this.state.done.filter((range) => indexes.has(range.index));
  }

  hasRanges(): boolean {
    return this.state.done.length > 0;
  }

  record(range: LandedRange): Promise<void> {
    this.state.done.push(range);
    return this.write(() => this.resumable());
  }

  /** No range kept (the file is emptied to be fetched again): the record says so, and still names the file. */
  async reset(): Promise<void> {
    this.state.done = [];
    await this.write();
  }

  async discard(): Promise<void> {
    await this.writing;
    await removeOwnName(this.path);
  }

  /**
   * Written aside (under a name carrying this process, removed by a later run if this one is killed
   * mid-write) and renamed over: the record is whole or the previous one, never half of one.
   */
  private write(then?: () => void): Promise<void> {
    const text = JSON.stringify(this.state);
    this.writing = this.writing
      .then(async () => {
        const aside = recordAsidePath(this.path);
        const forgetAside = removeOnExit(aside);
        try {
          await replaceFile(this.path, aside, text);
        } finally {
          forgetAside();
        }
        then?.();
      })
      .catch(() => undefined);
    return this.writing;
  }
}

/** What is at a record's name: nothing, a record of datalake's (`saved`), or anything else (`foreign`). */
export type RecordAt = { kind: 'absent' } | { kind: 'ours'; saved: SavedRecord } | { kind: 'foreign' };

/**
 * Reads what is at a record's name, never through a link nor from a pipe: a record of datalake's
 * only if it is a regular file of this user's that reads as one (isRangeRecord).
 */
export async function readRecord(path: string): Promise<RecordAt> {
  const read = await readRegularFile(path);
  if (!read) return (await lstat(path).then(() => true, () => false)) ? { kind: 'foreign' } : { kind: 'absent' };
  if (read.uid !== process.getuid?.() || !isRangeRecord(read.text)) return { kind: 'foreign' };
  return { kind: 'ours', saved: JSON.parse(read.text) as SavedRecord };
}

/**
 * Whether `text` is a record of datalake's own (what RangeProgress writes): an object with the ETag,
 * size and range size it was cut for, the ranges landed, and, if there, the file it is for. Anything
 * else at a record's name is not ours.
 */
export function isRangeRecord(text: string): boolean {
  try {
    const saved = JSON.parse(text) as Record<string, unknown> | null;
    const file = saved?.file as Record<string, unknown> | undefined;
    return (
      typeof saved === 'object' && saved !== null && typeof saved.etag === 'string' && typeof saved.size === 'number' && typeof saved.chunk === 'number' &&
      Array.isArray(saved.done) && saved.done.every((range) => typeof range === 'object' && range !== null && ['index', 'start', 'end'].every((field) => typeof (range as Record<string, unknown>)[field] === 'number')) &&
      (file === undefined || (typeof file === 'object' && file !== null && typeof file.ino === 'string' && typeof file.birth === 'string'))
    );
  } catch {
    return false;
  }
}

/** A range of a download in its temporary file, and the CRC32 of its bytes as they landed. */
export interface LandedRange {
  index: number;
  start: number;
  end: number;
  /** Absent in a record an earlier version wrote: the range is then read back to hash it. */
  crc32?: number;
  /** Its CRC32C, where the object's proof is one (read back from the file on resume, never recorded). */
  crc32c?: number;
}
