import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { shardOf } from '../../src/core/sync/filters.js';
import { BIN, lastJson, listKeys, runCli, runCliHeldToPermissions, s3Env, tempDirectory, waitFor, type CliResult } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';
import { runPython } from '../support/python.js';

interface SyncJson {
  transferred: number;
  skipped: number;
  deleted: number;
  failed: number;
  errors: Array<{ name: string; error: string }>;
}

const work = tempDirectory('sync-guarantees');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;

beforeAll(async () => {
  let endpoint: string;
  ({ client, bucket, proxy, endpoint } = await openProxiedBucket('guarantees'));
  proxied = s3Env({
    AWS_ENDPOINT_URL: endpoint,
    DATALAKE_STATE_DIR: join(work.path, 'state'),
    DATALAKE_CACHE_DIR: join(work.path, 'cache'),
  });
});
afterAll(async () => {
  await closeProxiedBucket({ client, bucket, proxy });
  work.remove();
});

/** A sync through the fault proxy, with few retries so a persistent fault ends the file quickly. */
async function sync(args: string[]): Promise<CliResult & { json: SyncJson }> {
  const result = await runCli(['sync', ...args, '--json', '--retries', '1'], { env: proxied });
  return { ...result, json: lastJson<SyncJson>(result) };
}

/** A run's errors in name order, and its stderr's lines in sorted order: what failed, whatever order the steps ended in. */
const byName = (errors: SyncJson['errors']) => [...errors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.error < b.error ? -1 : 1));
const linesOf = (text: string) => text.split('\n').sort();

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('a Delta table stays readable when one of its data files fails', () => {
  const lake = join(work.path, 'lake');
  const down = join(work.path, 'lake-down');
  let remote: string;
  const commit2 = (table: string) => `${table}/_delta_log/00000000000000000002.json`;

  /** Appends five rows per version to a local table; returns the data files the append added. */
  function append(table: string, start: number): string[] {
    const path = join(lake, table);
    const before = existsSync(path) ? new Set(readdirSync(path)) : new Set<string>();
    runPython(`
from deltalake import write_deltalake
import arro3.core as ac
ids = ac.Array(list(range(${start}, ${start + 5})), type=ac.DataType.int64())
write_deltalake(${JSON.stringify(path)}, ac.Table.from_arrays([ids], names=['id']), mode='append')
`);
    return readdirSync(path).filter((name) => name.endsWith('.parquet') && !before.has(name));
  }

  /** What python `deltalake`, an independent reader, sees of a table: its version, row count and sum. */
  function readTable(location: string): string {
    const s3 = inject('s3');
    return runPython(`
from deltalake import DeltaTable, QueryBuilder
opts = {'AWS_ENDPOINT_URL': ${JSON.stringify(s3.endpoint ?? '')}, 'AWS_ACCESS_KEY_ID': ${JSON.stringify(s3.accessKeyId)},
        'AWS_SECRET_ACCESS_KEY': ${JSON.stringify(s3.secretAccessKey)}, 'AWS_REGION': ${JSON.stringify(s3.region)}, 'AWS_ALLOW_HTTP': 'true'}
dt = DeltaTable(${JSON.stringify(location)}, storage_options=opts if ${JSON.stringify(location)}.startswith('s3://') else None)
rows = QueryBuilder().register('t', dt).execute('select count(*) as n, sum(id) as s from t').read_all()
print(dt.version(), rows['n'][0].as_py(), rows['s'][0].as_py())
`).trim();
  }

  let failing: string[] = [];

  beforeAll(async () => {
    remote = `s3://${bucket}/analytics/`;
    for (const table of ['t1', 't2']) {
      append(table, 0);
      append(table, 5);
    }
    proxy.setRules([]);
    expect((await sync([lake, remote])).code).toBe(0);
    expect((await sync([remote, down])).code).toBe(0);
    // Version 2 of both tables, made locally and not yet synced anywhere.
    failing = append('t1', 10);
    append('t2', 10);
    expect(failing).toHaveLength(1);
  });

  it('up: a data file that fails holds back its own table’s commit, named; the other table moves on', async () => {
    const dataFile = `t1/${failing[0]!}`;
    proxy.setRules([{ method: 'PUT', match: new RegExp(escapeRegExp(failing[0]!)), fault: { kind: 'status', status: 503, code: 'ServiceUnavailable' } }]);
    const result = await sync([lake, remote]);
    expect(proxy.faults('status')).toBeGreaterThanOrEqual(2);
    expect(result.code).toBe(1);
    // The independent reader opens both: t1 as it was, t2 with its new version.
    expect(readTable(`s3://${bucket}/analytics/t1`)).toBe('1 10 45');
    expect(readTable(`s3://${bucket}/analytics/t2`)).toBe('2 15 105');
    const keys = await listKeys(client, bucket, 'analytics/');
    expect(keys).not.toContain(`analytics/${commit2('t1')}`);
    expect(keys).toContain(`analytics/${commit2('t2')}`);

    expect(result.stderr).toMatch(new RegExp(`^datalake: failed: ${escapeRegExp(dataFile)}: `, 'm'));
    expect(result.stderr).toMatch(new RegExp(`^datalake: failed: ${escapeRegExp(commit2('t1'))}: not transferred: .*t1`, 'm'));
    expect(result.json.errors.map((error) => error.name).sort()).toEqual([commit2('t1'), dataFile].sort());
    expect(result.json.failed).toBe(2);
  });

  it('up: the next clean run completes the table', async () => {
    proxy.setRules([]);
    const result = await sync([lake, remote]);
    expect(result.code).toBe(0);
    expect(result.json).toMatchObject({ transferred: 2, failed: 0 });
    expect(readTable(`s3://${bucket}/analytics/t1`)).toBe('2 15 105');
  });

  it('down: a data file that fails verification holds back its table’s commit; the next run completes it', async () => {
    const dataFile = `t1/${failing[0]!}`;
    proxy.setRules([{ method: 'GET', match: new RegExp(escapeRegExp(failing[0]!)), fault: { kind: 'flip-response-byte', offset: 100 } }]);
    const result = await sync([remote, down]);
    expect(result.code).toBe(1);
    expect(readTable(join(down, 't1'))).toBe('1 10 45');
    expect(readTable(join(down, 't2'))).toBe('2 15 105');
    expect(existsSync(join(down, commit2('t1')))).toBe(false);
    expect(existsSync(join(down, commit2('t2')))).toBe(true);
    expect(result.stderr).toMatch(new RegExp(`^datalake: failed: ${escapeRegExp(dataFile)}: .*did not verify`, 'm'));
    expect(result.stderr).toMatch(new RegExp(`^datalake: failed: ${escapeRegExp(commit2('t1'))}: not transferred: `, 'm'));
    expect(result.json.errors.map((error) => error.name).sort()).toEqual([commit2('t1'), dataFile].sort());

    proxy.setRules([]);
    const again = await sync([remote, down]);
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ transferred: 2, failed: 0 });
    expect(readTable(join(down, 't1'))).toBe('2 15 105');
  });
});

