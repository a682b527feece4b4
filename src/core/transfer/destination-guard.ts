/**
 * The destination of a recursive get or a sync down, kept from being written through a symbolic link
 * or outside itself: the folders a download writes in are held open, proven, and found again at their
 * path before each use (DestinationGuard). get-plan.ts decides where each object lands; this file
 * decides how its folder is reached.
 */
import { constants, lstat, mkdir, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { pathOfOpen } from './listed-file.js';
import { failure } from '../errors.js';

/**
 * Keeps downloads under a root from being written through a symbolic link inside it (`dest/logs ->
 * /etc`): every existing folder between the root and the file must be a real folder. Folders already
 * checked are remembered for the run. Folders a file is created in are held open while in use (and a
 * few after), each proven once when opened; `close` lets them go at the end of the run.
 */
export class DestinationGuard {
  private readonly checked = new Set<string>();
  private readonly root: string;
  private realRoot: Promise<string> | undefined;
  /** Folders held open, proven to be the real folder under the root when opened; least recently used first. */
  private readonly held = new Map<string, HeldFolder>();
  /** Folders made or found real by `reach`. */
  private readonly made = new Set<string>();
  /** Walks about to start, by folder: joined by every file that asks before they do. */
  private readonly nextLooks = new Map<string, Promise<{ ino: number; dev: number } | undefined>>();
  /** close() was called: folders are no longer kept once unused. */
  private closing = false;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * `fresh` looks at every folder again, remembered or not: just before a file is renamed into place or
   * deleted, so that a folder replaced by a link since the first look is caught (what is left is the
   * moment between this look and that one call).
   */
  async check(target: string, options: { fresh?: boolean } = {}): Promise<void> {
    await this.lookAt(target, options);
  }

  /** check's walk; returns what the target's own folder is now, when it was looked at (and exists). */
  private async lookAt(target: string, options: { fresh?: boolean }): Promise<{ ino: number; dev: number } | undefined> {
    let current = this.root;
    let last: { ino: number; dev: number } | undefined;
    for (const segment of relative(this.root, dirname(resolve(target))).split(sep).filter(Boolean)) {
      current = join(current, segment);
      last = undefined;
      if (!options.fresh && this.checked.has(current)) continue;
      const info = await lstat(current).catch(() => undefined);
      if (!info) return undefined; // not there yet: it will be created as a real folder
      if (!info.isDirectory()) {
        throw failure(`${current} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; nothing is written through it`, { hint: 'remove it or choose another destination' });
      }
      this.checked.add(current);
      last = info;
    }
    return last;
  }

  /**
   * Runs `use` with a path to `path`'s name inside its folder as that folder is at this moment, once it
   * is proven to be the real folder under the root: a folder swapped for a link leads elsewhere, and
   * nothing is created there, not even for a moment. On Linux the folder is held open and `use`
   * reaches the name through it (/proc/self/fd), so a swap after the proof leads nowhere either. The
   * folder is proven with its real path once when it is opened; for each later file, by looking at
   * every folder from the root down again (real folders, no link) and finding the one held open at
   * the end. Elsewhere the folder is proven again for each file and the path is used as it is.
   */
  async within<T>(path: string, use: (reachable: string, confirm: () => Promise<void>) => Promise<T>): Promise<T> {
    const folder = dirname(resolve(path));
    if (!DESCRIPTOR_PATHS) {
      // No path through an open folder here: the folder is proven again for each file.
      const handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        await this.prove(folder, handle);
      } finally {
        await handle.close();
      }
      return use(path, () => this.check(path, { fresh: true }));
    }
    let { entry, reused } = await this.hold(folder);
    if (reused) {
      let still: boolean;
      try {
        still = await this.stillHeld(folder, entry);
      } catch (error) {
        // A link on the way: this folder is let go, its descriptor closed.
        this.forget(folder, entry);
        this.release(folder, entry);
        throw error;
      }
      if (!still) {
        // Not the folder held open any more (moved, replaced): let it go and prove what is there now.
        this.forget(folder, entry);
        this.release(folder, entry);
        ({ entry } = await this.hold(folder));
      }
    }
    const held = entry;
    const confirm = async () => {
      if (!(await this.stillHeld(folder, held))) {
        throw failure(`${folder} was moved or replaced during the run; nothing is placed there`, { hint: 'something changed the destination during the run; run it again once it is settled' });
      }
    };
    try {
      return await use(held.reachable === folder ? path : join(held.reachable, basename(path)), confirm);
    } catch (error) {
      throw namingTheFolder(error, held.reachable, folder);
    } finally {
      this.release(folder, held);
    }
  }

  /**
   * Makes the folders between the root and `target` that are not there yet, each inside the folder
   * above it as held open and found again at its path (never through a folder swapped for a link),
   * and runs `work` with a path to `target` through its folder held open, and a `confirm` that fails
   * unless that folder is still the one at `target`'s path (just before a file is renamed into place).
   */
  async reach<T>(target: string, work: (reachable: string, confirm: () => Promise<void>) => Promise<T>): Promise<T> {
    await this.makeFolders(target);
    return this.within(target, work);
  }

  private async makeFolders(target: string): Promise<void> {
    const folder = dirname(resolve(target));
    if (this.made.has(folder)) return;
    if (!this.made.has(this.root)) {
      // The destination itself is the user's to name: made by its path.
      await mkdir(this.root, { recursive: true });
      this.made.add(this.root);
    }
    let current = this.root;
    for (const segment of relative(this.root, folder).split(sep).filter(Boolean)) {
      const next = join(current, segment);
      if (!this.made.has(next)) {
        const info = await lstat(next).catch(() => undefined);
        if (!info) {
          await this.within(next, (reachable) =>
            mkdir(reachable).catch((error: NodeJS.ErrnoException) => {
              if (error.code !== 'EEXIST') throw error;
            }),
          );
        }
        const now = info ?? (await lstat(next));
        if (!now.isDirectory()) {
          throw failure(`${next} is ${now.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; nothing is written through it`, { hint: 'remove it or choose another destination' });
        }
        this.made.add(next);
      }
      current = next;
    }
  }

  /** Drops `entry` from the folders held (closed once nobody uses it). */
  private forget(folder: string, entry: HeldFolder): void {
    if (this.held.get(folder) === entry) this.held.delete(folder);
  }

  /**
   * Lets every held folder go: closed now if no file is being made in it, else once the last one is
   * done. A download still running at an interrupt keeps its folder open to the end, so that what it
   * made there (reached through that folder) can still be removed as the process exits. The guard
   * can still be used: folders are opened and proven again.
   */
  async close(): Promise<void> {
    this.closing = true;
    const entries = [...this.held.values()];
    this.held.clear();
    await Promise.all(entries.filter((entry) => entry.users === 0).map(async (entry) => (await entry.opened.catch(() => undefined))?.close().catch(() => undefined)));
  }

  /** Whether the path from the root to `folder` is real folders only, ending at the folder held open. */
  private async stillHeld(folder: string, entry: HeldFolder): Promise<boolean> {
    const now = await this.lookStartingAfterNow(folder);
    return now !== undefined && now.ino === entry.identity.ino && now.dev === entry.identity.dev;
  }

  /**
   * What is at `folder`'s path, found by a walk from the root that starts after this call. Files
   * asking about the same folder in one turn of the event loop (answers that arrived together, each
   * about to create or rename its file) share one walk, started once they have all asked: each still
   * gets a look taken after it asked, at a fraction of the system calls.
   */
  private lookStartingAfterNow(folder: string): Promise<{ ino: number; dev: number } | undefined> {
    let look = this.nextLooks.get(folder);
    if (!look) {
      look = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        // Callers from now on wait for a walk of their own.
        this.nextLooks.delete(folder);
        return folder === this.root ? stat(folder).catch(() => undefined) : this.lookAt(join(folder, '-'), { fresh: true });
      });
      this.nextLooks.set(folder, look);
    }
    return look;
  }

  private async hold(folder: string): Promise<{ entry: HeldFolder; reused: boolean }> {
    let entry = this.held.get(folder);
    const reused = entry !== undefined;
    if (entry) {
      // Most recently used last.
      this.held.delete(folder);
    } else {
      const opened = open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
      const proven = opened.then(async (handle) => ({ reachable: await this.prove(folder, handle), identity: await handle.stat() }));
      entry = { opened, proven, users: 0, reachable: folder, identity: { ino: -1, dev: -1 } };
    }
    this.held.set(folder, entry);
    entry.users += 1;
    try {
      ({ reachable: entry.reachable, identity: entry.identity } = await entry.proven);
    } catch (error) {
      this.release(folder, entry);
      // A folder that failed its proof is not kept: the next file looks again.
      if (this.held.get(folder) === entry) this.held.delete(folder);
      void entry.opened.then((handle) => handle.close()).catch(() => undefined);
      throw error;
    }
    this.evictIdle();
    return { entry, reused };
  }

  private async prove(folder: string, handle: FileHandle): Promise<string> {
    this.realRoot ??= realpath(this.root);
    const expected = join(await this.realRoot, relative(this.root, folder));
    const reachable = pathOfOpen(handle, folder);
    if ((await realpath(reachable)) !== expected) {
      throw failure(`${folder} is reached through a symbolic link now; nothing is written through it`, { hint: 'something changed the destination during the run; run it again once it is settled' });
    }
    return reachable;
  }

  private release(folder: string, entry: HeldFolder): void {
    entry.users -= 1;
    if (entry.users > 0) return;
    // After close(), a folder taken up by a download still under way is let go once it is done.
    if (this.closing) this.forget(folder, entry);
    if (this.held.get(folder) !== entry) void entry.opened.then((handle) => handle.close()).catch(() => undefined);
  }

  /** Closes the least recently used folders no file is being created in, past HELD_FOLDERS. */
  private evictIdle(): void {
    if (this.held.size <= HELD_FOLDERS) return;
    for (const [folder, entry] of this.held) {
      if (this.held.size <= HELD_FOLDERS) break;
      this.held.delete(folder);
      if (entry.users === 0) void entry.opened.then((handle) => handle.close()).catch(() => undefined);
    }
  }
}

