import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { lastJson, listKeys, runCli, runCliHeldToPermissions, s3Env, tempDirectory, type CliResult } from '../support/harness.js';
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
