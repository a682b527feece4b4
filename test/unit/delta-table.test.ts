import { describe, expect, it } from 'vitest';
import type { SchemaTree } from 'hyparquet';
import { commitBody } from '../../src/core/lake/delta/commit.js';
import { formatBound, jsonWithBigInts } from '../../src/core/lake/delta/parquet-footer.js';
import { hiveEscape, partitionFolder, partitionValueProblem, relativeUri } from '../../src/core/lake/delta/partitions.js';
import { lowestProtocolFor, unsupportedFeature, type TableMetadata } from '../../src/core/lake/delta/protocol.js';
import { deltaSchemaOf, mergeNullability, schemaDifferences, type DeltaStruct } from '../../src/core/lake/delta/schema.js';
import { parseCommit } from '../../src/core/lake/delta/log.js';

/** A schema tree as hyparquet's parquetSchema gives it. */
function node(element: SchemaTree['element'], children: SchemaTree[] = [], path: string[] = [element.name]): SchemaTree {
  return { element, children, count: 1, path };
}

const plainMetadata: TableMetadata = { id: 'x', schemaString: JSON.stringify({ type: 'struct', fields: [] }), partitionColumns: [], configuration: {} };

describe('Parquet schema → Delta schema', () => {
  it('maps primitive, logical, nested, list and map types, nullability from the repetition', () => {
    const root = node({ name: 'root' }, [
      node({ name: 'id', type: 'INT64', repetition_type: 'REQUIRED' }),
      node({ name: 'small', type: 'INT32', repetition_type: 'OPTIONAL', logical_type: { type: 'INTEGER', bitWidth: 16, isSigned: true } }),
      node({ name: 'name', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', logical_type: { type: 'STRING' } }),
      node({ name: 'day', type: 'INT32', repetition_type: 'OPTIONAL', converted_type: 'DATE' }),
      node({ name: 'at', type: 'INT64', repetition_type: 'OPTIONAL', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } }),
      node({ name: 'local', type: 'INT64', repetition_type: 'OPTIONAL', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MILLIS' } }),
      node({ name: 'price', type: 'FIXED_LEN_BYTE_ARRAY', repetition_type: 'OPTIONAL', logical_type: { type: 'DECIMAL', precision: 12, scale: 2 } }),
      node({ name: 'tags', repetition_type: 'OPTIONAL', logical_type: { type: 'LIST' } }, [
        node({ name: 'list', repetition_type: 'REPEATED' }, [node({ name: 'element', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', converted_type: 'UTF8' })]),
      ]),
      node({ name: 'attrs', repetition_type: 'OPTIONAL', converted_type: 'MAP' }, [
        node({ name: 'key_value', repetition_type: 'REPEATED' }, [
          node({ name: 'key', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', converted_type: 'UTF8' }),
          node({ name: 'value', type: 'DOUBLE', repetition_type: 'OPTIONAL' }),
        ]),
      ]),
      node({ name: 'point', repetition_type: 'OPTIONAL' }, [node({ name: 'x', type: 'FLOAT', repetition_type: 'REQUIRED' })]),
    ]);
    const schema = deltaSchemaOf(root);
    expect(schema.fields.map((field) => [field.name, field.type, field.nullable])).toEqual([
      ['id', 'long', false],
      ['small', 'short', true],
      ['name', 'string', true],
      ['day', 'date', true],
      ['at', 'timestamp', true],
      ['local', 'timestamp_ntz', true],
      ['price', 'decimal(12,2)', true],
      ['tags', { type: 'array', elementType: 'string', containsNull: false }, true],
      ['attrs', { type: 'map', keyType: 'string', valueType: 'double', valueContainsNull: true }, true],
      ['point', { type: 'struct', fields: [{ name: 'x', type: 'float', nullable: false, metadata: {} }] }, true],
    ]);
    expect(lowestProtocolFor(schema)).toMatchObject({ minReaderVersion: 3, minWriterVersion: 7, writerFeatures: ['timestampNtz'] });
  });

  it('refuses nanosecond timestamps and unsigned integers, naming the column', () => {
    const nanos = node({ name: 'root' }, [node({ name: 't', type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'NANOS' } }, [], ['t'])]);
    expect(() => deltaSchemaOf(nanos)).toThrow(/column t: nanosecond timestamps/);
    const unsigned = node({ name: 'root' }, [node({ name: 'u', type: 'INT32', converted_type: 'UINT_8' }, [], ['u'])]);
    expect(() => deltaSchemaOf(unsigned)).toThrow(/column u: unsigned/);
  });

  it('names each field that differs; a required file column fits a nullable table column, not the reverse', () => {
    const table: DeltaStruct = { type: 'struct', fields: [{ name: 'id', type: 'long', nullable: true, metadata: {} }, { name: 'name', type: 'string', nullable: false, metadata: {} }, { name: 'gone', type: 'date', nullable: true, metadata: {} }] };
    const file: DeltaStruct = { type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'name', type: 'string', nullable: true, metadata: {} }, { name: 'extra', type: 'integer', nullable: true, metadata: {} }] };
    expect(schemaDifferences(file, table)).toEqual(['name may be null in the file, not in the table', 'extra (integer) is not in the table', 'gone (date) is missing from the file']);
  });
});

describe('table protocols', () => {
  it('a plain new table needs reader 1, writer 1', () => {
    expect(lowestProtocolFor({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: true, metadata: {} }] })).toEqual({ minReaderVersion: 1, minWriterVersion: 1 });
  });

  it('names the first feature datalake cannot write', () => {
    expect(unsupportedFeature({ minReaderVersion: 1, minWriterVersion: 2 }, plainMetadata)).toBeUndefined();
    expect(unsupportedFeature({ minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['timestampNtz'], writerFeatures: ['timestampNtz', 'appendOnly'] }, plainMetadata)).toBeUndefined();
    expect(unsupportedFeature({ minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly', 'rowTracking'] }, plainMetadata)).toBe('the writer feature rowTracking');
    expect(unsupportedFeature({ minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['columnMapping'], writerFeatures: ['columnMapping'] }, plainMetadata)).toBe('the reader feature columnMapping');
    expect(unsupportedFeature({ minReaderVersion: 2, minWriterVersion: 5 }, { ...plainMetadata, configuration: { 'delta.columnMapping.mode': 'name' } })).toBe('column mapping (delta.columnMapping.mode=name)');
    expect(unsupportedFeature({ minReaderVersion: 1, minWriterVersion: 3 }, { ...plainMetadata, configuration: { 'delta.constraints.positive': 'id > 0' } })).toBe('a CHECK constraint (delta.constraints.positive)');
    const generated = JSON.stringify({ type: 'struct', fields: [{ name: 'y', type: 'integer', nullable: true, metadata: { 'delta.generationExpression': 'year(d)' } }] });
    expect(unsupportedFeature({ minReaderVersion: 1, minWriterVersion: 4 }, { ...plainMetadata, schemaString: generated })).toBe('columns with delta.generationExpression');
    expect(unsupportedFeature({ minReaderVersion: 1, minWriterVersion: 8 }, plainMetadata)).toBe('writer version 8');
  });
});

describe('partition folders and paths', () => {
  it("escape values as Hive does; the add path is the key as a relative URI", () => {
    expect(hiveEscape('2024-01-15 10:00:00')).toBe('2024-01-15 10%3A00%3A00');
    expect(partitionFolder([['day', '2024-01-15'], ['src', 'a/b']])).toBe('day=2024-01-15/src=a%2Fb/');
    expect(relativeUri('ts=10%3A00/x y.parquet')).toBe('ts=10%253A00/x%20y.parquet');
  });

  it("check a value against its column's type", () => {
    expect(partitionValueProblem('2024-01-15', 'date')).toBeUndefined();
    expect(partitionValueProblem('15/01/2024', 'date')).toMatch(/give YYYY-MM-DD/);
    expect(partitionValueProblem('7', 'integer')).toBeUndefined();
    expect(partitionValueProblem('seven', 'integer')).toMatch(/give an integer/);
    expect(partitionValueProblem('', 'string')).toMatch(/empty value/);
  });
});

describe('commits', () => {
  it('write a long bound beyond 2^53 exactly', () => {
    expect(jsonWithBigInts({ maxValues: { id: 9007199254740993n }, name: 'n' })).toBe('{"maxValues":{"id":9007199254740993},"name":"n"}');
  });

  it('hold commitInfo first, then protocol and metaData for a new table, then one add per file, one JSON per line', () => {
    const add = { path: 'day=1/a.parquet', partitionValues: { day: '1' }, size: 10, modificationTime: 5, dataChange: true as const, stats: '{"numRecords":3}' };
    const creation = { protocol: { minReaderVersion: 1, minWriterVersion: 1 }, metadata: { ...plainMetadata, partitionColumns: ['day'] } };
    const lines = commitBody({ root: { bucket: 'b', key: 't/' }, adds: [add, { ...add, path: 'day=1/b.parquet' }], creation, engineInfo: 'datalake/test' }, 'txn-1')
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, Record<string, unknown>>);
    expect(lines.map((line) => Object.keys(line)[0])).toEqual(['commitInfo', 'protocol', 'metaData', 'add', 'add']);
    expect(lines[0]!.commitInfo).toMatchObject({ operation: 'WRITE', isBlindAppend: true, txnId: 'txn-1', operationMetrics: { numFiles: '2', numOutputRows: '6', numOutputBytes: '20' } });
  });
});

describe('review of issue 19: values a reader would refuse are refused first', () => {
  it('partition values must fit the column type: integer ranges, calendar dates, timestamp fields, decimal digits, strict numbers', () => {
    expect(partitionValueProblem('127', 'byte')).toBeUndefined();
    expect(partitionValueProblem('128', 'byte')).toMatch(/byte/);
    expect(partitionValueProblem('-32769', 'short')).toMatch(/short/);
    expect(partitionValueProblem('99999999999', 'integer')).toMatch(/integer/);
    expect(partitionValueProblem('-2147483648', 'integer')).toBeUndefined();
    expect(partitionValueProblem('9223372036854775807', 'long')).toBeUndefined();
    expect(partitionValueProblem('9223372036854775808', 'long')).toMatch(/long/);
    for (const bad of ['2024-02-30', '2023-02-29', '2024-04-31', '2024-13-01', '2024-00-10']) expect(partitionValueProblem(bad, 'date'), bad).toMatch(/date/);
    expect(partitionValueProblem('2024-02-29', 'date')).toBeUndefined();
    expect(partitionValueProblem('2024-01-15 23:59:59.123456', 'timestamp')).toBeUndefined();
    for (const bad of ['2024-01-15 24:00:00', '2024-01-15 10:60:00', '2024-01-15 10:00:61', '2024-02-30 10:00:00']) expect(partitionValueProblem(bad, 'timestamp_ntz'), bad).toMatch(/timestamp/);
    expect(partitionValueProblem('123.45', 'decimal(5,2)')).toBeUndefined();
    expect(partitionValueProblem('1234.5', 'decimal(5,2)')).toMatch(/decimal\(5,2\)/);
    expect(partitionValueProblem('1.234', 'decimal(5,2)')).toMatch(/decimal\(5,2\)/);
    for (const bad of ['0x10', '1e', ' 1', '', 'Infinity', '0b1']) expect(partitionValueProblem(bad, 'double'), bad).toBeDefined();
    expect(partitionValueProblem('-1.5e3', 'float')).toBeUndefined();
    expect(partitionValueProblem('True', 'boolean')).toMatch(/boolean/);
  });

  it('float16 and INT32 TIME have no Delta type: refused, the column named', () => {
    const half = node({ name: 'root' }, [node({ name: 'h', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 2, logical_type: { type: 'FLOAT16' } } as SchemaTree['element'], [], ['h'])]);
    expect(() => deltaSchemaOf(half)).toThrow(/column h: .*float16/i);
    const time = node({ name: 'root' }, [node({ name: 't', type: 'INT32', logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MILLIS' } }, [], ['t'])]);
    expect(() => deltaSchemaOf(time)).toThrow(/column t: TIME/);
    const legacy = node({ name: 'root' }, [node({ name: 't', type: 'INT32', converted_type: 'TIME_MILLIS' }, [], ['t'])]);
    expect(() => deltaSchemaOf(legacy)).toThrow(/column t: TIME/);
  });

  it('files that differ only in nullability merge to nullable, in either order; other differences do not merge', () => {
    const required: DeltaStruct = { type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] };
    const nullable: DeltaStruct = { type: 'struct', fields: [{ name: 'id', type: 'long', nullable: true, metadata: {} }] };
    expect(mergeNullability(required, nullable)).toEqual(nullable);
    expect(mergeNullability(nullable, required)).toEqual(nullable);
    expect(mergeNullability(required, { type: 'struct', fields: [{ name: 'id', type: 'integer', nullable: true, metadata: {} }] })).toBeUndefined();
  });

  it('a commit line that is not a JSON object is a damaged log, the version file named', () => {
    const ref = { bucket: 'b', key: 't/_delta_log/00000000000000000003.json' };
    for (const line of ['null', '7', '"x"', '[1]']) {
      expect(() => parseCommit(Buffer.from(`{"commitInfo":{}}\n${line}\n`), ref), line).toThrow(/s3:\/\/b\/t\/_delta_log\/00000000000000000003\.json .*not an object/);
    }
  });

  it('dates in stats outside years 0–9999 are left out rather than written in extended form', () => {
    expect(formatBound(2_932_897, 'date', 'max')).toBeUndefined();
    expect(formatBound(-719_529, 'date', 'min')).toBeUndefined();
    expect(formatBound(0, 'date', 'min')).toBe('1970-01-01');
    expect(formatBound(253_402_300_800_000_000n, 'timestamp', 'max')).toBeUndefined();
  });
});

describe('attack on issue 19: values deltalake cannot read back, and stats that are not bounds', () => {
  it('a timestamp partition value with T between date and time is refused (deltalake fails to open the table)', () => {
    for (const type of ['timestamp', 'timestamp_ntz']) {
      expect(partitionValueProblem('2024-01-01T12:30:59.123456', type), type).toMatch(/YYYY-MM-DD HH:MM:SS/);
      expect(partitionValueProblem('2024-01-01 12:30:59.123456', type), type).toBeUndefined();
    }
  });

  it("a decimal partition value needs exactly the column's scale after the point; the message gives the value to write", () => {
    expect(partitionValueProblem('1.5', 'decimal(5,2)')).toMatch(/exactly 2 digits after the point \(1\.50\)/);
    expect(partitionValueProblem('-1', 'decimal(5,2)')).toMatch(/\(-1\.00\)/);
    expect(partitionValueProblem('1.50', 'decimal(5,2)')).toBeUndefined();
    expect(partitionValueProblem('+1.50', 'decimal(5,2)')).toBeUndefined();
    expect(partitionValueProblem('7', 'decimal(4,0)')).toBeUndefined();
    expect(partitionValueProblem('7.0', 'decimal(4,0)')).toMatch(/and 0 after/);
  });

  it('a float or double minimum of zero (either sign) is left out: JSON cannot say -0.0; a zero maximum stays', () => {
    for (const type of ['float', 'double']) {
      expect(formatBound(-0, type, 'min')).toBeUndefined();
      expect(formatBound(0, type, 'min')).toBeUndefined();
      expect(formatBound(-1.5, type, 'min')).toBe(-1.5);
      expect(formatBound(0, type, 'max')).toBe(0);
    }
  });
});

describe('second attack on issue 19: more values deltalake cannot load', () => {
  it('a negative decimal with a fraction is refused; negative integers and -0.00 are fine', () => {
    expect(partitionValueProblem('-1.50', 'decimal(5,2)')).toMatch(/negative partition value with a fraction \(-1\.50\)/);
    expect(partitionValueProblem('-0.01', 'decimal(5,2)')).toMatch(/negative/);
    expect(partitionValueProblem('-0.00', 'decimal(5,2)')).toBeUndefined();
    expect(partitionValueProblem('-5', 'decimal(3,0)')).toBeUndefined();
  });

  it('a date partition value in year 0 is refused; 0001-01-01 is fine', () => {
    expect(partitionValueProblem('0000-01-01', 'date')).toMatch(/from 0001-01-01/);
    expect(partitionValueProblem('0001-01-01', 'date')).toBeUndefined();
  });

  it('a float or double partition value that would be read as infinity or zero is refused', () => {
    expect(partitionValueProblem('3.4028236e38', 'float')).toMatch(/out of its range \(it would be read as Infinity\)/);
    expect(partitionValueProblem('1e-50', 'float')).toMatch(/read as 0/);
    expect(partitionValueProblem('1e-400', 'double')).toMatch(/read as 0/);
    expect(partitionValueProblem('3.4028234e38', 'float')).toBeUndefined();
    expect(partitionValueProblem('1e39', 'double')).toBeUndefined();
    for (const zero of ['0', '-0', '0.0', '.0', '0e5', '-0.0']) expect(partitionValueProblem(zero, 'float'), zero).toBeUndefined();
  });

  it('date stats before year 1 are left out (a year-0 timestamp bound is fine)', () => {
    expect(formatBound(-719_528, 'date', 'min')).toBeUndefined(); // 0000-01-01
    expect(formatBound(-719_162, 'date', 'min')).toBe('0001-01-01');
  });
});