/**
 * A system error about a name reached through an open folder (`/proc/self/fd/N/name`) says the
 * folder's path instead, as the user knows it.
 */
function namingTheFolder(error: unknown, reachable: string, folder: string): unknown {
  if (reachable === folder || typeof error !== 'object' || error === null) return error;
  const record = error as { message?: unknown; path?: unknown; dest?: unknown };
  const real = (text: string) => text.split(`${reachable}/`).join(`${folder}/`);
  if (typeof record.message === 'string') record.message = real(record.message);
  if (typeof record.path === 'string') record.path = real(record.path);
  if (typeof record.dest === 'string') record.dest = real(record.dest);
  return error;
}

/** A folder held open by a DestinationGuard, and how many creations use it now. */
interface HeldFolder {
  opened: Promise<FileHandle>;
  /** Settles once the open folder is proven to be the real folder under the root. */
  proven: Promise<{ reachable: string; identity: { ino: number; dev: number } }>;
  /** The path through the open folder, and its inode and device, once proven. */
  reachable: string;
  identity: { ino: number; dev: number };
  users: number;
}

/**
 * Folders held open at once: a recursive get or sync goes through the keys in order, so a file's
 * folder is nearly always one of the last few used.
 */
const HELD_FOLDERS = 16;

/** Whether an open folder can be reached by a path (/proc/self/fd/N on Linux). */
const DESCRIPTOR_PATHS = pathOfOpen({ fd: 0 }, '') !== '';
