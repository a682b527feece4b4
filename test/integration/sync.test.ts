import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { hostname } from 'node:os';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { fileNameFor } from '../../src/core/config/state-paths.js';
import { createTestBucket, emptyAndDeleteBucket, expectRunFailedAsAWhole, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';
import { runPython } from '../support/python.js';

interface SyncJson {
  transferred: number;
  skipped: number;
  deleted: number;
  failed: number;
  bytes: number;
  errors: Array<{ name: string; error: string }>;
}

const MiB = 1024 ** 2;
const work = tempDirectory('sync');
// The tree every test starts from, made once and never changed: a test that changes files works on a copy.
const tree = join(work.path, 'tree');
/** A state directory (hash cache, locks) of a test's own, so that no test inherits another's. */
const stateOf = (label: string) => join(work.path, label, 'state');
const env = (state: string) => s3Env({ DATALAKE_CACHE_DIR: join(state, 'cache'), DATALAKE_STATE_DIR: join(state, 'state') });
let client: S3Client;
let bucket: string;
// The tree synced once before the tests (beforeAll), for the tests that only read a synced prefix.
let baseline: string;
const baselineState = stateOf('baseline');

function filesUnder(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) found.push(relative(root, path).split('\\').join('/'));
    }
  };
  walk(root);
  return found.sort();
}

const anHourAgo = () => new Date(Date.now() - 3600_000);

function ageTree(root: string): void {
  for (const name of filesUnder(root)) utimesSync(join(root, name), anHourAgo(), anHourAgo());
}

async function sync(args: string[], state: string): Promise<{ code: number | null; json: SyncJson; stdout: string; stderr: string }> {
  const result = await runCli(['sync', ...args, '--json'], { env: env(state) });
  return { code: result.code, json: result.code === 0 || result.code === 1 ? lastJson<SyncJson>(result) : ({} as SyncJson), stdout: result.stdout, stderr: result.stderr };
}

interface OwnCopy {
  dir: string;
  tree: string;
  remote: string;
  state: string;
  total: number;
}

/**
 * What a test that changes the tree or the prefix starts from: a copy of the tree (times kept), synced
 * to a prefix of its own with a state directory of its own, so that it neither sees nor leaves changes
 * of another test.
 */
async function ownSyncedCopy(label: string): Promise<OwnCopy> {
  const dir = join(work.path, label);
  const copy = { dir, tree: join(dir, 'tree'), remote: `s3://${bucket}/${label}/`, state: stateOf(label), total: filesUnder(tree).length };
  cpSync(tree, copy.tree, { recursive: true, preserveTimestamps: true });
  const first = await sync([copy.tree, copy.remote], copy.state);
  expect([first.code, first.json.transferred, first.json.failed]).toEqual([0, copy.total, 0]);
  return copy;
}

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'sync');
  baseline = `s3://${bucket}/baseline/`;
  // A few hundred files of mixed sizes in nested folders, one multipart-sized file, and a Delta table.
  for (let i = 0; i < 240; i += 1) {
    const dir = join(tree, `day=${String(i % 6).padStart(2, '0')}`, i % 2 ? 'odd' : 'even');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `part-${i}.csv`), randomBytes((i * 733) % 20000));
  }
  writeFileSync(join(tree, 'a-b.txt'), 'sorts before a/ in S3'); // '-' < '/': the merge must agree with S3's order
  mkdirSync(join(tree, 'a'));
  writeFileSync(join(tree, 'a', 'x.txt'), 'x');
  writeFileSync(join(tree, 'big.bin'), randomBytes(12 * MiB + 7));
  runPython(`
from deltalake import write_deltalake
import arro3.core as ac
def batch(start):
    ids = ac.Array(list(range(start, start + 5)), type=ac.DataType.int64())
    return ac.Table.from_arrays([ids], names=['id'])
for n in range(3):
    write_deltalake(${JSON.stringify(join(tree, 'orders'))}, batch(n * 5), mode='append')
`);
  ageTree(tree);
  const first = await sync([tree, baseline], baselineState);
  expect([first.code, first.json.failed]).toEqual([0, 0]);
});

afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

describe('sync local → prefix', () => {
  it('the first sync transfers every file, _delta_log entries after every data file', async () => {
    const remote = `s3://${bucket}/backfill/`;
    const total = filesUnder(tree).length;
    expect(total).toBeGreaterThanOrEqual(249);
    const manifest = join(work.path, 'first.jsonl');
    const { code, json } = await sync([tree, remote, '--manifest', manifest], stateOf('first'));
    expect(code).toBe(0);
    expect(json).toMatchObject({ transferred: total, skipped: 0, failed: 0 });
    expect((await listKeys(client, bucket, 'backfill/')).length).toBe(total);

    // In the order they completed: every data file of the sync, then the log in version order.
    const done = readFileSync(manifest, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { name: string; status: string; action: string });
    expect(done).toHaveLength(total);
    const firstLog = done.findIndex((action) => action.name.includes('_delta_log/'));
    expect(done.slice(firstLog).every((action) => action.name.startsWith('orders/_delta_log/'))).toBe(true);
    const logNames = done.slice(firstLog).map((action) => action.name);
    expect(logNames).toEqual(['orders/_delta_log/00000000000000000000.json', 'orders/_delta_log/00000000000000000001.json', 'orders/_delta_log/00000000000000000002.json']);

    // The server agrees: no log object is older than any data object.
    const listing = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'backfill/' }));
    const times = (listing.Contents ?? []).map((item) => ({ key: item.Key ?? '', time: item.LastModified!.getTime() }));
    const newestData = Math.max(...times.filter((t) => !t.key.includes('_delta_log/')).map((t) => t.time));
    const oldestLog = Math.min(...times.filter((t) => t.key.includes('_delta_log/')).map((t) => t.time));
    expect(oldestLog).toBeGreaterThanOrEqual(newestData);
  });

  it('a Delta reader opens the synced table from the bucket', () => {
    const s3 = inject('s3');
    const output = runPython(`
from deltalake import DeltaTable, QueryBuilder
opts = {'AWS_ENDPOINT_URL': ${JSON.stringify(s3.endpoint ?? '')}, 'AWS_ACCESS_KEY_ID': ${JSON.stringify(s3.accessKeyId)},
        'AWS_SECRET_ACCESS_KEY': ${JSON.stringify(s3.secretAccessKey)}, 'AWS_REGION': ${JSON.stringify(s3.region)}, 'AWS_ALLOW_HTTP': 'true'}
dt = DeltaTable(${JSON.stringify(`${baseline}orders`)}, storage_options=opts)
rows = QueryBuilder().register('t', dt).execute('select count(*) as n, sum(id) as s from t').read_all()
print(dt.version(), rows['n'][0].as_py(), rows['s'][0].as_py())
`);
    expect(output.trim()).toBe('2 15 105');
  });

  it('a re-run transfers nothing', async () => {
    const total = filesUnder(tree).length;
    const { code, json } = await sync([tree, baseline], baselineState);
    expect(code).toBe(0);
    expect(json).toMatchObject({ transferred: 0, skipped: total, failed: 0 });
  });

  it('a same-size edit with an older mtime transfers exactly that file', async () => {
    const { dir, tree, remote, state, total } = await ownSyncedCopy('edit');
    const path = join(tree, 'day=01', 'odd', 'part-1.csv');
    const data = readFileSync(path);
    data[0] = data[0]! ^ 0xff;
    writeFileSync(path, data);
    utimesSync(path, new Date('2001-01-01'), new Date('2001-01-01'));
    const manifest = join(dir, 'edit.jsonl');
    const { json } = await sync([tree, remote, '--manifest', manifest], state);
    expect(json).toMatchObject({ transferred: 1, skipped: total - 1, failed: 0 });
    const uploads = readFileSync(manifest, 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((a) => a.action === 'upload');
    expect(uploads).toEqual([expect.objectContaining({ name: 'day=01/odd/part-1.csv', reason: 'content differs', status: 'done' })]);
  });

  it('an mtime-only touch transfers nothing', async () => {
    const { tree, remote, state, total } = await ownSyncedCopy('touch');
    utimesSync(join(tree, 'big.bin'), new Date(), new Date());
    utimesSync(join(tree, 'day=02', 'even', 'part-2.csv'), new Date(), new Date());
    const { json } = await sync([tree, remote], state);
    expect(json).toMatchObject({ transferred: 0, skipped: total });
  });

  it('--size-only skips a same-size change that content comparison catches', async () => {
    const { tree, remote, state } = await ownSyncedCopy('size-only');
    const path = join(tree, 'a', 'x.txt');
    writeFileSync(path, 'y');
    utimesSync(path, anHourAgo(), anHourAgo());
    expect((await sync([tree, remote, '--size-only'], state)).json).toMatchObject({ transferred: 0 });
    expect((await sync([tree, remote], state)).json).toMatchObject({ transferred: 1 });
  });

  it('trusts the hash cache for unchanged files instead of reading them again', async () => {
    // Prove the cache is read: give an unchanged file a wrong cached MD5 and no known ETags. Only a
    // sync that believes the cache (rather than re-reading the file) will upload it again. The first
    // sync of the copy wrote the cache.
    const { dir, tree, remote, state, total } = await ownSyncedCopy('hash-cache');
    const cacheDir = join(state, 'cache', 'hashes');
    const [cacheFile] = readdirSync(cacheDir).filter((name) => name.endsWith('.jsonl'));
    const lines = readFileSync(join(cacheDir, cacheFile!), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(total - 3);
    const target = 'day=03/odd/part-3.csv';
    const tampered = lines.map((line) => {
      const entry = JSON.parse(line);
      return entry.name === target ? JSON.stringify({ ...entry, md5: '0'.repeat(32), etags: [] }) : line;
    });
    writeFileSync(join(cacheDir, cacheFile!), `${tampered.join('\n')}\n`);
    const manifest = join(dir, 'cache.jsonl');
    const { json } = await sync([tree, remote, '--manifest', manifest], state);
    expect(json.transferred).toBe(1);
    const uploads = readFileSync(manifest, 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((a) => a.action === 'upload');
    expect(uploads).toEqual([expect.objectContaining({ name: target, reason: 'content differs' })]);
    expect((await sync([tree, remote], state)).json.transferred).toBe(0);
  });

  it('--dry-run --delete prints the plan and changes nothing; --delete removes exactly the removed files', async () => {
    const { tree, remote, state } = await ownSyncedCopy('delete');
    const removed = ['day=00/even/part-0.csv', 'day=05/odd/part-5.csv', 'a-b.txt'];
    for (const name of removed) rmSync(join(tree, name));
    const before = await listKeys(client, bucket, 'delete/');

    const dry = await runCli(['sync', tree, remote, '--dry-run', '--delete'], { env: env(state) });
    expect(dry.code).toBe(0);
    for (const name of removed) expect(dry.stdout).toContain(`(dry run) delete: s3://${bucket}/delete/${name} (only on destination)`);
    expect(await listKeys(client, bucket, 'delete/')).toEqual(before);

    const refused = await sync([tree, remote, '--delete', '--max-delete', '2'], state);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to delete 3 files: more than --max-delete 2/);
    expect(await listKeys(client, bucket, 'delete/')).toEqual(before);

    const { code, json } = await sync([tree, remote, '--delete'], state);
    expect(code).toBe(0);
    expect(json).toMatchObject({ transferred: 0, deleted: 3, failed: 0 });
    const after = await listKeys(client, bucket, 'delete/');
    expect(after).toEqual(before.filter((key) => !removed.includes(key.slice('delete/'.length))));
    expect(after.map((key) => key.slice('delete/'.length)).sort()).toEqual(filesUnder(tree));
  });

  it('leaves excluded files alone, and takes back what --include names', async () => {
    const { dir, tree, remote, state } = await ownSyncedCopy('filters');
    writeFileSync(join(tree, 'scratch.tmp'), 'temp');
    mkdirSync(join(tree, 'debug'), { recursive: true });
    writeFileSync(join(tree, 'debug', 'noise.log'), 'n');
    writeFileSync(join(tree, 'debug', 'keep.log'), 'k');
    const manifest = join(dir, 'filters.jsonl');
    const { json } = await sync([tree, remote, '--exclude', '*.tmp', '--exclude', 'debug/**', '--include', 'debug/keep.log', '--manifest', manifest], state);
    expect(json.transferred).toBe(1);
    expect(readFileSync(manifest, 'utf8')).toContain('"name":"debug/keep.log"');
    const keys = await listKeys(client, bucket, 'filters/');
    expect(keys).toContain('filters/debug/keep.log');
    expect(keys).not.toContain('filters/scratch.tmp');
    expect(keys).not.toContain('filters/debug/noise.log');
  });

  it('does not follow symbolic links unless asked', async () => {
    const { dir, tree, remote, state } = await ownSyncedCopy('symlinks');
    const outside = join(dir, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'secret.txt'), 'not part of the tree');
    symlinkSync(outside, join(tree, 'linked'));
    const plain = await runCli(['sync', tree, remote, '--json'], { env: env(state) });
    expect(lastJson<SyncJson>(plain).transferred).toBe(0);
    expect(plain.stderr).toMatch(/1 symbolic links not followed/);
    expect(await listKeys(client, bucket, 'symlinks/linked/')).toEqual([]);
    const followed = await sync([tree, remote, '--follow-symlinks'], state);
    expect(followed.json.transferred).toBe(1);
    expect(await listKeys(client, bucket, 'symlinks/linked/')).toEqual(['symlinks/linked/secret.txt']);
  });
});

