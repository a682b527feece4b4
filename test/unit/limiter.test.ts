import { describe, expect, it } from 'vitest';
import { RequestLimiter, controlLaneSize, forEachWindowed } from '../../src/core/s3/limiter.js';
import { controlRequest, dataRequest, type TransferContext } from '../../src/core/s3/context.js';

describe('RequestLimiter', () => {
  it('never runs more tasks at once than its concurrency', async () => {
    const limiter = new RequestLimiter(3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        limiter.data(async () => {
          running += 1;
          peak = Math.max(peak, running);
          await new Promise((resolve) => setTimeout(resolve, 2));
          running -= 1;
        }),
      ),
    );
    expect(peak).toBe(3);
  });

  it('halves its concurrency on throttling and climbs back after successes', async () => {
    const limiter = new RequestLimiter(8);
    limiter.throttle();
    expect(limiter.concurrency).toBe(4);
    limiter.throttle();
    limiter.throttle();
    limiter.throttle();
    expect(limiter.concurrency).toBe(1);
    for (let i = 0; i < 200; i += 1) await limiter.data(async () => undefined);
    expect(limiter.concurrency).toBe(8);
  });

  it('once the run has failed for good (end), data requests still waiting fail with its reason; control requests still run', async () => {
    const limiter = new RequestLimiter(1);
    let release!: () => void;
    let started!: () => void;
    const inFlightStarted = new Promise<void>((resolve) => (started = resolve));
    const inFlight = limiter.data(() => {
      started();
      return new Promise<string>((resolve) => (release = () => resolve('in flight')));
    });
    const waiting = limiter.data(async () => 'sent after the end');
    waiting.catch(() => undefined);
    await inFlightStarted;
    limiter.end(new Error('the server rejected the credentials'));
    release();
    await expect(inFlight).resolves.toBe('in flight');
    await expect(waiting).rejects.toThrow('the server rejected the credentials');
    await expect(limiter.control(async () => 'a proof or a cleanup')).resolves.toBe('a proof or a cleanup');
  });

  it('starts no data request once stopping, with the stop reason', async () => {
    const stop = new AbortController();
    const limiter = new RequestLimiter(1, stop.signal);
    stop.abort(new Error('interrupted by SIGINT'));
    await expect(limiter.data(async () => 'ran')).rejects.toThrow('interrupted by SIGINT');
  });
});

/** A task that runs until released, counting how many of its kind run at once. */
function gauge() {
  let running = 0;
  let peak = 0;
  const gates: Array<() => void> = [];
  return {
    get peak() {
      return peak;
    },
    get running() {
      return running;
    },
    task: <T>(value: T) => async (): Promise<T> => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running -= 1;
      return value;
    },
    /** Lets every task started so far finish. */
    releaseAll: () => gates.splice(0).forEach((release) => release()),
    /** Lets one task finish, in the order they started. */
    releaseOne: () => gates.shift()?.(),
  };
}

