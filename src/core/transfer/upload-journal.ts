import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { replaceFile } from './exclusive-files.js';

/**
 * One multipart upload in progress, as it must be found again after a crash: which upload, how its
 * parts are cut, and which file (by path and identity) it is the upload of.
 */
export interface JournalEntry {
  bucket: string;
  key: string;
  /** The absolute path of the file uploaded. */
  path: string;
  uploadId: string;
  partSize: number;
  size: number;
  mtimeMs: number;
  ino: number;
  /** Hex MD5 of the whole file, already in the upload's metadata (only with --md5-metadata). */
  md5?: string | undefined;
  /**
   * The upload was created for a full-object CRC32 (its parts carry theirs). An entry without it
   * (an upload begun by an earlier version) cannot be completed with one, and is started over.
   */
  fullObjectCrc32?: true;
  /** The CRC32 (base64) of each part sent, by part number: a part on the server is reused only if it still matches. */
  partCrc32s?: Record<string, string>;
  /** False under SSE-KMS/SSE-C, where part ETags are not MD5s and parts cannot be checked for reuse. */
  etagReflectsContent: boolean;
  partsDone: number;
  startedAt: string;
}

/** Which entry: the upload of one file to one key. */
export type JournalKey = Pick<JournalEntry, 'bucket' | 'key' | 'path'>;

/**
 * The journal of uploads in progress: one small JSON file per bucket, key and local file under the
 * state directory, written atomically. Two files put to one key each keep their own entry, so each
 * stays resumable. An entry exists exactly while its upload may still be resumed.
 */
export class UploadJournal {
  /** Writes of one entry run one after another: parts finish concurrently, the file must not tear. */
  private readonly writes = new Map<string, Promise<void>>();

  /** The folder of the journal's files, under the state directory. */
  constructor(readonly directory: string) {}

  async find(which: JournalKey): Promise<JournalEntry | undefined> {
    try {
      const entry = JSON.parse(await readFile(this.fileOf(which), 'utf8')) as JournalEntry;
      const matches = entry.bucket === which.bucket && entry.key === which.key && entry.path === which.path;
      return matches && typeof entry.uploadId === 'string' ? entry : undefined;
    } catch {
      return undefined;
    }
  }

  record(entry: JournalEntry): Promise<void> {
    const path = this.fileOf(entry);
    const text = JSON.stringify(entry);
    return this.enqueue(path, async () => {
      await mkdir(this.directory, { recursive: true });
      // Written aside (never through a link planted at that name) and renamed over.
      await replaceFile(path, `${path}.${process.pid}.tmp`, text);
    });
  }

  remove(entry: JournalKey): Promise<void> {
    const path = this.fileOf(entry);
    return this.enqueue(path, () => rm(path, { force: true }));
  }

  private enqueue(path: string, write: () => Promise<void>): Promise<void> {
    const next = (this.writes.get(path) ?? Promise.resolve()).then(write, write);
    this.writes.set(path, next);
    void next.finally(() => {
      if (this.writes.get(path) === next) this.writes.delete(path);
    }).catch(() => undefined);
    return next;
  }

  private fileOf({ bucket, key, path }: JournalKey): string {
    return join(this.directory, `${createHash('sha256').update(`${bucket}\0${key}\0${path}`).digest('hex').slice(0, 32)}.json`);
  }
}

/** Whether the journal's file is still the file on disk: same size, modification time and inode. */
export function sameFile(entry: Pick<JournalEntry, 'size' | 'mtimeMs' | 'ino'>, file: { size: number; mtimeMs: number; ino: number }): boolean {
  return entry.size === file.size && entry.mtimeMs === file.mtimeMs && entry.ino === file.ino;
}
