import { describe, expect, it } from 'vitest';
import { RequestLimiter, forEachWindowed } from '../../src/core/s3/limiter.js';

describe('RequestLimiter', () => {
  it('never runs more tasks at once than its concurrency', async () => {
    const limiter = new RequestLimiter(3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        limiter.run(async () => {
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
    for (let i = 0; i < 200; i += 1) await limiter.run(async () => undefined);
    expect(limiter.concurrency).toBe(8);
  });

  it('starts nothing new once stopping, with the stop reason', async () => {
    const stop = new AbortController();
    const limiter = new RequestLimiter(1, stop.signal);
    stop.abort(new Error('interrupted by SIGINT'));
    await expect(limiter.run(async () => 'ran')).rejects.toThrow('interrupted by SIGINT');
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
