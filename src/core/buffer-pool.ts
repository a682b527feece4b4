/**
 * Part buffers, reused. Each part is read into a buffer inside its limiter slot, so no more than
 * `concurrency` are in use at once; reusing them keeps memory flat instead of leaving hundreds of
 * megabytes of freed buffers for the garbage collector to find late.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private retainedBytes = 0;

  constructor(private readonly maxRetainedBytes: number) {}

  acquire(size: number): Buffer {
    const buffer = this.free.get(size)?.pop();
    if (buffer) {
      this.retainedBytes -= size;
      return buffer;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  release(buffer: Buffer): void {
    if (this.retainedBytes + buffer.length > this.maxRetainedBytes) return;
    const list = this.free.get(buffer.length) ?? [];
    list.push(buffer);
    this.free.set(buffer.length, list);
    this.retainedBytes += buffer.length;
  }
}
