/**
 * The time limits of the requests in flight (transport.ts), watched by one coarse timer per run
 * rather than one or two timers per request: a run of small files sends thousands of requests, and
 * arming, refreshing and clearing a timer for each would cost CPU on every one. The timer ticks every
 * tenth of the shortest limit (at most once a second, at least every 10 ms) while requests are in
 * flight, and stops at the first tick that finds none: a limit is enforced at most a tick late.
 */
export class Deadlines {
  private readonly active = new Set<Deadline>();
  private timer: NodeJS.Timeout | undefined;
  /**
   * The requests in flight under each caller's signal: one listener per signal aborts them all,
   * rather than a listener added and removed for every request (EventTarget's are costly).
   */
  private readonly followers = new WeakMap<AbortSignal, Set<Deadline>>();

  constructor(private readonly tickMs: number) {}

  /** The tick for these limits: a tenth of the shortest, between 10 ms and 1 s. */
  static tickFor(...limitsMs: number[]): number {
    return Math.max(10, Math.min(1000, Math.floor(Math.min(...limitsMs) / 10)));
  }

  watch(deadline: Deadline): void {
    this.active.add(deadline);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  unwatch(deadline: Deadline): void {
    this.active.delete(deadline);
  }

  /** `deadline` is aborted with `parent`'s reason when it aborts (it has not yet). */
  follow(parent: AbortSignal, deadline: Deadline): void {
    let following = this.followers.get(parent);
    if (following === undefined) {
      const all = new Set<Deadline>();
      following = all;
      this.followers.set(parent, all);
      parent.addEventListener(
        'abort',
        () => {
          for (const each of all) each.abort(parent.reason);
          all.clear();
        },
        { once: true },
      );
    }
    following.add(deadline);
  }

  unfollow(parent: AbortSignal, deadline: Deadline): void {
    this.followers.get(parent)?.delete(deadline);
  }

  private tick(): void {
    if (this.active.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const now = Date.now();
    for (const deadline of this.active) deadline.check(now);
  }
}

/**
 * One request's time limits: its `--timeout` (the whole request, its answer's body included) and,
 * until the answer's headers arrive, the no-answer limit, which counts idle time (`touch` restarts
 * it). Tied to the caller's signal. Past a limit, or on the caller's abort, `abort` is handed the
 * reason: a RequestTimeout or a RequestStalled naming the endpoint, or the caller's own reason.
 * Cleared when the answer is read.
 */
export class Deadline {
  expired = false;
  aborted = false;
  reason: unknown;
  /** What stops the request; set by the sender. A reason given before it is set is handed over when it is. */
  private sink: ((reason: unknown) => void) | undefined;
  private readonly endsAt: number;
  private idleMs = 0;
  private idleEndsAt = Infinity;
  private answeredBefore = false;
  private readonly parent: AbortSignal | undefined;

  constructor(
    private readonly deadlines: Deadlines,
    readonly limitMs: number,
    private readonly origin: string,
    parent: AbortSignal | undefined,
  ) {
    this.endsAt = Date.now() + limitMs;
    deadlines.watch(this);
    if (parent) {
      if (parent.aborted) {
        this.abort(parent.reason);
      } else {
        this.parent = parent;
        deadlines.follow(parent, this);
      }
    }
  }

  /** Where the abort goes: undici's abort for this request, or an AbortController's. */
  abortWith(sink: (reason: unknown) => void): void {
    this.sink = sink;
    if (this.aborted) sink(this.reason);
  }

  /** An AbortSignal that follows this deadline (for undici's `request()`). */
  signal(): AbortSignal {
    const controller = new AbortController();
    this.abortWith((reason) => controller.abort(reason));
    return controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.sink?.(reason);
  }

  /**
   * Fails the request with a RequestStalled naming the endpoint once nothing has moved for `idleMs`:
   * restarted by `touch` (a piece of the body sent), stopped when the answer's headers arrive (undici's
   * bodyTimeout watches its body).
   */
  watchIdle(idleMs: number, answeredBefore: boolean): void {
    this.idleMs = idleMs;
    this.answeredBefore = answeredBefore;
    this.idleEndsAt = Date.now() + idleMs;
  }

  touch(): void {
    if (this.idleEndsAt !== Infinity) this.idleEndsAt = Date.now() + this.idleMs;
  }

  stopWatchingIdle(): void {
    this.idleEndsAt = Infinity;
  }

  check(now: number): void {
    if (now >= this.endsAt) {
      this.expired = true;
      this.clear();
      this.abort(Object.assign(new Error(`no complete answer from ${this.origin} within the --timeout of ${this.limitMs / 1000} s`), { code: 'RequestTimeout' }));
    } else if (now >= this.idleEndsAt) {
      const what = this.answeredBefore ? `${this.origin} sent and received nothing for ${this.idleMs / 1000} s` : `no answer from ${this.origin} within ${this.idleMs / 1000} s`;
      this.clear();
      this.abort(Object.assign(new Error(what), { code: 'RequestStalled' }));
    }
  }

  clear(): void {
    this.deadlines.unwatch(this);
    this.idleEndsAt = Infinity;
    if (this.parent) this.deadlines.unfollow(this.parent, this);
  }
}

export const CONNECT_TIMEOUT_MS = 10_000;
/** An endpoint that accepted no connection or gave no answer within this is reported at once. */
export const FIRST_ANSWER_TIMEOUT_MS = 20_000;
/** A request that sends or receives nothing for this long is stalled: retried. */
export const STALL_TIMEOUT_MS = 60_000;
