import { describe, expect, it } from 'vitest';
import { formatBytes, parseCount, parseDuration, parseSize } from '../../src/core/config/units.js';

describe('parseSize', () => {
  it.each([
    ['8388608', 8388608],
    ['8MiB', 8 * 1024 ** 2],
    ['8M', 8 * 1024 ** 2],
    ['64MB', 64_000_000],
    ['1GiB', 1024 ** 3],
    ['1.5KiB', 1536],
    [' 5 mib ', 5 * 1024 ** 2],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'lots', '8 parsecs', '-1MiB', 'MiB', '1e3'])('refuses %j as a usage error', (text) => {
    expect(() => parseSize(text)).toThrow(expect.objectContaining({ kind: 'usage' }));
  });
});

describe('parseDuration', () => {
  it.each([
    ['900', 900],
    ['15m', 900],
    ['1h', 3600],
    ['7d', 604800],
    ['2w', 1209600],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', 'soon', '-5m', '1.5h', '10y'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(expect.objectContaining({ kind: 'usage' }));
  });
});

describe('parseCount', () => {
  it('accepts whole numbers in range and refuses the rest', () => {
    expect(parseCount('4', 'concurrency', 1)).toBe(4);
    expect(() => parseCount('0', 'concurrency', 1)).toThrow(/concurrency/);
    expect(() => parseCount('2.5', 'concurrency', 1)).toThrow(/concurrency/);
    expect(() => parseCount('many', 'concurrency', 1)).toThrow(/concurrency/);
  });
});

describe('formatBytes', () => {
  it('uses binary units with one decimal', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(200 * 1024 ** 2)).toBe('200.0 MiB');
  });
});
