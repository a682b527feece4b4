import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { walkLocalTree } from '../../src/core/transfer/local-tree.js';

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
