import { open } from 'node:fs/promises';
import { parquetMetadata, parquetSchema, type ColumnChunk, type FileMetaData, type ParquetParsers } from 'hyparquet';
import { usageError } from '../../errors.js';
import { deltaSchemaOf, UnsupportedParquetType, type DeltaStruct, type DeltaType } from './schema.js';

/**
 * What a Delta commit says about one data file, read from the file's Parquet footer alone (hyparquet):
 * its schema, and the `stats` readers use to skip files — numRecords and, per column, minValues,
 * maxValues and nullCount. A bound is written only where it is certainly a bound, for a wrong one
 * makes readers skip rows a query asked for: truncated maxima, NaN, decimals (hyparquet reads them
 * as floating point) and the legacy min/max of strings are left out.
 */
export interface ParquetFacts {
  schema: DeltaStruct;
  numRecords: number;
  stats: { numRecords: number; minValues: StatTree; maxValues: StatTree; nullCount: StatTree };
}

type StatValue = number | bigint | string;
export interface StatTree {
  [column: string]: StatValue | StatTree;
}

/** Timestamps stay exact (microseconds) until written: a minimum rounds down, a maximum up. */
class Micros {
  constructor(readonly value: bigint) {}
}

const EXACT_PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (millis) => new Micros(millis * 1000n),
  timestampFromMicroseconds: (micros) => new Micros(micros),
  timestampFromNanoseconds: (nanos) => new Micros(nanos / 1000n),
  dateFromDays: (days) => days,
};

/** Longest string bound kept, in characters, as Delta writers truncate theirs. */
const STRING_BOUND_LENGTH = 32;

/** The footer of a local Parquet file and what it says; a file that is not Parquet is bad input (exit 2). */
export async function readParquetFacts(path: string): Promise<ParquetFacts> {
  const metadata = await readFooter(path);
  let schema: DeltaStruct;
  try {
    schema = deltaSchemaOf(parquetSchema(metadata));
  } catch (error) {
    if (error instanceof UnsupportedParquetType) throw usageError(`${path}: ${error.message}`);
    throw error;
  }
  const numRecords = Number(metadata.num_rows);
  return { schema, numRecords, stats: { numRecords, ...columnStats(metadata, schema) } };
}

async function readFooter(path: string): Promise<FileMetaData> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const tail = Buffer.alloc(Math.min(size, 8));
    await handle.read(tail, 0, tail.length, size - tail.length);
    if (size < 12 || tail.toString('latin1', 4) !== 'PAR1') throw usageError(`${path} is not a Parquet file (no PAR1 footer)`);
    const footerLength = tail.readUInt32LE(0) + 8;
    if (footerLength > size - 4) throw usageError(`${path} is not a Parquet file (its footer length is past the start of the file)`);
    const footer = Buffer.alloc(footerLength);
    await handle.read(footer, 0, footerLength, size - footerLength);
    try {
      return parquetMetadata(footer.buffer.slice(footer.byteOffset, footer.byteOffset + footer.length), { parsers: EXACT_PARSERS, geoparquet: false });
    } catch (error) {
      throw usageError(`${path} is not a readable Parquet file: ${(error as Error).message}`);
    }
  } finally {
    await handle.close();
  }
}

function columnStats(metadata: FileMetaData, schema: DeltaStruct): Omit<ParquetFacts['stats'], 'numRecords'> {
  const minValues: StatTree = {};
  const maxValues: StatTree = {};
  const nullCount: StatTree = {};
  const chunksByPath = new Map<string, ColumnChunk[]>();
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const name = chunk.meta_data?.path_in_schema.join('\u0000') ?? '';
      chunksByPath.set(name, [...(chunksByPath.get(name) ?? []), chunk]);
    }
  }
  for (const [name, chunks] of chunksByPath) {
    const path = name.split('\u0000');
    const type = primitiveAt(schema, path);
    // Columns inside a list or map have no per-row bound; nor does a group column with no row group.
    if (type === undefined || chunks.length !== metadata.row_groups.length) continue;
    const stats = chunks.map((chunk) => chunk.meta_data?.statistics);
    const nulls = stats.map((entry) => entry?.null_count);
    if (nulls.every((count) => count !== undefined)) setAt(nullCount, path, Number(nulls.reduce((sum, count) => sum! + count!, 0n)));
    const physical = chunks[0]?.meta_data?.type;
    const lows = stats.map((entry) => lowerBound(entry, physical));
    const highs = stats.map((entry) => upperBound(entry, physical));
    const low = formatBound(pick(lows, -1), type, 'min');
    const high = formatBound(pick(highs, 1), type, 'max');
    if (low !== undefined) setAt(minValues, path, low);
    if (high !== undefined) setAt(maxValues, path, high);
  }
  return { minValues, maxValues, nullCount };
}