describe('sync prefix → local', () => {
  it('reproduces the tree, byte for byte, and a re-run transfers nothing', async () => {
    const state = stateOf('down');
    const down = join(work.path, 'down', 'tree');
    const manifest = join(work.path, 'down.jsonl');
    const first = await sync([baseline, down, '--manifest', manifest], state);
    expect(first.code).toBe(0);
    const names = filesUnder(tree);
    expect(first.json).toMatchObject({ transferred: names.length, failed: 0 });
    expect(filesUnder(down)).toEqual(names);
    for (const name of names) expect(readFileSync(join(down, name)).equals(readFileSync(join(tree, name)))).toBe(true);

    const order = readFileSync(manifest, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { name: string }).name);
    const firstLog = order.findIndex((name) => name.includes('_delta_log/'));
    expect(order.slice(firstLog).every((name) => name.includes('_delta_log/'))).toBe(true);

    expect((await sync([baseline, down], state)).json).toMatchObject({ transferred: 0, skipped: names.length });
    expect(readdirSync(down).some((name) => name.includes('datalake-tmp'))).toBe(false);
  });

  it('--delete removes local files that are not in the prefix', async () => {
    const state = stateOf('down-delete');
    const down = join(work.path, 'down-delete', 'tree');
    const copied = await sync([baseline, down], state);
    expect([copied.code, copied.json.transferred]).toEqual([0, filesUnder(tree).length]);
    writeFileSync(join(down, 'stray.txt'), 'stray');
    const { json } = await sync([baseline, down, '--delete'], state);
    expect(json).toMatchObject({ transferred: 0, deleted: 1 });
    expect(existsSync(join(down, 'stray.txt'))).toBe(false);
  });
});

