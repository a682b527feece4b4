import { usageError } from '../errors.js';
import { CONTROL_CHARACTER, CONTROL_CHARACTER_HINT } from './address.js';

export const ZONES = ['raw', 'processed', 'analytics'] as const;
export type Zone = (typeof ZONES)[number];

export const DEFAULT_LAYOUT = '{zone}/{dataset}/year={yyyy}/month={mm}/day={dd}/{name}';

const PLACEHOLDERS = new Set(['zone', 'dataset', 'yyyy', 'mm', 'dd', 'name']);

export interface LayoutDate {
  yyyy: string;
  mm: string;
  dd: string;
}

export interface LayoutInput {
  zone: Zone;
  dataset: string;
  date: LayoutDate;
  /** The file's base name, or its path relative to the synced root. */
  name: string;
}

export function parseZone(text: string): Zone {
  if ((ZONES as readonly string[]).includes(text)) return text as Zone;
  throw usageError(`invalid zone '${text}'`, `use one of ${ZONES.join(', ')}`);
}

/** Strict YYYY-MM-DD that is a real calendar day. */
export function parseLayoutDate(text: string): LayoutDate {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (match) {
    const [, yyyy, mm, dd] = match as unknown as [string, string, string, string];
    const date = new Date(Date.UTC(Number(yyyy), Number(mm) - 1, Number(dd)));
    if (date.getUTCFullYear() === Number(yyyy) && date.getUTCMonth() === Number(mm) - 1 && date.getUTCDate() === Number(dd)) {
      return { yyyy, mm, dd };
    }
  }
  throw usageError(`invalid date '${text}'`, 'use YYYY-MM-DD, e.g. 2024-01-15');
}

export function todayUtc(now: Date = new Date()): LayoutDate {
  return {
    yyyy: String(now.getUTCFullYear()).padStart(4, '0'),
    mm: String(now.getUTCMonth() + 1).padStart(2, '0'),
    dd: String(now.getUTCDate()).padStart(2, '0'),
  };
}

export function validateDataset(dataset: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._=-]*$/.test(dataset)) {
    throw usageError(`invalid dataset '${dataset}'`, 'use letters, digits, dots, underscores, hyphens or =, no slashes');
  }
}

/**
 * Checks a layout template once, before any key is rendered from it: its placeholders, and no control
 * character (what it adds to a name is a key datalake makes, which validateNewKey would refuse).
 */
export function validateLayout(template: string): void {
  if (CONTROL_CHARACTER.test(template)) {
    throw usageError(`invalid layout '${template}': control characters are not allowed in a key datalake makes`, CONTROL_CHARACTER_HINT);
  }
  const names = [...template.matchAll(/\{([^}]*)\}/g)].map((match) => match[1] ?? '');
  const unknown = names.find((name) => !PLACEHOLDERS.has(name));
  if (unknown !== undefined) {
    throw usageError(`invalid layout '${template}': unknown placeholder {${unknown}}`, `use ${[...PLACEHOLDERS].map((p) => `{${p}}`).join(' ')}`);
  }
  if (!names.includes('name')) throw usageError(`invalid layout '${template}': it must contain {name}`);
}

/** Renders the key for one file: `raw/reddit/year=2024/month=01/day=15/events.csv` by default. */
export function renderLayoutKey(template: string, input: LayoutInput): string {
  const values: Record<string, string> = {
    zone: input.zone,
    dataset: input.dataset,
    yyyy: input.date.yyyy,
    mm: input.date.mm,
    dd: input.date.dd,
    name: input.name,
  };
  return template.replace(/\{([^}]*)\}/g, (_, name: string) => values[name] ?? '');
}

/** The layout for keys with partitions of their own: its date folders left out, or the folder that cannot be. */
export type UndatedLayout = { kind: 'undated'; template: string } | { kind: 'mixed'; folder: string };

/** A folder that is a date partition and nothing else: date placeholders, separators, at most a `name=` in front. */
const DATE_FOLDER = /^(?:[A-Za-z_][A-Za-z0-9_]*=)?(?:\{(?:yyyy|mm|dd)\}|[-_.])+$/;

/**
 * The layout without its date partitions, for keys that bring partitions of their own. Only a folder
 * that holds the date alone (`{yyyy}`, `year={yyyy}`, `{yyyy}-{mm}-{dd}`, `dt={yyyy}{mm}{dd}`) can
 * be left out: one that mixes the date with `{zone}`, `{dataset}`, `{name}` or other text would take
 * those with it, and keys of different zones or datasets would land on one another. That folder is
 * named instead.
 */
export function undatedLayout(template: string): UndatedLayout {
  const folders = template.split('/');
  const dated = folders.filter((folder) => /\{(?:yyyy|mm|dd)\}/.test(folder));
  const mixed = dated.find((folder) => !DATE_FOLDER.test(folder));
  if (mixed !== undefined) return { kind: 'mixed', folder: mixed };
  return { kind: 'undated', template: folders.filter((folder) => !dated.includes(folder)).join('/') };
}

/**
 * The prefix under which the layout puts every file of one zone, dataset and date: the template up
 * to `{name}`. Sync uses it as its remote root.
 */
export function renderLayoutPrefix(template: string, input: Omit<LayoutInput, 'name'>): string {
  const head = template.slice(0, template.indexOf('{name}'));
  return renderLayoutKey(head + '{name}', { ...input, name: '' });
}

/**
 * Reads a key back through the layout: the zone, dataset, date and name it was rendered from, or
 * undefined when the key does not follow the template. `cp --zone` uses it to move an object to
 * another zone or dataset while keeping its partition date and name.
 */
export function parseLayoutKey(template: string, key: string): LayoutInput | undefined {
  const seen = new Set<string>();
  let pattern = '';
  let last = 0;
  for (const match of template.matchAll(/\{([^}]*)\}/g)) {
    pattern += escapeRegExp(template.slice(last, match.index));
    const name = match[1] ?? '';
    pattern += seen.has(name) ? `\\k<${name}>` : `(?<${name}>${LAYOUT_PATTERNS[name] ?? '[^/]+'})`;
    seen.add(name);
    last = match.index + match[0].length;
  }
  pattern += escapeRegExp(template.slice(last));
  const groups = new RegExp(`^${pattern}$`).exec(key)?.groups;
  if (!groups?.name || !groups.zone || !groups.dataset) return undefined;
  const date = { yyyy: groups.yyyy ?? '', mm: groups.mm ?? '', dd: groups.dd ?? '' };
  if (groups.yyyy && groups.mm && groups.dd && !isCalendarDay(date)) return undefined;
  return { zone: groups.zone as Zone, dataset: groups.dataset, date, name: groups.name };
}

const LAYOUT_PATTERNS: Record<string, string> = { zone: ZONES.join('|'), dataset: '[^/]+', yyyy: '\\d{4}', mm: '\\d{2}', dd: '\\d{2}', name: '.+' };

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isCalendarDay(date: LayoutDate): boolean {
  try {
    parseLayoutDate(`${date.yyyy}-${date.mm}-${date.dd}`);
    return true;
  } catch {
    return false;
  }
}
