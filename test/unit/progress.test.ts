import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TransferEvents } from '../../src/core/events.js';
import { PROGRESS_DELAY_MS, ProgressDisplay } from '../../src/cli/progress.js';

const ref = { bucket: 'lake', key: 'raw/x.csv' };
const result = { bucket: 'lake', key: 'raw/x.csv', size: 10, etag: undefined, md5: '', path: 'x.csv' };

describe('the progress bar waits before it shows', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a run that ends within the delay never shows a bar', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('transfer:start', { id: 1, direction: 'upload', ref, path: 'x.csv', size: 10 });
    vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
    expect(display.visible).toBe(false);
    events.emit('transfer:progress', { id: 1, bytes: 10 });
    events.emit('transfer:done', { id: 1, ref, path: 'x.csv', size: 10, result });
    vi.advanceTimersByTime(10 * PROGRESS_DELAY_MS);
    expect(display.visible).toBe(false);
    expect(display.stop()).toBe(false);
  });

  it('a run still going after the delay shows one, until stopped', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('transfer:start', { id: 1, direction: 'upload', ref, path: 'x.csv', size: 10 });
    vi.advanceTimersByTime(PROGRESS_DELAY_MS);
    expect(display.visible).toBe(true);
    expect(display.stop()).toBe(true);
    expect(display.visible).toBe(false);
  });

  it('a run stopped before the delay (an interrupt) never shows one afterwards', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('transfer:start', { id: 1, direction: 'upload', ref, path: 'x.csv', size: 10 });
    display.stop();
    vi.advanceTimersByTime(PROGRESS_DELAY_MS * 2);
    expect(display.visible).toBe(false);
  });
});
