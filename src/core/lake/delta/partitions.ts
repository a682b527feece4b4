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

/** The range of each Delta integer type. */
const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  byte: [-(2n ** 7n), 2n ** 7n - 1n],
  short: [-(2n ** 15n), 2n ** 15n - 1n],
  integer: [-(2n ** 31n), 2n ** 31n - 1n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
};

/** A decimal number as Delta readers parse one: no hex, no spaces, no Infinity. */
const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Why a partition value cannot be one of a column of this type, or undefined when it can. Values are
 * kept as text in the log and a reader parses them by the column's type; a value it cannot parse
 * makes the whole table unreadable, so the rules are the readers' (ranges, calendar dates, digits).
 */
export function partitionValueProblem(value: string, type: string): string | undefined {
  if (value === '') return 'an empty value (null partitions are not supported)';
  const range = INTEGER_RANGES[type];
  if (range) {
    if (!/^-?\d+$/.test(value)) return `the column is ${type}: give an integer`;
    const number = BigInt(value);
    return number >= range[0] && number <= range[1] ? undefined : `the column is ${type}: give an integer from ${range[0]} to ${range[1]}`;
  }
  switch (type) {
    case 'string':
      return undefined;
    case 'float':
    case 'double': {
      if (!DECIMAL_NUMBER.test(value) || !Number.isFinite(Number(value))) return `the column is ${type}: give a decimal number`;
      // What a reader stores must be the number given: not rounded to infinity or to zero.
      const stored = type === 'float' ? Math.fround(Number(value)) : Number(value);
      const zero = /^[+-]?(0*\.?0*)([eE][+-]?\d+)?$/.test(value);
      return Number.isFinite(stored) && (stored !== 0 || zero) ? undefined : `the column is ${type}: ${value} is out of its range (it would be read as ${stored})`;
    }
    case 'boolean':
      return value === 'true' || value === 'false' ? undefined : 'the column is boolean: give true or false';
    case 'date':
      // From year 1: deltalake's Python readers (Python's datetime.date) cannot load a year-0 date.
      return isCalendarDate(value) && !value.startsWith('0000-') ? undefined : 'the column is a date: give YYYY-MM-DD, a day that exists, from 0001-01-01';
    case 'timestamp':
    case 'timestamp_ntz': {
      // A space between date and time, as the protocol writes it: deltalake (delta-kernel) refuses
      // `T` without a zone, which would make the whole table unreadable.
      const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$/.exec(value);
      const valid = match !== null && isCalendarDate(match[1]!) && Number(match[2]) <= 23 && Number(match[3]) <= 59 && Number(match[4]) <= 59;
      return valid ? undefined : `the column is ${type}: give YYYY-MM-DD HH:MM:SS[.ffffff], a time that exists`;
    }
    default: {
      const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type);
      if (!decimal) return `a partition column of type ${type} is not supported`;
      const [precision, scale] = [Number(decimal[1]), Number(decimal[2])];
      const digits = /^[+-]?(\d+)(?:\.(\d+))?$/.exec(value);
      const whole = digits?.[1]!.replace(/^0+(?=\d)/, '') ?? '';
      const fits = digits !== null && (whole === '0' ? 0 : whole.length) <= precision - scale && (digits[2]?.length ?? 0) <= scale;
      if (!fits) return `the column is ${type}: give a number with at most ${precision - scale} digits before the point and ${scale} after`;
      // Exactly `scale` digits after the point: deltalake refuses `1.5` for decimal(5,2), and one
      // such value makes the whole table unreadable. (Fewer is all that is left: more did not fit.)
      // deltalake reads a negative value with a fraction (`-1.50`) as `-1.-50` and then cannot load the table.
      if (value.startsWith('-') && /[1-9]/.test(digits[2] ?? '')) return `the column is ${type}: deltalake cannot read a negative partition value with a fraction (${value})`;
      if ((digits[2]?.length ?? 0) === scale) return undefined;
      const written = `${value.startsWith('-') ? '-' : ''}${digits[1]}.${(digits[2] ?? '').padEnd(scale, '0')}`;
      return `the column is ${type}: write exactly ${scale} digits after the point (${written})`;
    }
  }
}

/** `YYYY-MM-DD` naming a day that exists (2024-02-29 does, 2023-02-29 and 2024-04-31 do not). */
function isCalendarDate(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return month >= 1 && month <= 12 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
