import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localPathFor } from '../../src/core/transfer/get-plan.js';
import mime from 'mime';
import { guessContentType, planPut, resolvePutDestination, resolvePutOptions, walkFiles } from '../../src/core/transfer/put-plan.js';
import { walkLocalTree } from '../../src/core/transfer/local-tree.js';
import { tryLock } from '../../src/core/transfer/lock-file.js';
import { isTemporaryDownloadName, privateTemporaryPath, temporaryDownloadPath } from '../../src/core/transfer/temporary-names.js';
import { openDownloadFile, type DownloadFile } from '../../src/core/transfer/download-claim.js';
import type { ObjectHead } from '../../src/core/s3/objects.js';
import { tempDirectory } from '../support/harness.js';

const work = tempDirectory('plans');
afterAll(() => work.remove());

describe('content types', () => {
  it('are what mime says for every kind of name, asked twice (the second answer from the cache)', () => {
    const names = ['a.csv', 'dir/b.CSV', 'x/y.parquet', 'z.json', 'README', 'dir/.csv', '.hidden', 'txt', 'a/txt', 'weird.', 'dir.d/noext', 'c:\\w\\a.png', 'a.tar.gz', 'a.unknownext'];
    for (const round of [1, 2]) {
      for (const name of names) expect([round, name, guessContentType(name)]).toEqual([round, name, mime.getType(name) ?? 'application/octet-stream']);
    }
  });
});

describe('put destinations', () => {
  it('reads the last positional as the destination', () => {
    expect(resolvePutDestination({ positionals: ['a.csv', 'b.csv', 's3://lake/raw/'] })).toEqual({
      sources: ['a.csv', 'b.csv'],
      destination: { kind: 'address', text: 's3://lake/raw/' },
    });
  });

  it('refuses --key with --zone, and --dataset without --zone', () => {
    expect(() => resolvePutDestination({ positionals: ['a'], key: 'k', zone: 'raw', dataset: 'd' })).toThrow(/--key and --zone/);
    expect(() => resolvePutDestination({ positionals: ['a'], dataset: 'd' })).toThrow(/need --zone/);
    expect(() => resolvePutDestination({ positionals: ['a'], zone: 'raw' })).toThrow(/needs --dataset/);
  });

  it('puts files of a tree under the prefix by relative path, and the layout uses it as {name}', async () => {
    const root = join(work.path, 'tree');
    mkdirSync(join(root, 'b'), { recursive: true });
    writeFileSync(join(root, 'z.csv'), 'z');
    writeFileSync(join(root, 'b', 'a.json'), '{}');
    const found: string[] = [];
    for await (const file of walkFiles(root)) found.push(file.name);
    expect(found).toEqual(['b/a.json', 'z.csv']);

    const items = await planPut({
      sources: [root],
      destination: { kind: 'layout', zone: 'raw', dataset: 'ds', date: { yyyy: '2024', mm: '01', dd: '15' } },
      recursive: true,
      bucket: 'lake',
      layout: '{zone}/{dataset}/year={yyyy}/month={mm}/day={dd}/{name}',
      contentType: undefined,
    });
    expect(items.map((item) => [item.ref.key, item.contentType])).toEqual([
      ['raw/ds/year=2024/month=01/day=15/b/a.json', 'application/json'],
      ['raw/ds/year=2024/month=01/day=15/z.csv', 'text/csv'],
    ]);
  });

  it('checks --meta, --tag, --storage-class and --sse', () => {
    expect(resolvePutOptions({ meta: ['owner=etl'], tag: ['team=data'], storageClass: 'standard_ia', sse: 'AES256' })).toMatchObject({
      metadata: { owner: 'etl' },
      tags: { team: 'data' },
      storageClass: 'STANDARD_IA',
      sse: 'AES256',
    });
    expect(() => resolvePutOptions({ meta: ['novalue'] })).toThrow(/--meta/);
    expect(() => resolvePutOptions({ meta: ['md5chksum=x'] })).toThrow(/reserved/);
    expect(() => resolvePutOptions({ storageClass: 'COLD' })).toThrow(/storage class/);
    expect(() => resolvePutOptions({ sse: 'rot13' })).toThrow(/--sse/);
    expect(() => resolvePutOptions({ sseKmsKeyId: 'k' })).toThrow(/needs --sse aws:kms/);
  });
});

