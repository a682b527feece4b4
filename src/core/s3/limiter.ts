import pLimit, { type LimitFunction } from 'p-limit';
import { PART_BUFFERS_IN_FLIGHT } from '../config/config.js';

/**
 * The one home of concurrency: every request datalake sends waits for its slot here (through
 * context.ts's `dataRequest` and `controlRequest`), and so does every other bounded piece of work —
 * the parts of one file in flight (`PartWindow`), files hashed at once (`fileHashing`), items of a
 * run started ahead (`forEachWindowed`). p-limit is imported nowhere else.
 *
 * Requests go in one of two lanes, throttled together (SlowDown or 503 halves both; a run of
 * successes in either brings both back up, one slot at a time):
 * - the data lane, `--concurrency` requests: the bytes (PUT, parts, GETs, copies, DeleteObjects
 *   batches) and the one question a bulk command asks of each item (a sync's compare HEAD, a
 *   delete confirmed by HEAD);
 * - the control lane, a quarter of that (at least one): what a transfer or the run asks around the
 *   bytes — listing pages, a download's HEAD, Create/Complete/Abort of a multipart upload, ListParts,
 *   the proofs after a write (HEAD, DELETE), bucket setup, tags.
 * A control request may be made while its caller holds a data slot (a PUT whose answer is settled by
 * a HEAD), and a control request never waits for a data slot: so the data lane can be full of tasks
 * each waiting on a control request and every one of those still runs. The rule that keeps this
 * deadlock-free: nothing in the control lane takes a data slot, and nothing holding a data slot asks
 * for another. A control request is not refused once the run is stopping (the first interrupt): it
 * finishes or cleans up what is already in flight (Complete, Abort, a proof); data requests not yet
 * started are.
 */

/** Control requests at once for a data concurrency: a quarter, at least one. */
export function controlLaneSize(concurrency: number): number {
  return Math.max(1, Math.ceil(concurrency / 4));
}

/** One lane: its limit halves on throttling and climbs back by one after a run of successes. */
class Lane {
  readonly limit: LimitFunction;
  private successesSinceThrottle = 0;

  constructor(private readonly ceiling: number) {
    this.limit = pLimit(ceiling);
  }

  halve(): void {
    this.successesSinceThrottle = 0;
    this.limit.concurrency = Math.max(1, Math.floor(this.limit.concurrency / 2));
  }

  succeeded(): void {
    if (this.limit.concurrency >= this.ceiling) return;
    this.successesSinceThrottle += 1;
    if (this.successesSinceThrottle >= this.limit.concurrency * 4) {
      this.successesSinceThrottle = 0;
      this.limit.concurrency += 1;
    }
  }
}

export class RequestLimiter {
  private readonly dataLane: Lane;
  private readonly controlLane: Lane;
  /** The reason the run failed for good (`end`), once it has. */
  private ended: { reason: unknown } | undefined;

  /** `stopping`: once aborted, data requests still queued fail with its reason instead of starting. */
  constructor(
    concurrency: number,
    private readonly stopping?: AbortSignal,
    controlConcurrency = controlLaneSize(concurrency),
  ) {
    this.dataLane = new Lane(concurrency);
    this.controlLane = new Lane(controlConcurrency);
  }

  /** Data requests at once, now (halved by throttling). */
  get concurrency(): number {
    return this.dataLane.limit.concurrency;
  }

  /** Control requests at once, now. */
  get controlConcurrency(): number {
    return this.controlLane.limit.concurrency;
  }

  /**
   * The run has failed for a reason every request would meet (item-failure.ts): data requests still
   * waiting for a slot fail with it instead of starting, as after an interrupt; control requests (a
   * proof, a cleanup) still run.
   */
  end(reason: unknown): void {
    this.ended ??= { reason };
  }

  /** Runs a data request (with its retries) in a data slot. Never call it while holding one. */
  data<T>(task: () => Promise<T>): Promise<T> {
    return this.dataLane.limit(async () => {
      if (this.stopping?.aborted) throw this.stopping.reason;
      if (this.ended) throw this.ended.reason;
      const result = await task();
      this.succeeded();
      return result;
    });
  }

  /** Runs a control request (with its retries) in a control slot; it may be called from a data slot. */
  control<T>(task: () => Promise<T>): Promise<T> {
    return this.controlLane.limit(async () => {
      const result = await task();
      this.succeeded();
      return result;
    });
  }

  /** SlowDown or 503 from the server: halve the requests in flight, in both lanes. */
  throttle(): void {
    this.dataLane.halve();
    this.controlLane.halve();
  }

  /** The server took a request: each lane climbs back toward its ceiling. */
  private succeeded(): void {
    this.dataLane.succeeded();
    this.controlLane.succeeded();
  }

  /**
   * A window for the parts of one file (or object) in flight: at most `size` started and unfinished,
   * so memory holds that many part buffers and the small files of a sync interleave with a large
   * file's parts instead of queuing behind all of them. By default the data concurrency, at most
   * PART_BUFFERS_IN_FLIGHT. Each part still takes a data slot for its request, inside the window.
   */
  partWindow(size = Math.min(this.concurrency, PART_BUFFERS_IN_FLIGHT)): PartWindow {
    return new PartWindow(size);
  }
}

/** The parts of one transfer in flight, at most `size` at once (RequestLimiter.partWindow). */
export class PartWindow {
  private readonly limit: LimitFunction;
  private readonly waiting: Array<() => void> = [];
  private readonly settled = () => {
    for (const wake of this.waiting.splice(0)) wake();
  };

  constructor(readonly size: number) {
    this.limit = pLimit(size);
  }

  /** Runs one part once fewer than `size` are in flight. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.limit(task);
    result.then(this.settled, this.settled);
    return result;
  }

  /** Resolves once fewer than `size` parts are started or waiting: a reader holds the next part back until then. */
  async room(): Promise<void> {
    while (this.limit.activeCount + this.limit.pendingCount >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
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
 * opening every file of a large tree at once. Stops starting new items once `signal` aborts, once a
 * worker fails, or once the items fail to arrive (a listing that could not be read); then the items
 * in progress settle, and the first failure is thrown: nothing is still writing, or still asking the
 * server, when the caller reports the error and closes the connections. (A counter and one waiter:
 * racing the set of running items on every new one cost a reaction per running item each time.)
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
      if (failure) break;
    }
  } catch (error) {
    failure ??= { error };
  }
  while (running > 0) await slotFreed();
  if (failure) throw failure.error;
}
