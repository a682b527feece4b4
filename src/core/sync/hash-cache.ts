import type { WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { createNewFile } from '../transfer/exclusive-files.js';
import { isGoneHolder, processTag } from '../transfer/lock-file.js';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { compareKeys } from '../s3/list.js';
import type { LocalFile } from '../transfer/local-tree.js';

/** What is known of one local file's content, valid while its size, times and inode are unchanged. */
export interface CachedHash {
  name: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** Hex MD5 of the content, once something needed it (a plain-MD5 ETag, a stored MD5). */
  md5?: string | undefined;
  /** Full-object CRC32 (base64) of the content, once an object with one was compared or written. */
  crc32?: string | undefined;
  /** ETags of remote objects proven to hold exactly this content (multipart ones included). */
  etags: string[];
}

/** Cache lines go to the file in writes of about this many characters. */
const WRITE_CHUNK = 64 * 1024;

/**
 * A local hash cache that is itself a sorted listing: one JSON line per file, in the walk's order.
 * It is read in lock step with the walk and written anew in the same order, so a tree of millions of
 * files costs no memory for its cache. Entries are only trusted while size, mtime, ctime and inode all
 * match, and never for a file modified in the two seconds before it was hashed (it may still change
 * within the same timestamp).
 */
export class HashCache {
  private readonly lines: LineReader | undefined;
  private current: CachedHash | undefined | null = undefined;
  private readonly slots: Array<{ entry: CachedHash | undefined; done: boolean }> = [];
  private readonly output: WriteStream | undefined;
  /** A write that failed (a full disk): the new cache is dropped and the old one stays. */
  private failed = false;
  private unwritten = '';

  private constructor(
    private readonly path: string,
    private readonly temporary: string,
    lines: LineReader | undefined,
    output: FileHandle | undefined,
  ) {
    this.lines = lines;
    this.output = output?.createWriteStream();
    this.output?.on('error', () => {
      this.failed = true;
    });
  }

  /** Opens the cache at `path`; `write` false leaves it as it was (for --dry-run). */
  static async open(path: string, write: boolean): Promise<HashCache> {
    await mkdir(dirname(path), { recursive: true });
    let lines: LineReader | undefined;
    try {
      lines = new LineReader(await open(path, 'r'));
    } catch {
      lines = undefined; // no cache yet
    }
    // The new cache is written aside, never through a link planted at that name, and renamed over.
    // The name carries this process (pid and host), so that the next run can remove it if a kill -9 left it.
    const temporary = `${path}.${processTag()}.tmp`;
    let output: FileHandle | undefined;
    if (write) {
      await removeLeftCopies(path);
      await rm(temporary, { force: true });
      output = await createNewFile(temporary);
    }
    return new HashCache(path, temporary, lines, output);
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
    await this.lines?.close();
    this.flush(true);
    if (!this.output) return;
    const ended = this.failed ? false : await new Promise<boolean>((resolve) => this.output!.end((error?: Error | null) => resolve(!error)));
    if (!ended) this.output.destroy();
    if (commit && ended && !this.failed && this.slots.length === 0) await rename(this.temporary, this.path);
    else await rm(this.temporary, { force: true });
  }

  /** Moves the lines of the places filled so far, in order, to the output, a large write at a time. */
  private flush(final = false): void {
    let filled = 0;
    while (filled < this.slots.length && this.slots[filled]!.done) {
      const { entry } = this.slots[filled]!;
      if (entry && this.output) this.unwritten += `${JSON.stringify(entry)}\n`;
      filled += 1;
    }
    if (filled > 0) this.slots.splice(0, filled);
    if (this.unwritten.length >= WRITE_CHUNK || (final && this.unwritten)) {
      if (!this.failed) this.output!.write(this.unwritten);
      this.unwritten = '';
    }
  }

  private async readNext(): Promise<CachedHash | null> {
    if (!this.lines) return null;
    for (;;) {
      let line = this.lines.take();
      while (line === undefined) {
        await this.lines.fill();
        line = this.lines.take();
      }
      if (line === null) return null;
      try {
        const entry = JSON.parse(line) as CachedHash;
        if (typeof entry.name === 'string' && Array.isArray(entry.etags)) return entry;
      } catch {
        // a damaged line is a cache miss, nothing worse
      }
    }
  }
}

/** A file's lines, read a chunk at a time: a buffered line costs no promise, unlike readline's iterator. */
class LineReader {
  private lines: string[] = [];
  private next = 0;
  private partial = '';
  private ended = false;
  private readonly decoder = new StringDecoder('utf8');
  private readonly chunk = Buffer.allocUnsafe(256 * 1024);

  constructor(private readonly handle: FileHandle) {}

  /** The next line; null at the end of the file; undefined when `fill` must be awaited first. */
  take(): string | null | undefined {
    if (this.next < this.lines.length) return this.lines[this.next++]!;
    return this.ended ? null : undefined;
  }

  async fill(): Promise<void> {
    const { bytesRead } = await this.handle.read(this.chunk, 0, this.chunk.length, null);
    const text = this.partial + (bytesRead > 0 ? this.decoder.write(this.chunk.subarray(0, bytesRead)) : this.decoder.end());
    const lines = text.split('\n');
    this.partial = bytesRead > 0 ? lines.pop()! : '';
    this.lines = lines.filter((line) => line !== '');
    this.next = 0;
    if (bytesRead === 0) this.ended = true;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Removes the copies of the cache at `path` that runs now gone (kill -9) were writing aside. */
async function removeLeftCopies(path: string): Promise<void> {
  const prefix = `${basename(path)}.`;
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const holder = /^(\d+)-([0-9a-f]{8})\.tmp$/.exec(name.slice(prefix.length));
    if (holder && isGoneHolder(Number(holder[1]), holder[2]!)) await rm(join(dirname(path), name), { force: true }).catch(() => undefined);
  }
}
