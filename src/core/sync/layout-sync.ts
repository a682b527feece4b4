/**
 * A sync into the lake layout (`--zone`): each file goes to the key put -r gives it
 * (config/tree-layout.ts) — under the run's date folder, or, with partitions of its own, as it is
 * under `{zone}/{dataset}/` — and is compared with the object at that key. Names stay the local
 * tree's (filters, shards, the hash cache, Delta ordering read them as before); the remote side is
 * listed from both places and each object named by the file that would be sent to it.
 */
import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { usageError } from '../errors.js';
import { parseLayoutKey, renderLayoutPrefix, undatedLayout } from '../config/layout.js';
import { treeFileKey, TreePartitions, type LayoutTarget } from '../config/tree-layout.js';
import type { TransferContext } from '../s3/context.js';
import { walkLocalTree } from '../transfer/local-tree.js';
import type { RemoteFile } from './compare.js';
import { listRemoteFiles, mergeListings } from './remote-listing.js';

export interface LayoutSync {
  bucket: string;
  target: LayoutTarget;
  /** Where files without partitions of their own go: the layout's prefix for the run's date. */
  datedRoot: string;
  /** Where files with partitions of their own go (the layout without its date folders), when the tree has any. */
  undatedRoot: string | undefined;
  partitions: TreePartitions;
  /**
   * The run's date folder as a path of the tree (`year=2026/month=12/day=03/`), when the layout puts
   * it under the undated root: a file of the tree under that path, with partitions of its own, lands
   * where a file without would (`year=…/day=03/a.csv` and `a.csv` both on `raw/x/year=…/day=03/a.csv`).
   */
  datedFolder: string | undefined;
  /** The paths under `datedFolder` of such files, the filters let through: the objects there are theirs. */
  ownInDatedFolder: Set<string>;
  localRoot: string;
}

/**
 * Reads the tree once, names only, before anything is compared or sent: whether it has partitions of
 * its own, its Delta tables, and what to refuse (exit 2): --date, or a layout whose date folders
 * cannot be left out, for a file with partitions of its own; two files on one key.
 */
export async function planLayoutSync(args: { bucket: string; target: LayoutTarget; localRoot: string; followSymlinks: boolean; includeName: (name: string) => boolean }): Promise<LayoutSync> {
  const { target, localRoot } = args;
  const datedRoot = renderLayoutPrefix(target.template, target);
  const undated = undatedLayout(target.template);
  const undatedRoot = undated.kind === 'undated' ? renderLayoutPrefix(undated.template, target) : undefined;
  const datedFolder = undatedRoot !== undefined && datedRoot !== undatedRoot && datedRoot.startsWith(undatedRoot) ? datedRoot.slice(undatedRoot.length) : undefined;

  const partitions = new TreePartitions();
  let firstPartitioned: string | undefined;
  const underDatedFolder: string[] = [];
  // Unreadable folders are the sync's to report, as it walks; here they are only not read.
  for await (const file of walkLocalTree(localRoot, { followSymlinks: args.followSymlinks, onUnreadable: () => undefined })) {
    partitions.note(file.name);
    if (!args.includeName(file.name)) continue;
    if (firstPartitioned === undefined && partitions.ownPartitions(file.name) !== undefined) firstPartitioned = file.name;
    if (datedFolder !== undefined && file.name.startsWith(datedFolder)) underDatedFolder.push(file.name.slice(datedFolder.length));
  }
  // The refusals of put -r and cp -r, for the first such file, before anything is sent.
  if (firstPartitioned !== undefined) treeFileKey(target, firstPartitioned, partitions, join(localRoot, firstPartitioned));

  const layout: LayoutSync = { bucket: args.bucket, target, datedRoot, undatedRoot: partitions.any ? undatedRoot : undefined, partitions, datedFolder, ownInDatedFolder: new Set(), localRoot };
  for (const rest of underDatedFolder) {
    const name = `${datedFolder}${rest}`;
    if (partitions.ownPartitions(name) === undefined || partitions.ownPartitions(rest) !== undefined) continue;
    layout.ownInDatedFolder.add(rest);
    const flat = await lstat(join(localRoot, rest)).catch(() => undefined);
    if (flat && !flat.isDirectory() && args.includeName(rest)) {
      throw usageError(
        `${join(localRoot, rest)} and ${join(localRoot, name)} would both be uploaded to ${formatS3Url({ bucket: args.bucket, key: `${datedRoot}${rest}` })}: the layout puts files without partitions of their own in the folder ${datedFolder} the tree has too; nothing was uploaded`,
        'rename or move one of them, or leave one out with --exclude',
      );
    }
  }
  return layout;
}

