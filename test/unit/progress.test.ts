import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TransferEvents } from '../../src/core/events.js';
import { BAR_WIDTH, PROGRESS_DELAY_MS, ProgressDisplay, formatLine } from '../../src/cli/progress.js';

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

  it('a line that another process may print (stdout piped to cat) takes the bar down until such lines stop for the delay', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('transfer:start', { id: 1, direction: 'upload', ref, path: 'x.csv', size: 10 });
    vi.advanceTimersByTime(PROGRESS_DELAY_MS);
    expect(display.visible).toBe(true);
    display.stepAside();
    expect(display.visible).toBe(false);
    vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
    display.stepAside();
    vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
    expect(display.visible).toBe(false);
    vi.advanceTimersByTime(1);
    expect(display.visible).toBe(true);
    expect(display.stop()).toBe(true);
    display.stepAside();
    vi.advanceTimersByTime(PROGRESS_DELAY_MS * 2);
    expect(display.visible).toBe(false);
  });

  it('such a line before the bar shows puts it off, and before any transfer brings none', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    display.stepAside();
    vi.advanceTimersByTime(PROGRESS_DELAY_MS * 2);
    expect(display.visible).toBe(false);
    events.emit('transfer:start', { id: 1, direction: 'upload', ref, path: 'x.csv', size: 10 });
    vi.advanceTimersByTime(PROGRESS_DELAY_MS / 2);
    display.stepAside();
    vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
    expect(display.visible).toBe(false);
    vi.advanceTimersByTime(1);
    expect(display.visible).toBe(true);
    display.stop();
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
  const payload = { checksumming: 0, files: 1, done: 0, percent: 0, moved: '0 B', known: '200 MiB', speed: '0 B' };

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

describe('a multi-file run counts against its whole plan', () => {
  const start = (events: TransferEvents, id: number, size: number) =>
    events.emit('transfer:start', { id, direction: 'upload', ref: { bucket: 'lake', key: `k${id}` }, path: `f${id}`, size });
  const finish = (events: TransferEvents, id: number, size: number) => {
    events.emit('transfer:progress', { id, bytes: size });
    events.emit('transfer:done', { id, ref: { bucket: 'lake', key: `k${id}` }, path: `f${id}`, size, result: { ...result, size } });
  };

  it('knows the total from the plan before any transfer starts, and it does not grow as they start', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('plan:add', { files: 3, bytes: 300 });
    events.emit('plan:complete');
    expect(display.totals).toMatchObject({ files: 3, bytes: 300, complete: true, percent: 0 });
    start(events, 1, 100);
    finish(events, 1, 100);
    expect(display.totals).toMatchObject({ bytes: 300, moved: 100, done: 1, percent: 33 });
    start(events, 2, 100);
    start(events, 3, 100);
    expect(display.totals.bytes).toBe(300);
    display.stop();
  });

  it('reaches 100 % exactly when the last planned file arrives, not while its bytes are being proven', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('plan:add', { files: 2, bytes: 200 });
    events.emit('plan:complete');
    start(events, 1, 100);
    finish(events, 1, 100);
    start(events, 2, 100);
    events.emit('transfer:progress', { id: 2, bytes: 100 });
    expect(display.totals.percent).toBe(99);
    events.emit('transfer:done', { id: 2, ref, path: 'f2', size: 100, result: { ...result, size: 100 } });
    expect(display.totals).toMatchObject({ moved: 200, done: 2, percent: 100 });
    display.stop();
  });

  it('a plan still being read is a lower bound, never 100 %', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('plan:add', { files: 1, bytes: 100 });
    start(events, 1, 100);
    finish(events, 1, 100);
    expect(display.totals).toMatchObject({ complete: false, percent: 99 });
    events.emit('plan:complete');
    expect(display.totals.percent).toBe(100);
    display.stop();
  });

  it('a file skipped (already there) leaves the plan; a failed one takes its bytes back and the run ends short of 100 %', () => {
    const events = new TransferEvents();
    const display = new ProgressDisplay(events);
    events.emit('plan:add', { files: 3, bytes: 300 });
    events.emit('plan:complete');
    events.emit('plan:drop', { files: 1, bytes: 100 });
    expect(display.totals).toMatchObject({ files: 2, bytes: 200 });
    start(events, 1, 100);
    events.emit('transfer:progress', { id: 1, bytes: 60 });
    events.emit('transfer:failed', { id: 1, ref, path: 'f1', error: new Error('x') });
    expect(display.totals.moved).toBe(0);
    start(events, 2, 100);
    finish(events, 2, 100);
    expect(display.totals).toMatchObject({ moved: 100, percent: 50 });
    display.stop();
  });

  it('the bar line shows the percent it is given and a plan still being read as a lower bound', () => {
    const params = { progress: 1, eta: 0, startTime: Date.now(), stopTime: null, total: 100, value: 100, maxWidth: 120 } as unknown as Parameters<typeof formatLine>[1];
    const line = formatLine({ barsize: 10 }, params, { checksumming: 0, files: 3, done: 2, percent: 99, moved: '3.0 MiB', known: '3.0 MiB+', speed: '1.0 MiB' });
    expect(line).toMatch(/ 99% \| 2\/3 files \| 3\.0 MiB of 3\.0 MiB\+ /);
  });
});

