import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { compareKeys } from '../list.js';
import type { LocalFile } from './local-tree.js';

/** What is known of one local file's content, valid while its size, times and inode are unchanged. */
export interface CachedHash {
  name: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  md5: string;
  /** ETags of remote objects proven to hold exactly this content (multipart ones included). */
  etags: string[];
}

/**
 * A local hash cache that is itself a sorted listing: one JSON line per file, in the walk's order.
 * It is read in lock step with the walk and written anew in the same order, so a tree of millions of
 * files costs no memory for its cache. Entries are only trusted while size, mtime, ctime and inode all
 * match, and never for a file modified in the two seconds before it was hashed (it may still change
 * within the same timestamp).
 */
export class HashCache {
  private readonly lines: AsyncIterator<string> | undefined;
  private current: CachedHash | undefined | null = undefined;
  private readonly slots: Array<{ entry: CachedHash | undefined; done: boolean }> = [];
  private readonly output: WriteStream | undefined;
  private readonly temporary: string;

  private constructor(
    private readonly path: string,
    lines: AsyncIterator<string> | undefined,
    write: boolean,
  ) {
    this.lines = lines;
    this.temporary = `${path}.${process.pid}.tmp`;
    this.output = write ? createWriteStream(this.temporary) : undefined;
  }

  /** Opens the cache at `path`; `write` false leaves it as it was (for --dry-run). */
  static async open(path: string, write: boolean): Promise<HashCache> {
    await mkdir(dirname(path), { recursive: true });
    let lines: AsyncIterator<string> | undefined;
    try {
      const stream = createReadStream(path, { encoding: 'utf8' });
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
      lines = createInterface({ input: stream, crlfDelay: Infinity })[Symbol.asyncIterator]();
    } catch {
      lines = undefined; // no cache yet
    }
    return new HashCache(path, lines, write);
  }

  /**
   * What the cache knows of `file`, if still valid. Calls must come in the walk's order; the reader
   * only moves forward.
   */
  async lookup(file: LocalFile): Promise<CachedHash | undefined> {
    for (;;) {
      if (this.current === undefined) this.current = await this.readNext();
      if (this.current === null) return undefined;
      const order = compareKeys(this.current.name, file.name);
      if (order < 0) {
        this.current = undefined;
        continue;
      }
      if (order > 0) return undefined;
      const entry = this.current;
      this.current = undefined;
      const valid = entry.size === file.size && entry.mtimeMs === file.mtimeMs && entry.ctimeMs === file.ctimeMs && entry.ino === file.ino;
      return valid ? entry : undefined;
    }
  }

  /**
   * Reserves the next place in the new cache, in walk order; the caller fills it once it knows the
   * hash (or leaves it empty). Lines are written as soon as every earlier place is filled.
   */
  reserve(): (entry: CachedHash | undefined) => void {
    const slot = { entry: undefined as CachedHash | undefined, done: false };
    this.slots.push(slot);
    return (entry) => {
      slot.entry = entry && Date.now() - entry.mtimeMs > 2000 ? entry : undefined;
      slot.done = true;
      this.flush();
    };
  }

  /** Writes what is complete and replaces the old cache. Call once, after every place is filled. */
  async close(commit: boolean): Promise<void> {
    this.flush();
    if (!this.output) return;
    await new Promise<void>((resolve, reject) => this.output!.end((error?: Error | null) => (error ? reject(error) : resolve())));
    if (commit && this.slots.length === 0) await rename(this.temporary, this.path);
    else await rm(this.temporary, { force: true });
  }

  private flush(): void {
    while (this.slots.length > 0 && this.slots[0]!.done) {
      const { entry } = this.slots.shift()!;
      if (entry && this.output) this.output.write(`${JSON.stringify(entry)}\n`);
    }
  }

  private async readNext(): Promise<CachedHash | null> {
    if (!this.lines) return null;
    for (;;) {
      const next = await this.lines.next();
      if (next.done) return null;
      try {
        const entry = JSON.parse(next.value) as CachedHash;
        if (typeof entry.name === 'string' && typeof entry.md5 === 'string') return entry;
      } catch {
        // a damaged line is a cache miss, nothing worse
      }
    }
  }
}
