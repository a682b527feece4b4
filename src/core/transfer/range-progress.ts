/**
 * The record of which ranges of a download are already in its temporary file (a small JSON file
 * beside it), so that a run killed half-way resumes instead of starting over.
 */

import type { ObjectHead } from '../s3/objects.js';
import { readRegularFile, removeOnExit, removeOwnName, replaceFile } from './exclusive-files.js';

/**
 * Which ranges of a download are already in its temporary file, kept in a small JSON file beside it
 * and written after each range lands. It is trusted only for the same object (ETag and size) cut the
 * same way; the bytes themselves are proven again at the end like any others.
 */
export class RangeProgress {
  private state: { etag: string; size: number; chunk: number; done: Array<LandedRange> } | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Whether a record may be on disk: a small object fetched in one GET never has one to remove. */
  private used = false;

  /** `resumable` is called once the first range is recorded: from then on the file is worth keeping. */
  constructor(
    private readonly path: string,
    private readonly resumable: () => void,
  ) {}

  async load(head: ObjectHead, chunk: number): Promise<boolean> {
    this.used = true;
    try {
      // Never through a link, never a pipe: a planted record is no record.
      const saved = JSON.parse((await readRegularFile(this.path))?.text ?? '') as typeof this.state;
      if (saved && saved.etag === head.etag && saved.size === head.size && saved.chunk === chunk && Array.isArray(saved.done)) {
        this.state = saved;
        return true;
      }
    } catch {
      // nothing to resume
    }
    this.state = { etag: head.etag ?? '', size: head.size, chunk, done: [] };
    return false;
  }

  done(): ReadonlyArray<LandedRange> {
    return this.state?.done ?? [];
  }

  /** Forgets recorded ranges other than `indexes` (those whose bytes were found changed). */
  keepOnly(indexes: ReadonlySet<number>): void {
    if (this.state) this.state.done = this.state.done.filter((range) => indexes.has(range.index));
  }

  hasRanges(): boolean {
    return (this.state?.done.length ?? 0) > 0;
  }

  record(range: LandedRange): Promise<void> {
    if (!this.state) return Promise.resolve();
    this.used = true;
    this.state.done.push(range);
    const text = JSON.stringify(this.state);
    // Written aside and renamed over, so a kill -9 mid-write leaves the previous record, never half of one.
    this.writing = this.writing
      .then(async () => {
        const forgetAside = removeOnExit(`${this.path}.new`);
        try {
          await replaceFile(this.path, `${this.path}.new`, text);
        } finally {
          forgetAside();
        }
        this.resumable();
      })
      .catch(() => undefined);
    return this.writing;
  }

  async reset(): Promise<void> {
    if (this.state) this.state.done = [];
    await this.discard();
  }

  async discard(): Promise<void> {
    // Each rm of a missing file is a failed lstat and a thrown error inside Node: for 5,000 small
    // files that was a fifth of the main thread's time.
    if (!this.used) return;
    await this.writing;
    await removeOwnName(this.path);
    await removeOwnName(`${this.path}.new`);
  }
}

/**
 * Whether `text` is a record of datalake's own (what `record` writes): an object with the ETag, size
 * and range size it was cut for, and the ranges landed. Anything else at a record's name is not ours.
 */
export function isRangeRecord(text: string): boolean {
  try {
    const saved = JSON.parse(text) as Record<string, unknown> | null;
    return (
      typeof saved === 'object' && saved !== null && typeof saved.etag === 'string' && typeof saved.size === 'number' && typeof saved.chunk === 'number' &&
      Array.isArray(saved.done) && saved.done.every((range) => typeof range === 'object' && range !== null && ['index', 'start', 'end'].every((field) => typeof (range as Record<string, unknown>)[field] === 'number'))
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
