import type { SchemaTree } from 'hyparquet';

/**
 * Delta Lake's schema (the protocol's "Schema Serialization Format"): a struct of named fields, each
 * a primitive type name (`long`, `string`, `decimal(10,2)`…) or a nested struct, array or map. A
 * table's schema is this struct as JSON text in its `metaData.schemaString`.
 */
export type DeltaType = string | DeltaStruct | DeltaArray | DeltaMap;

export interface DeltaField {
  name: string;
  type: DeltaType;
  nullable: boolean;
  metadata: Record<string, unknown>;
}

export interface DeltaStruct {
  type: 'struct';
  fields: DeltaField[];
}

export interface DeltaArray {
  type: 'array';
  elementType: DeltaType;
  containsNull: boolean;
}

export interface DeltaMap {
  type: 'map';
  keyType: DeltaType;
  valueType: DeltaType;
  valueContainsNull: boolean;
}

/** A Parquet file whose schema has no Delta equivalent; the message names the column. */
export class UnsupportedParquetType extends Error {}

/** The Delta schema of a Parquet file, from its schema tree (hyparquet's `parquetSchema`). */
export function deltaSchemaOf(root: SchemaTree): DeltaStruct {
  return { type: 'struct', fields: root.children.map((child) => fieldOf(child)) };
}

function fieldOf(node: SchemaTree): DeltaField {
  const { element } = node;
  if (element.repetition_type === 'REPEATED') {
    // A bare repeated field (no LIST annotation) is an old form of list no Delta writer produces.
    throw new UnsupportedParquetType(`column ${node.path.join('.')}: a repeated field outside a LIST is not supported`);
  }
  return { name: element.name, type: typeOf(node), nullable: element.repetition_type !== 'REQUIRED', metadata: {} };
}

function typeOf(node: SchemaTree): DeltaType {
  const { element } = node;
  const logical = element.logical_type;
  const converted = element.converted_type;
  if (element.type === undefined) {
    if (logical?.type === 'LIST' || converted === 'LIST') return listOf(node);
    if (logical?.type === 'MAP' || converted === 'MAP' || converted === 'MAP_KEY_VALUE') return mapOf(node);
    return { type: 'struct', fields: node.children.map((child) => fieldOf(child)) };
  }
  const where = `column ${node.path.join('.')}`;
  if (logical?.type === 'DECIMAL' || converted === 'DECIMAL') {
    const precision = logical?.type === 'DECIMAL' ? logical.precision : element.precision;
    const scale = logical?.type === 'DECIMAL' ? logical.scale : element.scale;
    return `decimal(${precision ?? 0},${scale ?? 0})`;
  }
  switch (element.type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'INT32': {
      if (logical?.type === 'DATE' || converted === 'DATE') return 'date';
      if (logical?.type === 'TIME' || converted === 'TIME_MILLIS') throw new UnsupportedParquetType(`${where}: TIME has no Delta type`);
      if ((logical?.type === 'INTEGER' && !logical.isSigned) || converted?.startsWith('UINT_')) {
        throw new UnsupportedParquetType(`${where}: unsigned integers have no Delta type`);
      }
      const width = logical?.type === 'INTEGER' ? logical.bitWidth : converted === 'INT_8' ? 8 : converted === 'INT_16' ? 16 : 32;
      return width === 8 ? 'byte' : width === 16 ? 'short' : 'integer';
    }
    case 'INT64': {
      if (logical?.type === 'TIMESTAMP') {
        if (logical.unit === 'NANOS') throw new UnsupportedParquetType(`${where}: nanosecond timestamps have no Delta type (write microseconds)`);
        return logical.isAdjustedToUTC ? 'timestamp' : 'timestamp_ntz';
      }
      if (converted === 'TIMESTAMP_MICROS' || converted === 'TIMESTAMP_MILLIS') return 'timestamp';
      if ((logical?.type === 'INTEGER' && !logical.isSigned) || converted?.startsWith('UINT_')) {
        throw new UnsupportedParquetType(`${where}: unsigned integers have no Delta type`);
      }
      if (logical?.type === 'TIME' || converted === 'TIME_MICROS') throw new UnsupportedParquetType(`${where}: TIME has no Delta type`);
      return 'long';
    }
    case 'INT96':
      return 'timestamp';
    case 'FLOAT':
      return 'float';
    case 'DOUBLE':
      return 'double';
    case 'BYTE_ARRAY':
      if (logical?.type === 'STRING' || logical?.type === 'ENUM' || logical?.type === 'JSON') return 'string';
      if (converted === 'UTF8' || converted === 'ENUM' || converted === 'JSON') return 'string';
      return 'binary';
    case 'FIXED_LEN_BYTE_ARRAY':
      if ((logical?.type as string | undefined) === 'FLOAT16') throw new UnsupportedParquetType(`${where}: float16 has no Delta type (write float)`);
      return 'binary';
    default:
      throw new UnsupportedParquetType(`${where}: Parquet type ${String(element.type)} is not supported`);
  }
}

/** `group (LIST) { repeated group list { element } }`, or the two-level form `group (LIST) { repeated element }`. */
function listOf(node: SchemaTree): DeltaArray {
  const repeated = node.children[0];
  if (node.children.length !== 1 || repeated?.element.repetition_type !== 'REPEATED') {
    throw new UnsupportedParquetType(`column ${node.path.join('.')}: a LIST without one repeated field`);
  }
  const element = repeated.element.type === undefined && repeated.children.length === 1 ? repeated.children[0]! : { ...repeated, element: { ...repeated.element, repetition_type: 'REQUIRED' as const } };
  return { type: 'array', elementType: typeOf(element), containsNull: element.element.repetition_type !== 'REQUIRED' };
}

