import { compareKeys } from '../s3/list.js';

/**
 * The names under links the walk did not enter (not followed, or leading back up the tree): the
 * destination's names at or under such a link are unseen on the source side, never missing from it.
 * Told each link as the march reaches it, then asked of every later name: names come in key order,
 * so a link whose names are all behind the current one is let go. Only links whose names may still
 * come are held (`sub` while `sub-notes.txt` and `sub.d/…` pass before `sub/…`), never the tree's.
 */
export class UnenteredLinks {
  private readonly links = new Set<string>();

  enter(name: string): void {
    this.links.add(name);
  }

  /** Whether `name` is one of the links or under one. */
  covers(name: string): boolean {
    let covered = false;
    for (const link of this.links) {
      if (name === link || name.startsWith(`${link}/`)) covered = true;
      // Past every name under it (`link/…` is one run of key order): it cannot cover anything any more.
      else if (compareKeys(name, `${link}/`) > 0) this.links.delete(link);
    }
    return covered;
  }
}