describe('the bar fits an 80-column terminal, what matters first', () => {
  const at = (maxWidth: number, eta: number) => ({ progress: 0, eta, startTime: Date.now(), stopTime: null, total: 100, value: 0, maxWidth }) as unknown as Parameters<typeof formatLine>[1];
  // As cli-progress hands them to the formatter (no autopadding: no padding character).
  const options = { barsize: BAR_WIDTH, autopaddingChar: '' };

  it('a multi-file sync keeps its file count (6 × 30 MB at 80 columns)', () => {
    const line = formatLine(options, at(80, 1), { checksumming: 0, files: 6, done: 5, percent: 85, moved: '146.4 MiB', known: '171.7 MiB', speed: '104.0 MiB' });
    expect(line.length).toBeLessThanOrEqual(80);
    expect(line).toMatch(/ 85% \| 5\/6 files \| 146\.4 MiB of 171\.7 MiB \| 104\.0 MiB\/s \| ETA 1s$/);
  });

  it('a resumed large put keeps its phase word whole; what does not fit is left out whole, from the end', () => {
    const line = formatLine(options, at(80, 0), { checksumming: 1, files: 1, done: 0, percent: 0, moved: '0 B', known: '200.0 MiB', speed: '0 B' });
    expect(line.length).toBeLessThanOrEqual(80);
    expect(line).toMatch(/ 0% \| checksumming the file before sending \| 0 B of 200\.0 MiB$/);
  });

  it('on a narrow terminal the files and the phase come first, the bytes, rate and ETA go', () => {
    const line = formatLine(options, at(80, 3725), { checksumming: 4, files: 100_000, done: 12_345, percent: 12, moved: '1.2 GiB', known: '10.0 GiB+', speed: '98.5 MiB' });
    expect(line.length).toBeLessThanOrEqual(80);
    expect(line).toMatch(/ 12% \| 12345\/100000 files \| checksumming 4 files before sending$/);
  });

  it('the line never reaches the last column, where the cursor would wait to wrap and the next character (^C) go to the next line', () => {
    const payloads = [
      { checksumming: 0, files: 1, done: 0, percent: 17, moved: '1.0 MiB', known: '6.0 MiB', speed: '1.0 MiB' },
      { checksumming: 0, files: 2100, done: 336, percent: 17, moved: '1.4 MiB', known: '8.2 MiB', speed: '467.2 KiB' },
      { checksumming: 4, files: 100_000, done: 12_345, percent: 12, moved: '1.2 GiB', known: '10.0 GiB+', speed: '98.5 MiB' },
    ];
    for (let columns = 10; columns <= 200; columns += 1) {
      for (const payload of payloads) expect(formatLine(options, at(columns, 90), payload).length).toBeLessThanOrEqual(columns - 1);
    }
  });

  it('a wide terminal shows every field, the bar at its full width', () => {
    const line = formatLine(options, at(200, 3), { checksumming: 0, files: 6, done: 5, percent: 50, moved: '1.0 MiB', known: '2.0 MiB', speed: '1.0 MiB' });
    expect(line).toMatch(new RegExp(`^ [█░]{${BAR_WIDTH}}  50% \\| 5/6 files \\| 1\\.0 MiB of 2\\.0 MiB \\| 1\\.0 MiB/s \\| ETA 3s$`));
  });
});
