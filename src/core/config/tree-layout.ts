/**
 * Where the lake layout puts the files of a tree — put -r's local folder, sync's, the objects under
 * cp -r's source prefix — each named in `{name}` by its path under the tree's root. One rule for the
 * three: a path that already has partitions of its own, a folder named Hive's way `name=value`
 * (`year=2026/month=01/part-0.parquet`, `dt=2026-01-01/f.csv`), keeps them and gets no date partition
 * from the layout (`raw/x/year=2026/month=01/part-0.parquet`); so does every file of a Delta table
 * whose files have such folders, its `_delta_log/` beside its partitions. Any other path is dated, as
 * a single file is (`raw/x/year=…/month=…/day=…/notes.txt`). A tree holding both is placed file by file.
 */
import { usageError } from '../errors.js';
import { renderLayoutKey, undatedLayout, type LayoutDate, type Zone } from './layout.js';

/** A folder named Hive's way: `name=value`, one `=` (an `=` in a file's own name is no partition). */
const PARTITION_FOLDER = /^[^=]+=[^=]*$/;
const DELTA_LOG = '_delta_log';

/** The partition folders of a path (`date=2026-01-01`, `region=eu`), in order. */
export function partitionFolders(name: string): string[] {
  return name.split('/').slice(0, -1).filter((segment) => PARTITION_FOLDER.test(segment));
}

/** The table root of a `_delta_log` entry (`''` for a table at the tree's root), else undefined. */
export function deltaTableRootOf(name: string): string | undefined {
  const segments = name.split('/');
  const index = segments.lastIndexOf(DELTA_LOG);
  if (index === -1 || index === segments.length - 1) return undefined;
  return segments.slice(0, index).join('/');
}

/**
 * What placing one file needs to know of the rest of its tree: which folders are Delta tables, and
 * which have a partition folder below them. Told every name of the tree (`note`), whatever
 * --exclude/--include leave out, since a table is placed whole.
 */
export class TreePartitions {
  private readonly tables = new Set<string>();
  /** Each folder (`''` the root) with a partition folder somewhere below it. */
  private readonly abovePartitions = new Set<string>();

  note(name: string): void {
    const table = deltaTableRootOf(name);
    if (table !== undefined) this.tables.add(table);
    const folders = name.split('/').slice(0, -1);
    let last = folders.length - 1;
    while (last >= 0 && !PARTITION_FOLDER.test(folders[last]!)) last -= 1;
    // Every folder above the deepest partition folder; when the nearest is known, so are the others.
    for (let depth = last; depth >= 0; depth -= 1) {
      const folder = folders.slice(0, depth).join('/');
      if (this.abovePartitions.has(folder)) break;
      this.abovePartitions.add(folder);
    }
  }

  /** Whether any file noted so far has a partition folder. */
  get any(): boolean {
    return this.abovePartitions.size > 0;
  }

  /**
   * Why a file keeps its path as it is under `{zone}/{dataset}/`, without a date partition: its own
   * partition folders, or those of the Delta table it belongs to. Undefined: it is dated.
   */
  ownPartitions(name: string): string | undefined {
    const own = partitionFolders(name);
    if (own.length > 0) return own.join('/');
    const table = this.tableOf(name);
    if (table !== undefined && this.abovePartitions.has(table)) return `its Delta table ${table === '' ? "at the tree's root" : `${table}/`} is partitioned`;
    return undefined;
  }

  /** The innermost Delta table a file is in, by the folders above it. */
  private tableOf(name: string): string | undefined {
    if (this.tables.size === 0) return undefined;
    const folders = name.split('/').slice(0, -1);
    for (let depth = folders.length; depth >= 0; depth -= 1) {
      const folder = folders.slice(0, depth).join('/');
      if (this.tables.has(folder)) return folder;
    }
    return undefined;
  }
}

/** The layout's destination of a run: the zone and dataset, and the date files without partitions of their own get. */
export interface LayoutTarget {
  template: string;
  zone: Zone;
  dataset: string;
  date: LayoutDate;
  /** Whether `date` was asked for (--date): a file with partitions of its own is then refused, as it would get a second date. */
  dateGiven: boolean;
}

/**
 * The key of one file of a tree, by its path under the tree's root (`name`); `source` names it in a
 * refusal. Dated unless it has partitions of its own (see TreePartitions.ownPartitions): then placed
 * through the layout without its date folders, or refused (exit 2) when --date was given or when a
 * date folder of the layout holds more than the date (undatedLayout).
 */
export function treeFileKey(target: LayoutTarget, name: string, partitions: TreePartitions, source: string): string {
  const own = partitions.ownPartitions(name);
  const input = { zone: target.zone, dataset: target.dataset, date: target.date, name };
  if (own === undefined) return renderLayoutKey(target.template, input);
  if (target.dateGiven) {
    throw usageError(`${source} has partitions of its own (${own}): --date would give it a second date`, 'leave out --date so such paths keep their own partitions, or narrow the sources with --exclude/--include');
  }
  const undated = undatedLayout(target.template);
  if (undated.kind === 'mixed') {
    throw usageError(
      `${source} has partitions of its own (${own}), and the layout '${target.template}' cannot leave its date out for it: its folder '${undated.folder}' holds more than the date`,
      'give a --layout whose date folders hold date placeholders alone (such as {zone}/{dataset}/year={yyyy}/{name}), an s3:// address instead of --zone, or narrow the sources with --exclude/--include',
    );
  }
  return renderLayoutKey(undated.template, input);
}