describe('an unreadable folder is reported and the rest is transferred', () => {
  const tree = join(work.path, 'partly-locked');
  const locked = join(tree, 'b-locked');

  beforeAll(async () => {
    proxy.setRules([]);
    for (const folder of ['a', 'b-locked', 'c']) mkdirSync(join(tree, folder), { recursive: true });
    writeFileSync(join(tree, 'a', 'one.txt'), 'one');
    writeFileSync(join(locked, 'secret.txt'), 'behind a closed door');
    writeFileSync(join(tree, 'c', 'three.txt'), 'three');
    writeFileSync(join(tree, 'top.txt'), 'top');
    // While it is still readable, the folder's file reaches the bucket: --delete must keep it later.
    expect((await sync([tree, `s3://${bucket}/locked-sync/`])).code).toBe(0);
    writeFileSync(join(tree, 'c', 'new.txt'), 'new');
    chmodSync(locked, 0o000);
  });
  afterAll(() => chmodSync(locked, 0o755));

  it('the CLI really cannot read the folder (the premise of the tests below)', async () => {
    const result = await runCliHeldToPermissions(['put', join(locked, 'secret.txt'), `s3://${bucket}/premise/secret.txt`], { env: proxied });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/permission denied|EACCES/i);
  });

  it('sync --delete: one line naming the folder, counted as failed, exit 1; the rest uploaded; nothing under it deleted', async () => {
    const result = await runCliHeldToPermissions(['sync', tree, `s3://${bucket}/locked-sync/`, '--delete', '--json'], { env: proxied });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.filter((line) => line.includes('b-locked'))).toEqual([expect.stringMatching(/^datalake: failed: b-locked\/: .*(permission denied|EACCES)/i)]);
    const json = lastJson<SyncJson>(result);
    expect(json).toMatchObject({ transferred: 1, failed: 1, deleted: 0 });
    expect(json.errors).toContainEqual({ name: 'b-locked/', error: expect.stringMatching(/permission denied|EACCES/i) });
    expect((await listKeys(client, bucket, 'locked-sync/')).sort()).toEqual(
      ['a/one.txt', 'b-locked/secret.txt', 'c/new.txt', 'c/three.txt', 'top.txt'].map((name) => `locked-sync/${name}`),
    );
  });

  it('--shard: every worker reports the folder (its files may be any worker’s), and none deletes under it', async () => {
    // A count of workers where the folder's own name and its file's are not the same worker's.
    const workers = [2, 3, 4, 5, 6, 7, 8].find((count) => shardOf('b-locked/', count) !== shardOf('b-locked/secret.txt', count))!;
    expect(workers).toBeDefined();
    for (let index = 0; index < workers; index += 1) {
      const result = await runCliHeldToPermissions(['sync', tree, `s3://${bucket}/locked-sync/`, '--delete', '--shard', `${index}/${workers}`, '--json']);
      expect(result.code).toBe(1);
      expect(lastJson<SyncJson>(result)).toMatchObject({ deleted: 0 });
      expect(lastJson<SyncJson>(result).errors).toContainEqual({ name: 'b-locked/', error: expect.stringMatching(/permission denied|EACCES/i) });
    }
    expect(await listKeys(client, bucket, 'locked-sync/b-locked/')).toEqual(['locked-sync/b-locked/secret.txt']);
  });

  it('a folder left out by --exclude is not reported: exit 0', async () => {
    const result = await runCliHeldToPermissions(['sync', tree, `s3://${bucket}/locked-sync/`, '--exclude', 'b-locked/**', '--json'], { env: proxied });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lastJson<SyncJson>(result)).toMatchObject({ transferred: 0, failed: 0 });
  });

  it('put -r: one line naming the folder, in --json failed, exit 1; every other file uploaded', async () => {
    const result = await runCliHeldToPermissions(['put', '-r', tree, `s3://${bucket}/locked-put/`, '--json'], { env: proxied });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.filter((line) => line.includes('b-locked'))).toEqual([expect.stringMatching(/^datalake: failed: .*b-locked\/?: .*(permission denied|EACCES)/i)]);
    const json = lastJson<{ objects: unknown[]; failed: Array<{ path?: string; error: string }> }>(result);
    expect(json.objects).toHaveLength(4);
    expect(json.failed).toEqual([{ path: expect.stringMatching(/b-locked\/?$/), error: expect.stringMatching(/permission denied|EACCES/i) }]);
    expect((await listKeys(client, bucket, 'locked-put/')).sort()).toEqual(['a/one.txt', 'c/new.txt', 'c/three.txt', 'top.txt'].map((name) => `locked-put/${name}`));
  });
});

