import { Worker } from 'node:worker_threads';
import { crc32Of, md5Of } from './checksums.js';
import { fileHashing } from '../s3/limiter.js';

/**
 * The process's one hashing thread (see hash-worker.ts), started on first use and never keeping the
 * process alive by itself.
 */
class BackgroundHasher {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly failed = new Map<number, string>();

  private get thread(): Worker {
    if (!this.worker) {
      this.worker = new Worker(new URL('./hash-worker.js', import.meta.url));
      this.worker.unref();
      this.worker.on('message', (message: { id: number; error?: string }) => {
        const waiter = this.waiting.get(message.id);
        if (message.error !== undefined) {
          if (waiter) waiter.reject(new Error(`hashing failed: ${message.error}`));
          else this.failed.set(message.id, message.error);
        } else waiter?.resolve(message);
        this.waiting.delete(message.id);
      });
      this.worker.on('error', (error) => {
        for (const waiter of this.waiting.values()) waiter.reject(error);
        this.waiting.clear();
      });
    }
    return this.worker;
  }

  private ask<T>(message: Record<string, unknown>, id = this.nextId++): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.thread.ref();
      this.thread.postMessage({ ...message, id });
    }).finally(() => {
      if (this.waiting.size === 0) this.worker?.unref();
    });
  }

  /** MD5 and CRC32 of each part of a file, in one read, off the main thread; one of the files hashed at once. */
  async partHashes(path: string, size: number, partSize: number): Promise<Array<{ md5: Buffer; crc32: number }>> {
    const { md5s, crc32s } = await fileHashing.run(() => this.ask<{ md5s: string[]; crc32s: number[] }>({ op: 'parts', path, size, partSize }));
    return md5s.map((hex, index) => ({ md5: Buffer.from(hex, 'hex'), crc32: crc32s[index]! }));
  }

  /**
   * MD5 and CRC32 of bytes in shared memory (a part buffer), on the hashing thread, so that hashing a
   * whole part never stalls the sockets of the others. Ordinary memory is hashed here.
   */
  async bytesHashes(bytes: Buffer): Promise<{ md5: Buffer; crc32: number }> {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) return { md5: md5Of(bytes), crc32: crc32Of(bytes) };
    const { md5, crc32 } = await this.ask<{ md5: string; crc32: number }>({ op: 'memory', memory: bytes.buffer, offset: bytes.byteOffset, length: bytes.length });
    return { md5: Buffer.from(md5, 'hex'), crc32 };
  }

  /** Follows a file written by parallel ranges and hashes it in order as the ranges land. */
  track(path: string, perRange: boolean): TrackedFile {
    const id = this.nextId++;
    this.thread.postMessage({ id, op: 'track', path, perRange });
    return {
      written: (start, end) => this.thread.postMessage({ id, op: 'written', start, end }),
      drop: () => this.thread.postMessage({ id, op: 'drop' }),
      finish: async (size) => {
        const earlier = this.failed.get(id);
        if (earlier !== undefined) throw new Error(`hashing failed: ${earlier}`);
        const result = await this.ask<{ md5: string; ranges: Array<{ start: number; end: number; md5: string }> }>({ op: 'finish', size }, id);
        return { md5: result.md5, rangeMd5s: result.ranges.map((range) => Buffer.from(range.md5, 'hex')) };
      },
    };
  }
}

export interface TrackedFile {
  written(start: number, end: number): void;
  /** The download gave up: stop following the file. */
  drop(): void;
  /** The whole-content MD5 (hex) and, if asked for, one MD5 per range in file order. */
  finish(size: number): Promise<{ md5: string; rangeMd5s: Buffer[] }>;
}

export const backgroundHasher = new BackgroundHasher();
