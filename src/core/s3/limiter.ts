import pLimit, { type LimitFunction } from 'p-limit';

/**
 * The one place that bounds concurrency: every request (a whole small file, one part, one ranged GET)
 * runs inside `run`. On throttling the limit halves; after a run of successes it climbs back.
 */
export class RequestLimiter {
  private readonly limit: LimitFunction;
  private readonly ceiling: number;
  private successesSinceThrottle = 0;

  /** `stopping`: once aborted, queued tasks fail with its reason instead of starting. */
  constructor(
    concurrency: number,
    private readonly stopping?: AbortSignal,
  ) {
    this.ceiling = concurrency;
    this.limit = pLimit(concurrency);
  }

  get concurrency(): number {
    return this.limit.concurrency;
  }

  get pending(): number {
    return this.limit.pendingCount + this.limit.activeCount;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return this.limit(async () => {
      if (this.stopping?.aborted) throw this.stopping.reason;
      const result = await task();
      this.recordSuccess();
      return result;
    });
  }

  /** SlowDown or 503 from the server: halve the requests in flight. */
  throttle(): void {
    this.successesSinceThrottle = 0;
    this.limit.concurrency = Math.max(1, Math.floor(this.limit.concurrency / 2));
  }

  private recordSuccess(): void {
    if (this.limit.concurrency >= this.ceiling) return;
    this.successesSinceThrottle += 1;
    if (this.successesSinceThrottle >= this.limit.concurrency * 4) {
      this.successesSinceThrottle = 0;
      this.limit.concurrency += 1;
    }
  }
}

/**
 * Local work bounded apart from requests: it holds CPU and memory, not a connection, so the request
 * concurrency (tens of requests, for small files) is no measure of it.
 */
export class WorkSlots {
  private readonly limit: LimitFunction;
  private mostAtOnce = 0;

  constructor(readonly size: number) {
    this.limit = pLimit(size);
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return this.limit(() => {
      this.mostAtOnce = Math.max(this.mostAtOnce, this.limit.activeCount);
      return task();
    });
  }

  /** The most tasks that ever ran at once: the bound, observed. */
  get peak(): number {
    return this.mostAtOnce;
  }
}

/**
 * Files hashed at once, in the whole process: every MD5 of a file or range, on the main thread or the
 * hashing thread. Each holds up to two 4 MiB read buffers, so a sync comparing or uploading many large
 * files at once holds at most 4 × 8 MiB for hashing; more at once would not hash any faster.
 */
export const HASHES_AT_ONCE = 4;
export const fileHashing = new WorkSlots(HASHES_AT_ONCE);

/**
 * Runs `worker` over a stream of items with at most `window` of them started and unfinished. The
 * window keeps a few files ahead of the request limiter (so small files keep the pipe full) without
 * opening every file of a large tree at once. Stops starting new items once `signal` aborts; the
 * first worker that fails stops the run with its error; items that fail to arrive (a listing that
 * could not be read) stop it once the items in progress are done. (A counter and one waiter: racing
 * the set of running items on every new one cost a reaction per running item each time.)
 */
export async function forEachWindowed<T>(
  items: AsyncIterable<T> | Iterable<T>,
  window: number,
  worker: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let running = 0;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const settled = () => {
    running -= 1;
    const waiting = wake;
    wake = undefined;
    waiting?.();
  };
  const slotFreed = () => new Promise<void>((resolve) => (wake = resolve));
  try {
    for await (const item of items) {
      if (signal?.aborted) break;
      running += 1;
      worker(item).then(settled, (error: unknown) => {
        failure ??= { error };
        settled();
      });
      while (running >= window && !failure) await slotFreed();
      if (failure) throw failure.error;
    }
  } catch (error) {
    // The items themselves failed (a listing that could not be read): the items in progress finish
    // first, so nothing is still writing when the caller reports the error and exits.
    if (failure === undefined) while (running > 0) await slotFreed();
    throw error;
  }
  while (running > 0 && !failure) await slotFreed();
  if (failure) throw failure.error;
}
