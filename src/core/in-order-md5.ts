import type { FileHandle } from 'node:fs/promises';
import { newMd5 } from './checksums.js';

const READ_BACK_CHUNK = 1 << 20;

/**
 * The MD5 of a file being written by parallel ranged downloads, without holding ranges in memory.
 * Bytes that arrive exactly at the hashing cursor are hashed as they stream; a range that finishes
 * ahead of the cursor is read back from the file (the page cache) once the cursor reaches it.
 */
export class InOrderMd5 {
  private readonly hash = newMd5();
  private cursor = 0;
  private readonly written: Array<{ start: number; end: number }> = [];
  private readingBack = false;
  private pending: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(private readonly file: FileHandle) {}

  /** Bytes just received for `offset`: hashed now when they are the next in order. */
  observe(offset: number, chunk: Uint8Array): void {
    if (!this.readingBack && offset === this.cursor) {
      this.hash.update(chunk);
      this.cursor += chunk.length;
    }
  }

  /** [start, end) is now fully written to the file. */
  rangeWritten(start: number, end: number): void {
    this.written.push({ start, end });
    this.pending = this.pending.then(() => this.advance()).catch((error: unknown) => {
      this.failure ??= error;
    });
  }

  /** Waits until no read-back is running (before the file is closed), whatever happened. */
  async settle(): Promise<void> {
    await this.pending;
  }

  /** The digest, once [0, size) has been hashed in order. */
  async digest(size: number): Promise<Buffer> {
    await this.pending;
    if (this.failure !== undefined) throw this.failure;
    if (this.cursor !== size) throw new Error(`internal: hashed ${this.cursor} of ${size} bytes`);
    return this.hash.digest();
  }

  private async advance(): Promise<void> {
    this.readingBack = true;
    try {
      for (;;) {
        const region = this.written.find((r) => r.start <= this.cursor && r.end > this.cursor);
        if (!region) break;
        const buffer = Buffer.allocUnsafe(Math.min(READ_BACK_CHUNK, region.end - this.cursor));
        while (this.cursor < region.end) {
          const length = Math.min(buffer.length, region.end - this.cursor);
          const { bytesRead } = await this.file.read(buffer, 0, length, this.cursor);
          if (bytesRead === 0) throw new Error(`internal: short read at ${this.cursor}`);
          this.hash.update(buffer.subarray(0, bytesRead));
          this.cursor += bytesRead;
        }
      }
      for (let i = this.written.length - 1; i >= 0; i -= 1) {
        if ((this.written[i] as { end: number }).end <= this.cursor) this.written.splice(i, 1);
      }
    } finally {
      this.readingBack = false;
    }
  }
}
