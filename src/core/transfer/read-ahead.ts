/** How many planned items a multi-file command reads ahead of its transfers (rclone's --max-backlog). */
export const PLAN_BACKLOG = 10_000;

/**
 * The items of a plan (a listing, a walk) read ahead of the work on them, up to `backlog` items held,
 * each told to `onRead` as it is read and `onEnd` once the source is read whole. The first item is
 * handed on only once the backlog is full or the source ended: a plan of up to `backlog` items is
 * known whole (its files and bytes) before its first transfer starts, and a larger one stays
 * `backlog` items ahead. A source that fails is reported after the items read before the failure,
 * where the consumer would have met it without reading ahead. Reading stops when the consumer stops.
 */
export async function* readAhead<T>(
  source: AsyncIterable<T>,
  options: { backlog?: number; onRead?: (item: T) => void; onEnd?: () => void; signal?: AbortSignal | undefined },
): AsyncGenerator<T> {
  const backlog = Math.max(options.backlog ?? PLAN_BACKLOG, 1);
  const queue: T[] = [];
  let head = 0;
  let ended = false;
  let stopped = false;
  let failure: { error: unknown } | undefined;
  let wakeConsumer: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  const wake = (which: 'consumer' | 'reader') => {
    const waiting = which === 'consumer' ? wakeConsumer : wakeReader;
    if (which === 'consumer') wakeConsumer = undefined;
    else wakeReader = undefined;
    waiting?.();
  };
  const held = () => queue.length - head;

  void (async () => {
    try {
      for await (const item of source) {
        queue.push(item);
        options.onRead?.(item);
        wake('consumer');
        while (held() >= backlog && !stopped) await new Promise<void>((resolve) => (wakeReader = resolve));
        if (stopped || options.signal?.aborted) return;
      }
      options.onEnd?.();
    } catch (error) {
      failure = { error };
    } finally {
      ended = true;
      wake('consumer');
    }
  })();

  try {
    while (!ended && held() < backlog) await new Promise<void>((resolve) => (wakeConsumer = resolve));
    for (;;) {
      if (held() > 0) {
        const item = queue[head] as T;
        queue[head] = undefined as T;
        head += 1;
        // The consumed front is dropped now and then, not on every item (shift is a copy of the rest).
        if (head >= 1024 && head * 2 >= queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        wake('reader');
        yield item;
        continue;
      }
      if (ended) {
        if (failure) throw failure.error;
        return;
      }
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
    }
  } finally {
    stopped = true;
    wake('reader');
  }
}