describe('download paths', () => {
  const root = '/data/out';

  it('maps keys under the prefix to paths inside the destination', () => {
    expect(localPathFor(root, 'raw/', 'raw/a/b.csv')).toBe(resolve(root, 'a/b.csv'));
  });

  it.each(['raw/..notes.txt', 'raw/a/..b', 'raw/.../x', 'raw/...'])('accepts %j: a name that starts with dots is not `..`', (key) => {
    expect(localPathFor(root, 'raw/', key)).toBe(resolve(root, key.slice('raw/'.length)));
  });

  it.each(['raw/../../etc/passwd', 'raw/a/../../x', 'raw//abs', 'raw/./x', 'raw/'])('refuses %j, which would leave the destination', (key) => {
    expect(() => localPathFor(root, 'raw/', key)).toThrow(/outside/);
  });

  it.each(['raw/back\\slash.csv', 'raw/a\\..\\..\\x'])('refuses %j for its backslash (a folder separator on Windows), saying so', (key) => {
    expect(() => localPathFor(root, 'raw/', key)).toThrow(`key '${key}' has a backslash in its name, which datalake does not write as a file name (it separates folders on Windows); skipped`);
  });
});

describe('walks of a local tree', () => {
  it('leave out the partial files of downloads in progress, and nothing else that is hidden', async () => {
    const root = join(work.path, 'with-partials');
    mkdirSync(join(root, 'sub'), { recursive: true });
    for (const name of [
      '.a.csv.datalake-part',
      '.a.csv.datalake-part.json',
      '.a.csv.datalake-part.json.new',
      '.a.csv.datalake-part.json.4242-0a1b2c3d-3',
      '.a.csv.datalake-part.json.bak',
      '.a.csv.datalake-part.lock',
      '.a.csv.0a1b2c3d-7.datalake-part',
      '.a.csv.4242-0a1b2c3d-7.datalake-part',
      '.a.csv.datalake-part.lock.4242-0a1b2c3d-1',
      '.a.csv.datalake-part.lock.918273.takeover',
      'sub/.b.datalake-part',
      '.hidden',
      'a.csv',
      'sub/b',
      'datalake-part',
      'a.csv.datalake-part.lock',
    ]) {
      writeFileSync(join(root, name), 'x');
    }
    const fromPut: string[] = [];
    for await (const file of walkFiles(root)) fromPut.push(file.name);
    const fromSync: string[] = [];
    for await (const file of walkLocalTree(root, { followSymlinks: false })) fromSync.push(file.name);
    const expected = ['.a.csv.datalake-part.json.bak', '.hidden', 'a.csv', 'a.csv.datalake-part.lock', 'datalake-part', 'sub/b'];
    expect(fromPut).toEqual(expected);
    expect(fromSync).toEqual(expected);
  });
});

