import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { UploadJournal } from '../../src/core/transfer/upload-journal.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { HashCache, type CachedHash } from '../../src/core/sync/hash-cache.js';
import { processTag } from '../../src/core/transfer/lock-file.js';
import type { LocalFile } from '../../src/core/transfer/local-tree.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function scratch(): string {
  const directory = mkdtempSync(join(tmpdir(), 'datalake-hash-cache-'));
  directories.push(directory);
  return directory;
}

/** Names in S3 key order, long and multi-byte so that lines straddle the reader's 256 KiB chunks. */
function entries(count: number): CachedHash[] {
  const old = Date.now() - 60_000;
  return Array.from({ length: count }, (_, index) => ({
    name: `dir/${String(index).padStart(6, '0')}-${'é'.repeat(40)}-日本.csv`,
    size: index,
    mtimeMs: old,
    ctimeMs: old,
    ino: 1000 + index,
    md5: index.toString(16).padStart(32, '0'),
    etags: [],
  }));
}

const fileOf = (entry: CachedHash): LocalFile => ({ name: entry.name, path: `/x/${entry.name}`, size: entry.size, mtimeMs: entry.mtimeMs, ctimeMs: entry.ctimeMs, ino: entry.ino });

describe('the sync hash cache', () => {
  it('reads back every entry written, across chunk boundaries and multi-byte characters', async () => {
    const path = join(scratch(), 'cache.jsonl');
    const written = entries(5000);
    expect(written.map((entry) => JSON.stringify(entry).length + 1).reduce((a, b) => a + b)).toBeGreaterThan(3 * 256 * 1024);

    const first = await HashCache.open(path, true);
    for (const entry of written) first.reserve()(entry);
    await first.close(true);

    const second = await HashCache.open(path, false);
    for (const entry of written) expect(await second.lookup(fileOf(entry))).toEqual(entry);
    await second.close(false);
  });

  it('skips names it has no entry for, misses changed files, and survives a damaged line and no final newline', async () => {
    const path = join(scratch(), 'cache.jsonl');
    const [a, b, c, d] = entries(4) as [CachedHash, CachedHash, CachedHash, CachedHash];
    writeFileSync(path, `${JSON.stringify(a)}\n{not json\n${JSON.stringify(c)}\n${JSON.stringify(d)}`);

    const cache = await HashCache.open(path, false);
    expect(await cache.lookup(fileOf(a))).toEqual(a);
    expect(await cache.lookup(fileOf(b))).toBeUndefined(); // the damaged line was b's place
    expect(await cache.lookup({ ...fileOf(c), size: c.size + 1 })).toBeUndefined();
    expect(await cache.lookup(fileOf(d))).toEqual(d);
    await cache.close(false);
    expect(readFileSync(path, 'utf8').endsWith(JSON.stringify(d))).toBe(true);
  });

  it('starts empty when there is no cache yet', async () => {
    const cache = await HashCache.open(join(scratch(), 'absent', 'cache.jsonl'), false);
    expect(await cache.lookup(fileOf(entries(1)[0]!))).toBeUndefined();
    await cache.close(false);
  });

  it('is written aside and renamed over, never through a link planted at the name it is written to first', async () => {
    const directory = scratch();
    const path = join(directory, 'cache.jsonl');
    const outside = join(directory, 'outside.txt');
    writeFileSync(outside, 'not yours');
    symlinkSync(outside, `${path}.${processTag()}.tmp`);
    const cache = await HashCache.open(path, true);
    cache.reserve()(entries(1)[0]);
    await cache.close(true);
    expect(readFileSync(outside, 'utf8')).toBe('not yours');
    expect(lstatSync(path).isFile()).toBe(true);
    expect(readdirSync(directory).sort()).toEqual(['cache.jsonl', 'outside.txt']);
  });
});

describe('copies written aside by runs that are gone', () => {
  it('are removed when the cache is next opened to write; a live run\'s copy is kept', async () => {
    const directory = scratch();
    const path = join(directory, 'cache.jsonl');
    const tag = processTag().split('-')[1];
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(`${path}.${dead}-${tag}.tmp`, 'left by a kill -9');
    writeFileSync(`${path}.${process.ppid}-${tag}.tmp`, 'a live run');
    const cache = await HashCache.open(path, true);
    await cache.close(true);
    expect(readdirSync(directory).sort()).toEqual(['cache.jsonl', `cache.jsonl.${process.ppid}-${tag}.tmp`]);
  });
});

describe('the upload journal', () => {
  it('writes its entries aside and renames them over, never through a planted link', async () => {
    const directory = scratch();
    const outside = join(directory, 'outside.txt');
    writeFileSync(outside, 'not yours');
    const journal = new UploadJournal(join(directory, 'uploads'));
    const entry = { bucket: 'b', key: 'k', path: '/data/f.bin', uploadId: 'u', partSize: 5, size: 10, mtimeMs: 1, ino: 2, md5: 'm', etagReflectsContent: true, partsDone: 0, startedAt: 'now' };
    await journal.record(entry);
    const [name] = readdirSync(join(directory, 'uploads'));
    symlinkSync(outside, join(directory, 'uploads', `${name}.${process.pid}.tmp`));
    await journal.record({ ...entry, partsDone: 1 });
    expect(readFileSync(outside, 'utf8')).toBe('not yours');
    expect(await journal.find({ bucket: 'b', key: 'k', path: '/data/f.bin' })).toMatchObject({ partsDone: 1 });
  });
});
