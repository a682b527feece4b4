import { usageError } from '../errors.js';
import { MAX_PART_SIZE, MIN_PART_SIZE } from '../config/config.js';
import { MiB } from '../config/units.js';

export const MAX_PARTS = 10_000;
/** The largest object S3 stores: 5 TiB. */
export const MAX_OBJECT_SIZE = 5 * 1024 ** 4;

export interface PartRange {
  /** 1-based, as S3 numbers parts. */
  partNumber: number;
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * The part size for a file: the requested one, grown to a whole MiB so that no file needs more than
 * 10,000 parts (a 5 TiB file gets parts of 525 MiB).
 */
export function choosePartSize(fileSize: number, requested: number): number {
  if (fileSize > MAX_OBJECT_SIZE) throw usageError(`file of ${fileSize} bytes is over the 5 TiB limit of an S3 object`);
  const smallestThatFits = Math.ceil(Math.ceil(fileSize / MAX_PARTS) / MiB) * MiB;
  const partSize = Math.max(requested, smallestThatFits, MIN_PART_SIZE);
  if (partSize > MAX_PART_SIZE) throw usageError(`part size ${partSize} is over the 5 GiB limit of S3`);
  return partSize;
}

/** Consecutive ranges of these sizes from byte 0, numbered from 1 (an object's own part layout). */
export function partsOfSizes(sizes: readonly number[]): PartRange[] {
  let start = 0;
  return sizes.map((size, index) => {
    const part = { partNumber: index + 1, start, end: start + size };
    start += size;
    return part;
  });
}

/** Splits [0, size) into consecutive ranges of partSize; the last one may be shorter. */
export function splitIntoParts(size: number, partSize: number): PartRange[] {
  const parts: PartRange[] = [];
  for (let start = 0, partNumber = 1; start < size; start += partSize, partNumber += 1) {
    parts.push({ partNumber, start, end: Math.min(start + partSize, size) });
  }
  return parts;
}