describe("put -r's order", () => {
  it("is S3's (UTF-8 bytes), the order sync walks, where UTF-16 code units would put 😀 (U+1F600) before ｆ (U+FF46)", async () => {
    const root = join(work.path, 'utf8-order');
    mkdirSync(join(root, 'd'), { recursive: true });
    for (const name of ['😀.csv', 'ｆ.csv', 'd/😀', 'd/ｆ', 'z.csv']) writeFileSync(join(root, name), 'x');
    const items = await planPut({ sources: [root], destination: { kind: 'address', text: 's3://lake/in/' }, recursive: true, bucket: undefined, layout: '', contentType: undefined });
    const keys = items.map((item) => item.ref.key);
    expect(keys).toEqual(['in/d/ｆ', 'in/d/😀', 'in/z.csv', 'in/ｆ.csv', 'in/😀.csv']);
    expect([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(keys);
    const fromSync: string[] = [];
    for await (const file of walkLocalTree(root, { followSymlinks: false })) fromSync.push(`in/${file.name}`);
    expect(keys).toEqual(fromSync);
  });
});

describe('temporary files of downloads', () => {
  const head = (size: number): ObjectHead => ({
    ref: { bucket: 'b', key: 'x.bin' },
    size,
    etag: '"e"',
    crc32: undefined,
    lastModified: undefined,
    metadata: {},
    contentType: undefined,
    serverSideEncryption: undefined,
    customerKey: false,
    storageClass: undefined,
  });
  const done = async (claim: DownloadFile) => {
    await claim.file.close();
    claim.forget();
    await claim.release();
  };

  it('the fixed name goes to one download at a time, its record beside it from the start; another gets a name of its own, then the lock is free again', async () => {
    const root = join(work.path, 'claims');
    mkdirSync(root, { recursive: true });
    const target = join(root, 'x.bin');
    const fixed = temporaryDownloadPath(target);
    const first = await openDownloadFile(target, { head: head(10), chunk: 4 });
    expect(first.path).toBe(fixed);
    expect(first.progress).toBeDefined();
    expect(JSON.parse(readFileSync(`${fixed}.json`, 'utf8'))).toMatchObject({ etag: '"e"', size: 10, chunk: 4, done: [], file: { ino: String(statSync(fixed, { bigint: true }).ino) } });
    const second = await openDownloadFile(target, { head: head(10), chunk: 4 });
    expect(second.progress).toBeUndefined();
    expect(second.path).not.toBe(first.path);
    expect(isTemporaryDownloadName(basename(second.path))).toBe(true);
    await done(second);
    rmSync(second.path);
    await done(first);
    // The same object again: its file and record taken up; another object: replaced by a new file.
    const again = await openDownloadFile(target, { head: head(10), chunk: 4 });
    expect(again.path).toBe(fixed);
    await done(again);
    const other = await openDownloadFile(target, { head: head(11), chunk: 4 });
    expect(other.path).toBe(fixed);
    await other.progress!.discard();
    await done(other);
    rmSync(fixed);
    expect(readdirSync(root)).toEqual([]);
  });

  it("a file at the fixed name that no record of datalake's names, or a record name that is not one, is left as it is: a name of its own instead", async () => {
    const root = join(work.path, 'not-ours');
    mkdirSync(root, { recursive: true });
    const target = join(root, 'x.bin');
    const fixed = temporaryDownloadPath(target);
    for (const [name, text] of [
      [fixed, 'the user keeps this here'],
      [`${fixed}.json`, '{"etag": "cut'],
    ]) {
      writeFileSync(name!, text!);
      const claim = await openDownloadFile(target, { head: head(10), chunk: 4 });
      expect(claim.path).not.toBe(fixed);
      expect(claim.progress).toBeUndefined();
      expect(claim.notOurs).toEqual([basename(name!)]);
      await done(claim);
      rmSync(claim.path);
      expect(readFileSync(name!, 'utf8')).toBe(text);
      expect(readdirSync(root)).toEqual([basename(name!)]);
      rmSync(name!);
    }
    // Made again at the name of a file a record of datalake's names: born at another time, not that file.
    const claim = await openDownloadFile(target, { head: head(10), chunk: 4 });
    await done(claim);
    rmSync(fixed);
    writeFileSync(fixed, 'the user keeps this here');
    const after = await openDownloadFile(target, { head: head(10), chunk: 4 });
    expect(after.notOurs).toEqual([basename(fixed)]);
    await done(after);
    rmSync(after.path);
    expect(readdirSync(root)).toEqual([basename(fixed)]);
  });

  it('a lock left by a process that is gone is taken over; one held by a live process is not', async () => {
    const root = join(work.path, 'stale-lock');
    mkdirSync(root, { recursive: true });
    const lock = join(root, 'a.lock');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(lock, JSON.stringify({ pid: gone, host: hostname() }));
    const taken = await tryLock(lock);
    expect(taken.acquired).toBe(true);
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid });
    expect(await tryLock(lock)).toEqual({ acquired: false, holder: expect.objectContaining({ pid: process.pid, host: hostname() }) });
    if (taken.acquired) await taken.release();
    expect(existsSync(lock)).toBe(false);
  });

  it('private names never repeat', () => {
    const names = new Set(Array.from({ length: 100 }, () => privateTemporaryPath('/d/x.bin')));
    expect(names.size).toBe(100);
  });
});
