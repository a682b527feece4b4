import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UnenteredLinks } from '../../src/core/sync/unentered-links.js';
import { walkLocalTree, whyUnreadable } from '../../src/core/transfer/local-tree.js';

const work = mkdtempSync(join(tmpdir(), 'datalake-local-tree-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a folder swapped for a symbolic link during the walk', () => {
  it('is not entered: it is reported as not followed, and nothing of where the link points is listed', async () => {
    const root = join(work, 'tree');
    const outside = join(work, 'outside');
    mkdirSync(join(root, 'a'), { recursive: true });
    mkdirSync(join(root, 'b'));
    mkdirSync(outside);
    writeFileSync(join(root, 'a', 'a01.txt'), 'in the tree');
    writeFileSync(join(root, 'b', 'b01.txt'), 'in the tree');
    writeFileSync(join(outside, 'secret.txt'), 'outside the tree');
    const unreadable: Array<[string, string | undefined]> = [];
    const walk = walkLocalTree(root, { followSymlinks: false, onUnreadable: (name, error) => unreadable.push([name, error.code]) });
    // The root is listed (b/ a folder then) and a/ walked: then b/ is swapped.
    const first = await walk.next();
    expect(first.value?.name).toBe('a/a01.txt');
    renameSync(join(root, 'b'), join(work, 'b.real'));
    symlinkSync(outside, join(root, 'b'));
    const rest: string[] = [];
    for await (const file of walk) rest.push(file.name);
    expect(rest).toEqual([]);
    expect(unreadable).toEqual([['b/', 'ELOOP']]);
  });

  it('a file listed is named with the inode it has in the tree', async () => {
    const root = join(work, 'inodes');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a', 'x.txt'), 'x');
    const files = [];
    for await (const file of walkLocalTree(root, { followSymlinks: false })) files.push(file);
    expect(files).toHaveLength(1);
    expect(files[0]!.ino).toBeGreaterThan(0);
    expect(files[0]!.dev).toBeTypeOf('number');
  });
});

describe('links --follow-symlinks cannot follow', () => {
  it('a link whose target is not there is reported under its own name, and the walk goes on', async () => {
    const root = join(work, 'dangling');
    mkdirSync(root);
    writeFileSync(join(root, 'a.txt'), 'a');
    symlinkSync(join(work, 'not-there'), join(root, 'sub'));
    writeFileSync(join(root, 'z.txt'), 'z');
    const unreadable: Array<[string, string]> = [];
    const names: string[] = [];
    for await (const file of walkLocalTree(root, { followSymlinks: true, onUnreadable: (name, error) => unreadable.push([name, whyUnreadable(name, error)]) })) names.push(file.name);
    expect(names).toEqual(['a.txt', 'z.txt']);
    expect(unreadable).toEqual([['sub', 'this symbolic link cannot be followed: its target is not there (ENOENT)']]);
  });

  it('a link back up the tree is listed as a link not followed (loopsBack), in its place as its own name', async () => {
    const root = join(work, 'loop');
    mkdirSync(join(root, 'in'), { recursive: true });
    writeFileSync(join(root, 'in', 'x.txt'), 'x');
    symlinkSync('..', join(root, 'in', 'up'));
    writeFileSync(join(root, 'in', 'up-notes.txt'), 'sorts after the link, before up/');
    const listed: Array<[string, boolean]> = [];
    for await (const file of walkLocalTree(root, { followSymlinks: true, listSkippedLinks: true })) listed.push([file.name, file.loopsBack === true]);
    expect(listed).toEqual([['in/up', true], ['in/up-notes.txt', false], ['in/x.txt', false]]);
  });
});

describe('UnenteredLinks', () => {
  it('covers a link and the names under it, not its siblings, as names come in key order', () => {
    const links = new UnenteredLinks();
    const covered: string[] = [];
    for (const name of ['sub', 'sub-notes.txt', 'sub.d', 'sub.d/d1.txt', 'sub/s1.txt', 'sub/t/s2.txt', 'sub0', 'subway/x']) {
      if (name === 'sub' || name === 'sub.d') links.enter(name);
      else if (links.covers(name)) covered.push(name);
    }
    expect(covered).toEqual(['sub.d/d1.txt', 'sub/s1.txt', 'sub/t/s2.txt']);
  });
});