/** `group (MAP) { repeated group key_value { required key; value } }`. */
function mapOf(node: SchemaTree): DeltaMap {
  const entries = node.children[0];
  const [key, value] = entries?.children ?? [];
  if (node.children.length !== 1 || !key || !value || entries?.children.length !== 2) {
    throw new UnsupportedParquetType(`column ${node.path.join('.')}: a MAP without a key and a value`);
  }
  return { type: 'map', keyType: typeOf(key), valueType: typeOf(value), valueContainsNull: value.element.repetition_type !== 'REQUIRED' };
}

/** A type as text for messages: `long`, `struct<a:long,b:string>`, `array<string>`. */
export function describeType(type: DeltaType): string {
  if (typeof type === 'string') return type;
  if (type.type === 'struct') return `struct<${type.fields.map((field) => `${field.name}:${describeType(field.type)}`).join(',')}>`;
  if (type.type === 'array') return `array<${describeType(type.elementType)}>`;
  return `map<${describeType(type.keyType)},${describeType(type.valueType)}>`;
}

/**
 * One schema for files that differ only in which columns may be null (at any depth): a column
 * nullable in either is nullable in the result. Undefined when they differ in anything else.
 */
export function mergeNullability(a: DeltaStruct, b: DeltaStruct): DeltaStruct | undefined {
  const merged = mergeTypes(a, b);
  return merged === undefined ? undefined : (merged as DeltaStruct);
}

function mergeTypes(a: DeltaType, b: DeltaType): DeltaType | undefined {
  if (typeof a === 'string' || typeof b === 'string') return a === b ? a : undefined;
  if (a.type === 'struct' && b.type === 'struct') {
    if (a.fields.length !== b.fields.length) return undefined;
    const fields: DeltaField[] = [];
    for (const [index, field] of a.fields.entries()) {
      const other = b.fields[index]!;
      const type = other.name === field.name ? mergeTypes(field.type, other.type) : undefined;
      if (type === undefined) return undefined;
      fields.push({ ...field, type, nullable: field.nullable || other.nullable });
    }
    return { type: 'struct', fields };
  }
  if (a.type === 'array' && b.type === 'array') {
    const elementType = mergeTypes(a.elementType, b.elementType);
    return elementType === undefined ? undefined : { type: 'array', elementType, containsNull: a.containsNull || b.containsNull };
  }
  if (a.type === 'map' && b.type === 'map') {
    const [keyType, valueType] = [mergeTypes(a.keyType, b.keyType), mergeTypes(a.valueType, b.valueType)];
    return keyType === undefined || valueType === undefined ? undefined : { type: 'map', keyType, valueType, valueContainsNull: a.valueContainsNull || b.valueContainsNull };
  }
  return undefined;
}

/** A type without field metadata, for comparing two schemas by shape. */
function shapeOf(type: DeltaType): unknown {
  if (typeof type === 'string') return type;
  if (type.type === 'struct') return { struct: type.fields.map((field) => [field.name, field.nullable, shapeOf(field.type)]) };
  if (type.type === 'array') return { array: [shapeOf(type.elementType), type.containsNull] };
  return { map: [shapeOf(type.keyType), shapeOf(type.valueType), type.valueContainsNull] };
}

/**
 * How a file's columns differ from the columns a table's data files must hold, one phrase per
 * field (empty when they agree). A column the table allows to be null may be required in the file
 * (it then holds no nulls); the reverse could put nulls where the table promises none.
 */
export function schemaDifferences(file: DeltaStruct, table: DeltaStruct): string[] {
  const differences: string[] = [];
  const inTable = new Map(table.fields.map((field) => [field.name, field]));
  const inFile = new Set(file.fields.map((field) => field.name));
  for (const field of file.fields) {
    const expected = inTable.get(field.name);
    if (!expected) differences.push(`${field.name} (${describeType(field.type)}) is not in the table`);
    else if (JSON.stringify(shapeOf(field.type)) !== JSON.stringify(shapeOf(expected.type))) {
      differences.push(`${field.name} is ${describeType(field.type)} in the file, ${describeType(expected.type)} in the table`);
    } else if (field.nullable && !expected.nullable) differences.push(`${field.name} may be null in the file, not in the table`);
  }
  for (const field of table.fields) if (!inFile.has(field.name)) differences.push(`${field.name} (${describeType(field.type)}) is missing from the file`);
  return differences;
}

/** Whether any field, at any depth, carries one of these metadata keys (generation expressions, invariants…). */
export function usesFieldMetadata(type: DeltaType, keys: readonly string[]): string | undefined {
  if (typeof type === 'string') return undefined;
  if (type.type === 'array') return usesFieldMetadata(type.elementType, keys);
  if (type.type === 'map') return usesFieldMetadata(type.keyType, keys) ?? usesFieldMetadata(type.valueType, keys);
  for (const field of type.fields) {
    const key = keys.find((name) => Object.keys(field.metadata ?? {}).some((present) => present.startsWith(name)));
    if (key) return key;
    const nested = usesFieldMetadata(field.type, keys);
    if (nested) return nested;
  }
  return undefined;
}

/** Whether the type, at any depth, is this primitive (timestamp_ntz needs a table feature). */
export function containsType(type: DeltaType, primitive: string): boolean {
  if (typeof type === 'string') return type === primitive;
  if (type.type === 'array') return containsType(type.elementType, primitive);
  if (type.type === 'map') return containsType(type.keyType, primitive) || containsType(type.valueType, primitive);
  return type.fields.some((field) => containsType(field.type, primitive));
}
