/**
 * Part buffers: the bytes of uploads in flight. Reused, so memory stays flat instead of leaving
 * hundreds of megabytes of freed buffers for the garbage collector to find late; and bounded, so the
 * bytes in flight never exceed the budget however high the request concurrency (small files need
 * many requests at once, large files need few parts at once). Waiters are served in order.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private inUse = 0;
  private readonly waiting: Array<{ size: number; resolve: () => void }> = [];

  constructor(private readonly budgetBytes: number) {}

  /** A buffer of `size` bytes, once the budget allows (one larger than the whole budget goes alone). */
  async acquire(size: number): Promise<Buffer> {
    if (this.waiting.length > 0 || !this.fits(size)) {
      await new Promise<void>((resolve) => this.waiting.push({ size, resolve })); // release() reserves it
    } else {
      this.inUse += size;
    }
    // Shared memory: the hashing thread reads a part's bytes where they are, without a copy.
    return this.free.get(size)?.pop() ?? Buffer.from(new SharedArrayBuffer(size));
  }

  release(buffer: Buffer): void {
    this.inUse -= buffer.length;
    const list = this.free.get(buffer.length) ?? [];
    list.push(buffer);
    this.free.set(buffer.length, list);
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.size)) {
      const next = this.waiting.shift()!;
      this.inUse += next.size;
      next.resolve();
    }
  }

  private fits(size: number): boolean {
    return this.inUse === 0 || this.inUse + size <= this.budgetBytes;
  }
}
