/**
 * How a download's bytes reach its temporary file: batched positional writes, a write that loops
 * until every byte is down, and flushes started while a large file is still arriving.
 */
import type { FileHandle } from 'node:fs/promises';

/**
 * Starts flushing a large download to disk while it is still arriving, a few hundred MiB at a time,
 * so that the flush before the rename finds little left to write instead of the whole file.
 */
export class EarlyFlusher {
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly file: FileHandle) {}

  written(bytes: number): void {
    this.unflushed += bytes;
    if (this.flushing || this.unflushed < EARLY_FLUSH_BYTES) return;
    this.unflushed = 0;
    this.flushing = this.file.datasync().then(
      () => {
        this.flushing = undefined;
      },
      (error: unknown) => {
        this.failure = error;
        this.flushing = undefined;
      },
    );
  }

  /** Once no flush is running; a flush that failed fails the download. */
  async settled(): Promise<void> {
    await this.flushing;
    if (this.failure) throw this.failure;
  }
}

const EARLY_FLUSH_BYTES = 256 * 1024 * 1024;

/**
 * Gathers a range's socket chunks (tens of KiB each) into writes of about a MiB, written with writev
 * at their offset: far fewer system calls, and no copying.
 */
export class BatchedWriter {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private position = 0;

  constructor(private readonly file: FileHandle) {}

  async write(offset: number, chunk: Buffer): Promise<void> {
    if (this.bytes === 0) this.position = offset;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= 1 << 20) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const [chunks, bytes, position] = [this.chunks, this.bytes, this.position];
    this.chunks = [];
    this.bytes = 0;
    const { bytesWritten } = await this.file.writev(chunks, position);
    if (bytesWritten < bytes) await writeFully(this.file, Buffer.concat(chunks).subarray(bytesWritten), position + bytesWritten);
  }
}

export async function writeFully(file: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const { bytesWritten } = await file.write(chunk, written, chunk.length - written, position + written);
    written += bytesWritten;
  }
}
