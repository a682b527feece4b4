import { describe, expect, it } from 'vitest';
import { readAhead } from '../../src/core/transfer/read-ahead.js';

async function* numbers(count: number, failAt?: number): AsyncGenerator<number> {
  for (let n = 1; n <= count; n += 1) {
    if (n === failAt) throw new Error(`listing broke at ${n}`);
    await Promise.resolve();
    yield n;
  }
}

describe('a plan read ahead of its transfers', () => {
  it('is read whole before the first item is handed on, when it fits the backlog', async () => {
    const read: number[] = [];
    let ended = false;
    const items = readAhead(numbers(50), { backlog: 100, onRead: (n) => read.push(n), onEnd: () => (ended = true) });
    const first = await items.next();
    expect(first.value).toBe(1);
    expect(read).toHaveLength(50);
    expect(ended).toBe(true);
    const rest: number[] = [];
    for await (const n of items) rest.push(n);
    expect(rest).toEqual(Array.from({ length: 49 }, (_, i) => i + 2));
  });

  it('stays at most the backlog ahead of a larger plan, and hands on every item in order', async () => {
    const read: number[] = [];
    const items = readAhead(numbers(5_000), { backlog: 100, onRead: (n) => read.push(n) });
    const seen: number[] = [];
    for await (const n of items) {
      seen.push(n);
      expect(read.length - seen.length).toBeLessThanOrEqual(100);
    }
    expect(seen).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1));
  });

  it('a source that fails is reported after the items read before it, and the plan is never called whole', async () => {
    let ended = false;
    const seen: number[] = [];
    const run = async () => {
      for await (const n of readAhead(numbers(10, 6), { backlog: 100, onEnd: () => (ended = true) })) seen.push(n);
    };
    await expect(run()).rejects.toThrow('listing broke at 6');
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(ended).toBe(false);
  });

  it('stops reading when the consumer stops', async () => {
    const read: number[] = [];
    for await (const n of readAhead(numbers(10_000), { backlog: 10, onRead: (n) => read.push(n) })) if (n === 3) break;
    await new Promise((resolve) => setImmediate(resolve));
    expect(read.length).toBeLessThanOrEqual(14);
  });
});