/** The key a file of the tree is sent to. */
export function layoutKeyOf(layout: LayoutSync, name: string): string {
  return treeFileKey(layout.target, name, layout.partitions, join(layout.localRoot, name));
}

/**
 * The objects that files of the tree would be sent to, as one listing sorted by the name of that
 * file: those under the run's date folder named by their path there, those under the undated root
 * (only listed when the tree has partitions of its own) by theirs. Any other object is not this
 * run's: never compared, never deleted. Under the undated root, an object in a date folder the
 * layout made for another run (`year=2026/month=12/day=02/`) that the tree does not have is marked
 * `leaveAlone`: it is compared with a file of that name, never deleted.
 */
export function layoutRemoteFiles(ctx: TransferContext, layout: LayoutSync): AsyncGenerator<RemoteFile> {
  const dated = onlyWhere(listRemoteFiles(ctx, { bucket: layout.bucket, key: layout.datedRoot }), async (entry) => (isDated(layout, entry.name) ? entry : undefined));
  if (layout.undatedRoot === undefined) return dated;
  const localFolders = new Map<string, Promise<boolean>>();
  const undated = onlyWhere(listRemoteFiles(ctx, { bucket: layout.bucket, key: layout.undatedRoot }), async (entry) => {
    const { datedFolder } = layout;
    // The run's own date folder: its objects are the dated listing's, unless a file of the tree with partitions of its own claims them.
    if (datedFolder !== undefined && entry.name.startsWith(datedFolder) && isDated(layout, entry.name.slice(datedFolder.length))) return undefined;
    if (layout.partitions.ownPartitions(entry.name) === undefined) return undefined;
    const folder = anotherRunsFolder(layout, entry.ref);
    if (folder === undefined) return entry;
    let present = localFolders.get(folder);
    if (present === undefined) {
      present = stat(join(layout.localRoot, folder)).then((info) => info.isDirectory(), () => false);
      localFolders.set(folder, present);
    }
    return (await present) ? entry : { ...entry, leaveAlone: true };
  });
  return mergeListings(dated, undated);
}

/** Whether a path under the run's date folder is the object of a file without partitions of its own. */
function isDated(layout: LayoutSync, rest: string): boolean {
  return layout.partitions.ownPartitions(rest) === undefined && !layout.ownInDatedFolder.has(rest);
}

/** The date folder of an object the layout made for a date (`year=…/month=…/day=…/`, relative to the undated root), else undefined. */
function anotherRunsFolder(layout: LayoutSync, ref: ObjectRef): string | undefined {
  const parsed = parseLayoutKey(layout.target.template, ref.key);
  if (!parsed || parsed.zone !== layout.target.zone || parsed.dataset !== layout.target.dataset) return undefined;
  if (parsed.date.yyyy === '' || parsed.date.mm === '' || parsed.date.dd === '') return undefined;
  const root = layout.undatedRoot ?? '';
  return ref.key.startsWith(root) ? ref.key.slice(root.length, ref.key.length - parsed.name.length) : undefined;
}

/** The entries of a listing `keep` gives back (as they are, or marked), in their order. */
async function* onlyWhere(entries: AsyncIterable<RemoteFile>, keep: (entry: RemoteFile) => Promise<RemoteFile | undefined>): AsyncGenerator<RemoteFile> {
  for await (const entry of entries) {
    const kept = await keep(entry);
    if (kept) yield kept;
  }
}