/** Every callback already queued has run (p-limit starts tasks a few microtasks after they are asked for). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the two lanes', () => {
  it('a control request made while every data slot is held runs and completes: no deadlock', async () => {
    const limiter = new RequestLimiter(2);
    const order: string[] = [];
    // Each data task holds its slot until the control request it makes has completed: a PUT whose
    // answer is settled by a HEAD, a part whose upload needs its Complete, a download's HEAD.
    const holders = Array.from({ length: 2 }, (_, i) =>
      limiter.data(async () => {
        const answer = await limiter.control(async () => {
          order.push(`control ${i}`);
          return i;
        });
        order.push(`data ${i}`);
        return answer;
      }),
    );
    const queued = limiter.data(async () => 'queued behind them');
    await expect(Promise.all([...holders, queued])).resolves.toEqual([0, 1, 'queued behind them']);
    expect(order).toEqual(['control 0', 'control 1', 'data 0', 'data 1']);
  }, 5_000);

  it('the same through controlRequest inside dataRequest, at a concurrency of one', async () => {
    const ctx = { limiter: new RequestLimiter(1), retryPolicy: { retries: 0, baseDelayMs: 1, maxDelayMs: 1 }, events: { emit: () => true } } as unknown as TransferContext;
    const result = await dataRequest(ctx, 'PUT k', () => controlRequest(ctx, 'HEAD k', async () => 'settled by a HEAD'));
    expect(result).toBe('settled by a HEAD');
  }, 5_000);

  it('bounds control requests apart from data requests, at a quarter of the concurrency (at least one)', async () => {
    expect([1, 2, 4, 5, 8, 32, 64].map(controlLaneSize)).toEqual([1, 1, 1, 2, 2, 8, 16]);
    const limiter = new RequestLimiter(8);
    expect(limiter.controlConcurrency).toBe(2);
    const control = gauge();
    const data = gauge();
    const controls = Array.from({ length: 10 }, (_, i) => limiter.control(control.task(i)));
    const datas = Array.from({ length: 20 }, (_, i) => limiter.data(data.task(i)));
    await settle();
    expect(control.running).toBe(2);
    expect(data.running).toBe(8);
    while (control.running > 0 || data.running > 0) {
      control.releaseAll();
      data.releaseAll();
      await settle();
    }
    await Promise.all([...controls, ...datas]);
    expect(control.peak).toBe(2);
    expect(data.peak).toBe(8);
  });

  it('a throttle halves both lanes; successes bring both back to their ceilings', async () => {
    const limiter = new RequestLimiter(16);
    expect([limiter.concurrency, limiter.controlConcurrency]).toEqual([16, 4]);
    limiter.throttle();
    expect([limiter.concurrency, limiter.controlConcurrency]).toEqual([8, 2]);
    limiter.throttle();
    limiter.throttle();
    expect([limiter.concurrency, limiter.controlConcurrency]).toEqual([2, 1]);
    // Halved to fewer slots, the lanes hold to them: 4 control requests now run one at a time.
    const control = gauge();
    const controls = Array.from({ length: 4 }, (_, i) => limiter.control(control.task(i)));
    await settle();
    expect(control.running).toBe(1);
    for (let i = 0; i < 4; i += 1) {
      control.releaseOne();
      await settle();
    }
    await Promise.all(controls);
    expect(control.peak).toBe(1);
    // The server's answers say it is well again, whichever lane they came in.
    for (let i = 0; i < 500; i += 1) await limiter.data(async () => undefined);
    expect([limiter.concurrency, limiter.controlConcurrency]).toEqual([16, 4]);
    limiter.throttle();
    for (let i = 0; i < 40; i += 1) await limiter.control(async () => undefined);
    expect([limiter.concurrency, limiter.controlConcurrency]).toEqual([9, 4]);
  });

  it('a control request still runs once the run is stopping: it finishes what is in flight', async () => {
    const stop = new AbortController();
    const limiter = new RequestLimiter(2, stop.signal);
    stop.abort(new Error('interrupted by SIGINT'));
    await expect(limiter.control(async () => 'completed')).resolves.toBe('completed');
    await expect(limiter.data(async () => 'ran')).rejects.toThrow('interrupted by SIGINT');
  });
});

describe('the part window', () => {
  it('keeps at most its size of one file\'s parts in flight, by default the concurrency up to PART_BUFFERS_IN_FLIGHT', async () => {
    const { PART_BUFFERS_IN_FLIGHT } = await import('../../src/core/config/config.js');
    expect(new RequestLimiter(3).partWindow().size).toBe(3);
    expect(new RequestLimiter(64).partWindow().size).toBe(PART_BUFFERS_IN_FLIGHT);
    const limiter = new RequestLimiter(16);
    const window = limiter.partWindow(3);
    const parts = gauge();
    // Each part also takes a data slot, inside the window.
    const sent = Array.from({ length: 10 }, (_, i) => window.run(() => limiter.data(parts.task(i))));
    await settle();
    expect(parts.running).toBe(3);
    while (parts.running > 0) {
      parts.releaseAll();
      await settle();
    }
    await expect(Promise.all(sent)).resolves.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(parts.peak).toBe(3);
  });

  it('room() holds a reader back until fewer than its size are started or waiting', async () => {
    const window = new RequestLimiter(16).partWindow(2);
    const parts = gauge();
    const sent = [window.run(parts.task(1))];
    await window.room(); // one of two: room at once
    sent.push(window.run(parts.task(2)));
    let roomy = false;
    const room = window.room().then(() => (roomy = true));
    await settle();
    expect(roomy).toBe(false);
    parts.releaseOne();
    await room;
    expect(roomy).toBe(true);
    parts.releaseAll();
    await Promise.all(sent);
  });

  it('a failed part frees its place in the window', async () => {
    const window = new RequestLimiter(16).partWindow(1);
    await expect(window.run(async () => Promise.reject(new Error('part 1 failed')))).rejects.toThrow('part 1 failed');
    await window.room();
    await expect(window.run(async () => 'part 2')).resolves.toBe('part 2');
  });
});

describe('forEachWindowed', () => {
  it('keeps at most `window` items in progress and stops starting items when aborted', async () => {
    const stop = new AbortController();
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    await forEachWindowed(
      Array.from({ length: 10 }, (_, i) => i),
      2,
      async (item) => {
        started.push(item);
        running += 1;
        peak = Math.max(peak, running);
        if (item === 3) stop.abort();
        await new Promise((resolve) => setTimeout(resolve, 1));
        running -= 1;
      },
      stop.signal,
    );
    expect(peak).toBe(2);
    expect(started.length).toBeLessThan(10);
  });
});

describe('forEachWindowed on failure', () => {
  it('stops starting items once a worker fails, and fails with that error', async () => {
    const started: number[] = [];
    const run = forEachWindowed(
      Array.from({ length: 50 }, (_, i) => i),
      4,
      async (item) => {
        started.push(item);
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (item === 5) throw new Error('item 5 failed');
      },
    );
    await expect(run).rejects.toThrow('item 5 failed');
    expect(started.length).toBeLessThan(50);
  });

  it('a worker that fails (the server gone): the items in progress settle before the run fails with its error', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const started: number[] = [];
    let finished = false;
    let settled = false;
    const run = forEachWindowed(Array.from({ length: 10 }, (_, i) => i), 2, async (item) => {
      started.push(item);
      if (item === 1) throw new Error('cannot connect');
      await released;
      finished = true;
    }).finally(() => (settled = true));
    run.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    // Item 0 still holds its place: the caller must not report (and close the connections) under it.
    expect(settled).toBe(false);
    release();
    await expect(run).rejects.toThrow('cannot connect');
    expect(finished).toBe(true);
    expect(started).toEqual([0, 1]);
  });

  it('when the items themselves fail (a listing that could not be read), fails only after the items in progress settle', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let workerStarted!: () => void;
    const started = new Promise<void>((resolve) => (workerStarted = resolve));
    let finished = false;
    async function* listing() {
      yield 1;
      throw new Error('damaged answer');
    }
    let settled = false;
    const run = forEachWindowed(listing(), 4, async () => {
      workerStarted();
      await released;
      finished = true;
    }).finally(() => (settled = true));
    run.catch(() => undefined);
    await started;
    // Every pending callback has run: the listing has thrown, the worker still holds its item.
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    release();
    await expect(run).rejects.toThrow('damaged answer');
    expect(finished).toBe(true);
  });

  it('waits for every item before it returns', async () => {
    const finished: number[] = [];
    await forEachWindowed(Array.from({ length: 9 }, (_, i) => i), 3, async (item) => {
      await new Promise((resolve) => setTimeout(resolve, 9 - item));
      finished.push(item);
    });
    expect(finished.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('hashing', () => {
  it('never hashes more files at once than its bound, however many are asked for together', async () => {
    const { createHash } = await import('node:crypto');
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { md5OfFile } = await import('../../src/core/integrity/checksums.js');
    const { HASHES_AT_ONCE, fileHashing } = await import('../../src/core/s3/limiter.js');
    const directory = mkdtempSync(join(tmpdir(), 'datalake-hash-bound-'));
    try {
      const contents = Array.from({ length: HASHES_AT_ONCE * 4 }, (_, i) => Buffer.alloc(5 * 1024 * 1024, i));
      const paths = contents.map((content, i) => {
        const path = join(directory, `f${i}`);
        writeFileSync(path, content);
        return path;
      });
      const hashes = await Promise.all(paths.map((path) => md5OfFile(path)));
      expect(hashes.map((hash) => hash.toString('hex'))).toEqual(contents.map((content) => createHash('md5').update(content).digest('hex')));
      // Each file being hashed holds up to two 4 MiB read buffers: the bound keeps a sync's memory flat.
      expect(fileHashing.peak).toBe(HASHES_AT_ONCE);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
