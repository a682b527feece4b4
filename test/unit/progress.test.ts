import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TransferEvents } from '../../src/core/events.js';
import { PROGRESS_DELAY_MS, ProgressDisplay, formatLine } from '../../src/cli/progress.js';

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

describe('the bar says what a transfer is doing', () => {
  const params = { progress: 0, eta: 0, startTime: Date.now(), stopTime: null, total: 100, value: 0, maxWidth: 120 } as unknown as Parameters<typeof formatLine>[1];
  const payload = { checksumming: 0, files: 1, done: 0, moved: '0 B', known: '200 MiB', speed: '0 B' };

  it('names the checksumming pass that precedes a large upload, instead of a silent 0 B/s', () => {
    expect(formatLine({ barsize: 10 }, params, { ...payload, checksumming: 1 })).toMatch(/checksumming the file before sending/);
    expect(formatLine({ barsize: 10 }, params, payload)).not.toMatch(/checksumming/);
  });

  it('counts the files being checksummed, and stops when they are sent', () => {
    vi.useFakeTimers();
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('transfer:start', { id: 1, direction: 'upload', ref, path: 'x.csv', size: 10 });
    events.emit('transfer:phase', { id: 1, phase: 'checksumming' });
    expect(display.checksummingNow).toBe(1);
    events.emit('transfer:phase', { id: 1, phase: 'sending' });
    expect(display.checksummingNow).toBe(0);
    display.stop();
    vi.useRealTimers();
  });
});
