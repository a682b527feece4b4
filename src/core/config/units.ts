import { usageError } from '../errors.js';

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

/** Parses `8388608`, `8MiB`, `64MB`, `1GiB` (and `8M`, binary) into bytes. */
export function parseSize(text: string, what = 'size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? SIZE_UNITS[(match[2] ?? '').toLowerCase() || 'b'] : undefined;
  if (!match || unit === undefined) {
    throw usageError(`invalid ${what} '${text}'`, 'use bytes or a unit, e.g. 8388608, 8MiB, 64MB, 1GiB');
  }
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw usageError(`invalid ${what} '${text}': too large`);
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses `900`, `15m`, `1h`, `7d` into whole seconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^\s*(\d+)\s*([smhdw]?)\s*$/i.exec(text);
  if (!match) throw usageError(`invalid ${what} '${text}'`, 'use seconds or a unit, e.g. 900, 15m, 1h, 7d');
  const seconds = Number(match[1]) * (DURATION_UNITS[(match[2] ?? '').toLowerCase() || 's'] ?? 1);
  if (!Number.isSafeInteger(seconds)) throw usageError(`invalid ${what} '${text}': too large`);
  return seconds;
}

/** Parses a whole number within bounds, for counts such as concurrency or retries. */
export function parseCount(text: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw usageError(`invalid ${what} '${text}': expected a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}`);
  }
  return value;
}

/** 1536 → "1.5 KiB"; binary units, one decimal, as `aws s3 ls --human-readable` does. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export const KiB = 1024;
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;
export const TiB = 1024 ** 4;