/** A small tree: `f1.txt`…`f3.txt` at the top, `s1.txt`…`s3.txt` in `sub/`. */
function smallTree(root: string): void {
  mkdirSync(join(root, 'sub'), { recursive: true });
  for (const i of [1, 2, 3]) {
    writeFileSync(join(root, `f${i}.txt`), `f${i}`);
    writeFileSync(join(root, 'sub', `s${i}.txt`), `s${i}`);
  }
}

/** Every file under a folder (links not followed), with its content: what a test proves untouched. */
function contentsOf(root: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) found[join(entry.parentPath, entry.name).slice(root.length + 1)] = readFileSync(join(entry.parentPath, entry.name), 'utf8');
  }
  return found;
}

describe('what is behind a symbolic link the walk does not enter is never deleted', () => {
  beforeAll(() => proxy.setRules([]));

  it('up, links not followed: --delete keeps every object at or under their names (--dry-run plans the same); the rest is deleted as usual', async () => {
    const tree = join(work.path, 'links-up');
    const elsewhere = join(work.path, 'links-up-elsewhere');
    smallTree(tree);
    // `sub.d` and `sub-notes.txt` sort between `sub` and `sub/`: each link's names are not one run of the walk.
    mkdirSync(join(tree, 'sub.d'));
    writeFileSync(join(tree, 'sub.d', 'd1.txt'), 'd1');
    writeFileSync(join(tree, 'sub-notes.txt'), 'notes');
    writeFileSync(join(tree, 'gone.txt'), 'removed locally below, so deleted remotely');
    expect((await sync([tree, `s3://${bucket}/links-up/`])).code).toBe(0);
    const before = (await listKeys(client, bucket, 'links-up/')).sort();
    expect(before).toHaveLength(9);
    // Both folders moved out of the tree, a link to each left at its name; one file removed.
    mkdirSync(elsewhere);
    for (const folder of ['sub', 'sub.d']) {
      renameSync(join(tree, folder), join(elsewhere, folder));
      symlinkSync(join(elsewhere, folder), join(tree, folder));
    }
    rmSync(join(tree, 'gone.txt'));

    const planned = await sync([tree, `s3://${bucket}/links-up/`, '--delete', '--dry-run']);
    expect(planned.code).toBe(0);
    expect(planned.json).toMatchObject({ transferred: 0, deleted: 1, failed: 0 });
    const result = await sync([tree, `s3://${bucket}/links-up/`, '--delete']);
    expect(result.code).toBe(0);
    expect(result.json).toMatchObject({ transferred: 0, deleted: 1, failed: 0, symlinksSkipped: 2 });
    expect(result.stderr).toMatch(/2 symbolic links not followed/);
    expect((await listKeys(client, bucket, 'links-up/')).sort()).toEqual(before.filter((key) => key !== 'links-up/gone.txt'));
    // Followed, the links are the same content: nothing to send, nothing to delete.
    const followed = await sync([tree, `s3://${bucket}/links-up/`, '--delete', '--follow-symlinks']);
    expect([followed.code, followed.json.transferred, followed.json.deleted]).toEqual([0, 0, 0]);
  });

  it('up, --follow-symlinks and a link back up the tree (not walked twice): --delete keeps what is under its name', async () => {
    const tree = join(work.path, 'links-loop');
    smallTree(tree);
    mkdirSync(join(tree, 'loop'));
    writeFileSync(join(tree, 'loop', 'l.txt'), 'l');
    expect((await sync([tree, `s3://${bucket}/links-loop/`])).code).toBe(0);
    const before = (await listKeys(client, bucket, 'links-loop/')).sort();
    rmSync(join(tree, 'loop'), { recursive: true });
    symlinkSync('.', join(tree, 'loop'));
    for (const flags of [['--dry-run'], []]) {
      const result = await sync([tree, `s3://${bucket}/links-loop/`, '--delete', '--follow-symlinks', ...flags]);
      expect(result.code).toBe(0);
      expect(result.json).toMatchObject({ transferred: 0, deleted: 0, failed: 0 });
    }
    expect((await listKeys(client, bucket, 'links-loop/')).sort()).toEqual(before);
  });

  it('down, a link to a folder in the destination: nothing is written or deleted through it, followed or not; --dry-run fails what the run fails', async () => {
    const source = join(work.path, 'links-down-source');
    const down = join(work.path, 'links-down');
    const target = join(work.path, 'links-down-target');
    const remote = `s3://${bucket}/links-down/`;
    smallTree(source);
    expect((await sync([source, remote])).code).toBe(0);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'links-down/sub/s3.txt' }));
    // The destination: the top files, one of its own, and `sub` a link to a folder elsewhere that
    // holds the same s1, s2, s3 and one more file.
    mkdirSync(down);
    for (const i of [1, 2, 3]) cpSync(join(source, `f${i}.txt`), join(down, `f${i}.txt`));
    writeFileSync(join(down, 'extra.txt'), 'only here');
    cpSync(join(source, 'sub'), target, { recursive: true });
    writeFileSync(join(target, 'x.txt'), 'only behind the link');
    symlinkSync(target, join(down, 'sub'));
    const behind = contentsOf(target);
    expect(Object.keys(behind).sort()).toEqual(['s1.txt', 's2.txt', 's3.txt', 'x.txt']);

    // Not followed: sub/s1.txt and sub/s2.txt are not there to the walk, and cannot be written through the link.
    const planned = await sync([remote, down, '--delete', '--dry-run']);
    const result = await sync([remote, down, '--delete']);
    expect([planned.code, result.code]).toEqual([1, 1]);
    expect(result.json.errors.map((error) => error.name).sort()).toEqual(['(deletions)', 'sub/s1.txt', 'sub/s2.txt']);
    expect(result.json.errors.find((error) => error.name === 'sub/s1.txt')?.error).toMatch(/is a symbolic link; nothing is written through it/);
    // Items fail in the order their steps end, not the listing's: compared as sets.
    expect(byName(planned.json.errors)).toEqual(byName(result.json.errors));
    expect(linesOf(planned.stderr)).toEqual(linesOf(result.stderr));
    expect(existsSync(join(down, 'extra.txt'))).toBe(true);
    expect(contentsOf(target)).toEqual(behind);

    // Followed: s1 and s2 are the same content (skipped); s3 and x.txt, only behind the link, are not deleted through it.
    const plannedFollowed = await sync([remote, down, '--delete', '--follow-symlinks', '--dry-run']);
    const followed = await sync([remote, down, '--delete', '--follow-symlinks']);
    expect([plannedFollowed.code, followed.code]).toEqual([1, 1]);
    expect(followed.json.errors.map((error) => error.name).sort()).toEqual(['sub/s3.txt', 'sub/x.txt']);
    for (const error of followed.json.errors) expect(error.error).toMatch(/is a symbolic link; nothing is written through it/);
    expect(byName(plannedFollowed.json.errors)).toEqual(byName(followed.json.errors));
    expect([plannedFollowed.json.deleted, followed.json.deleted]).toEqual([1, 1]);
    expect(existsSync(join(down, 'extra.txt'))).toBe(false);
    expect(contentsOf(target)).toEqual(behind);
  });
});

