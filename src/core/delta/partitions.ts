/**
 * Hive-style partition folders (`day=2024-01-15/`) and the values Delta keeps for them. A value is
 * written in the folder name with Hive's escaping (`:` → `%3A`…), as Spark and delta-rs write it, and
 * the add action's path is that key as a relative URI (so `%` itself becomes `%25`).
 */

/** Characters Hive escapes in a partition folder's name. */
const HIVE_ESCAPED = /[\u0000-\u001f"#%'*/:=?\\\u007f{[\]^]/g;

export function hiveEscape(text: string): string {
  return text.replace(HIVE_ESCAPED, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** `[['day', '2024-01-15'], ['hour', '07']]` → `day=2024-01-15/hour=07/`; none → ''. */
export function partitionFolder(values: Array<[string, string]>): string {
  return values.map(([column, value]) => `${hiveEscape(column)}=${hiveEscape(value)}/`).join('');
}

/** A key relative to the table's root as the relative URI an add action names it by. */
export function relativeUri(relative: string): string {
  return relative
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%3D/g, '='))
    .join('/');
}

/**
 * Why a partition value cannot be one of a column of this type, or undefined when it can. Values are
 * kept as text in the log; a reader parses them by the column's type.
 */
export function partitionValueProblem(value: string, type: string): string | undefined {
  if (value === '') return 'an empty value (null partitions are not supported)';
  switch (type) {
    case 'string':
      return undefined;
    case 'byte':
    case 'short':
    case 'integer':
    case 'long':
      return /^-?\d+$/.test(value) ? undefined : `the column is ${type}: give an integer`;
    case 'float':
    case 'double':
      return Number.isFinite(Number(value)) ? undefined : `the column is ${type}: give a number`;
    case 'boolean':
      return value === 'true' || value === 'false' ? undefined : 'the column is boolean: give true or false';
    case 'date':
      return /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value)) ? undefined : 'the column is a date: give YYYY-MM-DD';
    case 'timestamp':
    case 'timestamp_ntz':
      return /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/.test(value) ? undefined : `the column is ${type}: give YYYY-MM-DD HH:MM:SS[.ffffff]`;
    default:
      return type.startsWith('decimal(') ? (/^-?\d+(\.\d+)?$/.test(value) ? undefined : `the column is ${type}: give a decimal number`) : `a partition column of type ${type} is not supported`;
  }
}