type Stats = NonNullable<NonNullable<ColumnChunk['meta_data']>['statistics']>;

/** The Parquet 2 min_value; the legacy `min` only for types whose legacy order was the right one. */
function lowerBound(stats: Stats | undefined, physical: string | undefined): unknown {
  return stats?.min_value ?? (legacyOrderHolds(physical) ? stats?.min : undefined);
}

/** As lowerBound; a truncated (inexact) maximum is below the real one, so it is no bound. */
function upperBound(stats: Stats | undefined, physical: string | undefined): unknown {
  if (stats?.max_value !== undefined) return stats.is_max_value_exact === false ? undefined : stats.max_value;
  return legacyOrderHolds(physical) ? stats?.max : undefined;
}

function legacyOrderHolds(physical: string | undefined): boolean {
  return physical === 'INT32' || physical === 'INT64' || physical === 'FLOAT' || physical === 'DOUBLE';
}

/** The smallest (direction -1) or largest (1) of the row groups' bounds; none if any row group has none. */
function pick(values: unknown[], direction: -1 | 1): unknown {
  let best: unknown;
  for (const value of values) {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isNaN(value)) return undefined;
    if (best === undefined || compare(value, best) * direction > 0) best = value;
  }
  return best;
}

function compare(a: unknown, b: unknown): number {
  if (a instanceof Micros && b instanceof Micros) return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** A bound as the Delta protocol writes it in `stats`, or undefined where none can be given. */
export function formatBound(value: unknown, type: string, which: 'min' | 'max'): StatValue | undefined {
  if (value === undefined) return undefined;
  switch (type) {
    case 'byte':
    case 'short':
    case 'integer':
    case 'long':
      return typeof value === 'bigint' || typeof value === 'number' ? value : undefined;
    case 'float':
    case 'double':
      if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
      // A zero minimum is no bound: JSON writes -0.0 as 0, above a -0.0 the file holds (and a Parquet
      // minimum of +0.0 may stand for -0.0 values too), so readers would skip rows equal to -0.0.
      return which === 'min' && value === 0 ? undefined : value;
    case 'string': {
      if (typeof value !== 'string') return undefined;
      const characters = Array.from(value);
      if (characters.length <= STRING_BOUND_LENGTH) return value;
      // A prefix is still a lower bound; a cut maximum would not be an upper one.
      return which === 'min' ? characters.slice(0, STRING_BOUND_LENGTH).join('') : undefined;
    }
    case 'date':
      // From year 1: deltalake's Python readers (Python's datetime.date) fail on a year-0 date bound.
      return typeof value === 'number' ? inFourDigitYears(new Date(value * 86_400_000), 1)?.slice(0, 10) : undefined;
    case 'timestamp': {
      if (!(value instanceof Micros)) return undefined;
      const millis = which === 'min' ? floorDiv(value.value, 1000n) : -floorDiv(-value.value, 1000n);
      return inFourDigitYears(new Date(Number(millis)));
    }
    default:
      // boolean, binary, decimal, timestamp_ntz: no bound is written.
      return undefined;
  }
}

/** ISO 8601 for years `firstYear`–9999; beyond them (`+010000-01-01`) readers cannot parse it, so no bound is written. */
function inFourDigitYears(date: Date, firstYear = 0): string | undefined {
  const year = date.getUTCFullYear();
  return Number.isNaN(year) || year < firstYear || year > 9999 ? undefined : date.toISOString();
}

function floorDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a % b !== 0n && a < 0n ? quotient - 1n : quotient;
}

/** The primitive type at a column path through structs only, else undefined. */
function primitiveAt(schema: DeltaStruct, path: string[]): string | undefined {
  let type: DeltaType = schema;
  for (const name of path) {
    if (typeof type === 'string' || type.type !== 'struct') return undefined;
    const field: { type: DeltaType } | undefined = type.fields.find((candidate) => candidate.name === name);
    if (!field) return undefined;
    type = field.type;
  }
  return typeof type === 'string' ? type : undefined;
}

function setAt(tree: StatTree, path: string[], value: StatValue): void {
  let node = tree;
  for (const name of path.slice(0, -1)) node = (node[name] ??= {}) as StatTree;
  node[path[path.length - 1]!] = value;
}

/** JSON text with bigints written as exact integer literals (a long's bound may exceed 2^53). */
export function jsonWithBigInts(value: unknown): string {
  const marker = '\u0000bigint:';
  const text = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? `${marker}${item.toString()}` : item));
  return text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
}