describe('a link --follow-symlinks cannot follow is reported as unreadable, and nothing is deleted', () => {
  beforeAll(() => proxy.setRules([]));

  /** A synced small tree whose `sub` is then replaced by a link to `to`, and a new file to send. */
  async function treeWithLinkedSub(label: string, to: string): Promise<{ tree: string; remote: string; before: string[] }> {
    const tree = join(work.path, label);
    smallTree(tree);
    const remote = `s3://${bucket}/${label}/`;
    expect((await sync([tree, remote])).code).toBe(0);
    rmSync(join(tree, 'sub'), { recursive: true });
    symlinkSync(to, join(tree, 'sub'));
    writeFileSync(join(tree, 'f4.txt'), 'new');
    return { tree, remote, before: (await listKeys(client, bucket, `${label}/`)).sort() };
  }

  const linkLines = (stderr: string) => stderr.trim().split('\n').filter((line) => line.startsWith('datalake: failed: sub'));

  it('a link whose target is not there: one line naming it, exit 1; the rest is sent, nothing deleted (--dry-run says the same)', async () => {
    const { tree, remote, before } = await treeWithLinkedSub('dangling-link', join(work.path, 'not-there', 'sub'));
    const planned = await sync([tree, remote, '--delete', '--follow-symlinks', '--dry-run']);
    const result = await sync([tree, remote, '--delete', '--follow-symlinks']);
    for (const run of [planned, result]) {
      expect(run.code).toBe(1);
      expect(linkLines(run.stderr)).toEqual([expect.stringMatching(/^datalake: failed: sub: this symbolic link cannot be followed: its target is not there \(ENOENT\); nothing at or under it was transferred or deleted$/)]);
      expect(run.json).toMatchObject({ transferred: 1, deleted: 0, failed: 1 });
      expect(run.json.errors.map((error) => error.name)).toEqual(['sub']);
      // What the bucket holds under the link is left alone, not a deletion skipped; the error counts what failed.
      expect(run.stderr).not.toMatch(/deletions? skipped/);
      expect((run.json as { error?: { message: string } }).error?.message).toMatch(/^1 failed: sub: /);
    }
    expect((await listKeys(client, bucket, 'dangling-link/')).sort()).toEqual([...before, 'dangling-link/f4.txt'].sort());
  });

  it('a link that cannot be followed whose own name the filters leave out: what the bucket holds under it is not deleted (--dry-run says the same)', async () => {
    for (const [label, filters] of [
      ['dangling-excluded', ['--exclude', 'sub']],
      ['dangling-csv-only', ['--exclude', '*', '--include', '*.txt']],
    ] as const) {
      const { tree, remote, before } = await treeWithLinkedSub(label, join(work.path, 'not-there', 'sub'));
      const planned = await sync([tree, remote, '--delete', '--follow-symlinks', ...filters, '--dry-run']);
      const result = await sync([tree, remote, '--delete', '--follow-symlinks', ...filters]);
      for (const run of [planned, result]) {
        expect(run.code, run.stderr).toBe(0);
        expect(run.json).toMatchObject({ transferred: 1, deleted: 0 });
      }
      expect((await listKeys(client, bucket, `${label}/`)).sort()).toEqual([...before, `${label}/f4.txt`].sort());
      expect(before.filter((key) => key.startsWith(`${label}/sub/`)).length).toBeGreaterThan(0);
    }
  });

  it('into a bucket that is not there: the link reported before the bucket error stays in the --json document beside it', async () => {
    const tree = join(work.path, 'dangling-no-bucket');
    smallTree(tree);
    rmSync(join(tree, 'sub'), { recursive: true });
    symlinkSync(join(work.path, 'not-there', 'sub'), join(tree, 'sub'));
    const missing = `nosuch-${Date.now().toString(36)}`;
    // Every request for the missing bucket waits until the walk has reported the link: the order is the test's.
    proxy.setRules([{ match: new RegExp(`^/${missing}`), fault: { kind: 'hold', gate: 'no-bucket' } }]);
    const child = spawn(process.execPath, [BIN, 'sync', tree, `s3://${missing}/p/`, '--follow-symlinks', '--json', '--retries', '1'], { env: proxied, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => stderr.includes('datalake: failed: sub:'), 'the link to be reported');
    } finally {
      proxy.release('no-bucket');
    }
    expect(await code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^datalake: error: no such bucket '${missing}'`, 'm'));
    const json = JSON.parse(stdout.trim().split('\n').at(-1)!) as SyncJson & { error?: { message: string } };
    expect(json.error?.message).toMatch(new RegExp(`^no such bucket '${missing}'`));
    expect(json).toMatchObject({ transferred: 0, deleted: 0, failed: 1 });
    expect(json.errors).toEqual([{ name: 'sub', error: expect.stringMatching(/^this symbolic link cannot be followed: its target is not there \(ENOENT\)/) }]);
    proxy.setRules([]);
  });

  it('a link into a folder the CLI may not search (EACCES): one line naming it, exit 1; nothing deleted', async () => {
    const closed = join(work.path, 'closed');
    mkdirSync(join(closed, 'sub'), { recursive: true });
    writeFileSync(join(closed, 'sub', 's1.txt'), 's1');
    const { tree, remote, before } = await treeWithLinkedSub('closed-link', join(closed, 'sub'));
    chmodSync(closed, 0o000);
    try {
      const result = await runCliHeldToPermissions(['sync', tree, remote, '--delete', '--follow-symlinks', '--json']);
      expect(result.code).toBe(1);
      expect(linkLines(result.stderr)).toEqual([expect.stringMatching(/^datalake: failed: sub: this symbolic link cannot be followed: permission denied \(EACCES\); nothing at or under it was transferred or deleted$/)]);
      expect(lastJson<SyncJson>(result)).toMatchObject({ transferred: 1, deleted: 0, failed: 1 });
    } finally {
      chmodSync(closed, 0o755);
    }
    expect((await listKeys(client, bucket, 'closed-link/')).sort()).toEqual([...before, 'closed-link/f4.txt'].sort());
  });
});
