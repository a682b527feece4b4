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
 * Runs `worker` over a stream of items with at most `window` of them started and unfinished. The
 * window keeps a few files ahead of the request limiter (so small files keep the pipe full) without
 * opening every file of a large tree at once. Stops starting new items once `signal` aborts; the
 * first worker that fails stops the run with its error. (A counter and one waiter: racing the set of
 * running items on every new one cost a reaction per running item each time.)
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
  while (running > 0 && !failure) await slotFreed();
  if (failure) throw failure.error;
}