describe('shards', () => {
  it('four --shard i/4 workers cover the tree exactly once between them', async () => {
    const target = `s3://${bucket}/sharded/`;
    const names = filesUnder(tree);
    const counts: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const { code, json } = await sync([tree, target, '--shard', `${i}/4`], stateOf('shards'));
      expect(code).toBe(0);
      counts.push(json.transferred);
    }
    expect(counts.every((count) => count > 0)).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(names.length);
    expect((await listKeys(client, bucket, 'sharded/')).map((key) => key.slice('sharded/'.length)).sort()).toEqual(names);
    // The index can come from the job's environment: an Indexed Job's second worker.
    const indexed = await runCli(['sync', tree, target, '--shard', '/4', '--json'], { env: { ...env(stateOf('shards')), JOB_COMPLETION_INDEX: '1' } });
    expect(lastJson<SyncJson>(indexed)).toMatchObject({ transferred: 0, skipped: counts[1] });
  });
});

describe('unattended runs', () => {
  it('a sync up into a bucket that does not exist fails the whole run with one line naming it: --json and the log say that alone', async () => {
    const missing = `nosuch-${randomBytes(4).toString('hex')}`;
    const log = join(work.path, 'no-bucket-sync.log');
    const result = await runCli(['sync', tree, `s3://${missing}/y/`, '--json', '--log-file', log], { env: env(stateOf('no-bucket')) });
    expectRunFailedAsAWhole(result, log, new RegExp(`^datalake: error: no such bucket '${missing}'`));
  });

  it('a sync down from a bucket that does not exist fails with one line naming it, and leaves no folder it made', async () => {
    const missing = `nosuch-${randomBytes(4).toString('hex')}`;
    const down = join(work.path, 'made-for-no-bucket', 'nested');
    const result = await runCli(['sync', `s3://${missing}/y/`, down, '--delete'], { env: env(stateOf('no-bucket-down')) });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(new RegExp(`^datalake: error: no such bucket '${missing}'`));
    expect(existsSync(join(work.path, 'made-for-no-bucket'))).toBe(false);
  });

  it('a second sync of the same source and destination exits 1 while the first holds the lock', async () => {
    const remote = baseline;
    const state = stateOf('lock');
    const lockName = `${fileNameFor(`upload\0${resolve(tree)}\0${remote}\0all`)}.lock`;
    const lockDir = join(state, 'state', 'locks');
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(join(lockDir, lockName), JSON.stringify({ pid: process.pid, host: hostname() }));
    const blocked = await runCli(['sync', tree, remote], { env: env(state) });
    expect(blocked.code).toBe(1);
    expect(blocked.stderr.trim()).toMatch(/^datalake: error: another sync of .* is running \(pid \d+/);
    // A lock left by a process that is gone is taken over.
    writeFileSync(join(lockDir, lockName), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
    expect((await runCli(['sync', tree, remote], { env: env(state) })).code).toBe(0);
    expect(existsSync(join(lockDir, lockName))).toBe(false);
  });

  it.each([
    ['a shard outside 0..N-1', ['--shard', '4/4'], /index 4 is outside 0\.\.3/],
    ['a malformed shard', ['--shard', 'half'], /invalid --shard/],
    ['--max-delete without --delete', ['--max-delete', '5'], /goes with --delete/],
    ['an --exclude naming a folder as rsync does (it would match no file, and --delete would go on)', ['--delete', '--exclude', 'sub/'], /--exclude 'sub\/' ends in '\/'.*use 'sub\/\*\*'/],
    ['an --exclude anchored at the root as rsync does (names are relative: it would match nothing)', ['--delete', '--exclude', '/sub/**'], /--exclude '\/sub\/\*\*' starts with '\/'.*use 'sub\/\*\*'/],
    ['an --exclude with an empty folder name (a shell join: d=sub/; "$d/**")', ['--delete', '--exclude', 'sub//**'], /--exclude 'sub\/\/\*\*' has an empty folder name.*use 'sub\/\*\*'/],
  ])('bad input: %s exits 2', async (_label, extra, message) => {
    const result = await runCli(['sync', tree, baseline, ...extra], { env: env(stateOf('bad-input')) });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('bad input: two local directories, or a missing source, exit 2', async () => {
    expect((await runCli(['sync', tree, join(work.path, 'other')], { env: env(stateOf('bad-input')) })).code).toBe(2);
    expect((await runCli(['sync', join(work.path, 'missing'), baseline], { env: env(stateOf('bad-input')) })).code).toBe(2);
  });
});

export const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
