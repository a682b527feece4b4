/**
 * What the local walk of `sync` and `put -r` leaves out, and what that must never cost: a Delta log
 * entry naming a data file that was not sent, a silently skipped file whose name is not UTF-8, a
 * remote copy deleted because the walk hid its name; and what an interrupted sync or a full state
 * directory still owes the user (the counts of what completed, no multipart upload left behind).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { BIN, createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient, waitFor, type CliResult } from '../support/harness.js';
import { runPython } from '../support/python.js';

interface SyncJson {
  transferred: number;
  skipped: number;
  deleted: number;
  failed: number;
  bytes: number;
  errors: Array<{ name: string; error: string }>;
  error?: { code: string; message: string };
}

const MiB = 1024 ** 2;
const work = tempDirectory('sync-walk');
const mounts: string[] = [];
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'walk');
  proxy = new FaultProxy(inject('s3').endpoint!);
  const state = { DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') };
  env = s3Env(state);
  proxied = s3Env({ ...state, AWS_ENDPOINT_URL: await proxy.start() });
});
afterAll(async () => {
  for (const path of mounts.reverse()) {
    const unmounted = spawnSync('umount', [path], { encoding: 'utf8' });
    if (unmounted.status !== 0) throw new Error(`cannot unmount ${path}: ${unmounted.stderr}`);
  }
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

async function cli(args: string[], environment = env): Promise<CliResult & { json: SyncJson }> {
  const result = await runCli([...args, '--json', '--retries', '1'], { env: environment });
  return { ...result, json: lastJson<SyncJson>(result) };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('F5: a data file of a Delta table that is not transferred holds back the table’s log', () => {
  const table = join(work.path, 'lake', 'orders');
  const elsewhere = join(work.path, 'elsewhere');
  let remote: string;

  /** Appends five rows as a new version; returns the data files the append added. */
  function append(start: number): string[] {
    const before = existsSync(table) ? new Set(readdirSync(table)) : new Set<string>();
    runPython(`
from deltalake import write_deltalake
import arro3.core as ac
ids = ac.Array(list(range(${start}, ${start + 5})), type=ac.DataType.int64())
write_deltalake(${JSON.stringify(table)}, ac.Table.from_arrays([ids], names=['id']), mode='append')
`);
    return readdirSync(table).filter((name) => name.endsWith('.parquet') && !before.has(name));
  }

  /** What python `deltalake`, an independent reader, sees of the table in the bucket: version, rows, sum. */
  function readRemoteTable(): string {
    const s3 = inject('s3');
    return runPython(`
from deltalake import DeltaTable, QueryBuilder
opts = {'AWS_ENDPOINT_URL': ${JSON.stringify(s3.endpoint ?? '')}, 'AWS_ACCESS_KEY_ID': ${JSON.stringify(s3.accessKeyId)},
        'AWS_SECRET_ACCESS_KEY': ${JSON.stringify(s3.secretAccessKey)}, 'AWS_REGION': ${JSON.stringify(s3.region)}, 'AWS_ALLOW_HTTP': 'true'}
dt = DeltaTable(${JSON.stringify(remote)}, storage_options=opts)
rows = QueryBuilder().register('t', dt).execute('select count(*) as n, sum(id) as s from t').read_all()
print(dt.version(), rows['n'][0].as_py(), rows['s'][0].as_py())
`).trim();
  }

  const commit = (version: number) => `_delta_log/${String(version).padStart(20, '0')}.json`;

  beforeAll(async () => {
    remote = `s3://${bucket}/orders`;
    mkdirSync(elsewhere, { recursive: true });
    append(0);
    append(5);
    const first = await cli(['sync', table, `${remote}/`]);
    expect(first.code).toBe(0);
    expect(readRemoteTable()).toBe('1 10 45');
  });

  it('a new data file that is a symbolic link (skipped): commit 2 stays back, named, exit 1; the table stays readable', async () => {
    const [added] = append(10);
    // The data file moved elsewhere, a link left in its place: skipped without --follow-symlinks.
    renameSync(join(table, added!), join(elsewhere, added!));
    symlinkSync(join(elsewhere, added!), join(table, added!));
    const result = await cli(['sync', table, `${remote}/`]);
    expect(result.code).toBe(1);
    expect(await listKeys(client, bucket, 'orders/_delta_log/')).not.toContain(`orders/${commit(2)}`);
    expect(result.stderr).toMatch(new RegExp(`^datalake: failed: ${escapeRegExp(commit(2))}: not transferred: ${escapeRegExp(added!)} .*symbolic link`, 'm'));
    expect(result.json.errors.map((error) => error.name)).toEqual([commit(2)]);
    expect(result.json.failed).toBe(1);
    expect(readRemoteTable()).toBe('1 10 45');

    const followed = await cli(['sync', table, `${remote}/`, '--follow-symlinks']);
    expect(followed.code).toBe(0);
    expect(readRemoteTable()).toBe('2 15 105');
  });

  it('a new data file left out by --exclude: its commit stays back, named, exit 1; a later run without it completes the table', async () => {
    const [added] = append(15);
    const result = await cli(['sync', table, `${remote}/`, '--exclude', added!]);
    expect(result.code).toBe(1);
    expect(await listKeys(client, bucket, 'orders/_delta_log/')).not.toContain(`orders/${commit(3)}`);
    expect(result.stderr).toMatch(new RegExp(`^datalake: failed: ${escapeRegExp(commit(3))}: not transferred: ${escapeRegExp(added!)} .*--exclude`, 'm'));
    expect(readRemoteTable()).toBe('2 15 105');

    const whole = await cli(['sync', table, `${remote}/`]);
    expect(whole.code).toBe(0);
    expect(readRemoteTable()).toBe('3 20 190');
  });

  it('a hidden checksum file of a data file left out by --exclude (no reader needs it) holds nothing back', async () => {
    const [added] = append(20);
    copyFileSync(join(table, added!), join(table, `.${added!}.crc`));
    const result = await cli(['sync', table, `${remote}/`, '--exclude', '*.crc']);
    expect(result.code).toBe(0);
    expect(readRemoteTable()).toBe('4 25 300');
  });
});

describe('F12: an interrupted sync’s --json document carries what completed beside the error', () => {
  it('SIGINT after 3 PUTs: transferred ≥ 3, error.code interrupted, exit 130', async () => {
    const tree = join(work.path, 'interrupt');
    mkdirSync(tree, { recursive: true });
    for (let i = 0; i < 8; i += 1) writeFileSync(join(tree, `f${i}.txt`), `file ${i}\n`);
    // One request at a time: the 4th PUT reaches the proxy only once the 3rd one's answer is back.
    proxy.setRules([{ method: 'PUT', match: /\/interrupt\//, skip: 3, fault: { kind: 'hold', gate: 'fourth' } }]);
    const child = spawn(process.execPath, [BIN, 'sync', tree, `s3://${bucket}/interrupt/`, '--json', '--concurrency', '1'], { env: proxied, cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => proxy.held('fourth') === 1, 'the 4th PUT held at the proxy');
      expect(proxy.log.filter((entry) => entry.method === 'PUT' && entry.fault === undefined)).toHaveLength(3);
      child.kill('SIGINT');
      await waitFor(() => stderr.includes('SIGINT received'), 'the CLI to take the interrupt');
    } finally {
      proxy.release('fourth');
    }
    expect(await exited).toBe(130);
    const json = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as SyncJson;
    expect(json.error).toMatchObject({ code: 'interrupted' });
    expect(json.transferred).toBeGreaterThanOrEqual(3);
    expect(json.transferred).toBeLessThan(8);
    expect(json).toMatchObject({ skipped: 0, deleted: 0, failed: 0 });
    expect(json.bytes).toBe(json.transferred * 'file 0\n'.length);
    proxy.setRules([]);
  });
});

describe('F7: names that are not valid UTF-8 are reported as failed, never skipped silently', () => {
  const tree = join(work.path, 'bad-names');
  const badFile = Buffer.concat([Buffer.from(`${tree}/bad`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]);
  const badFolder = Buffer.concat([Buffer.from(`${tree}/data`), Buffer.from([0xff]), Buffer.from('2024')]);

  beforeAll(() => {
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'good.txt'), 'good');
    writeFileSync(badFile, 'a file whose name is not UTF-8');
    mkdirSync(badFolder);
    writeFileSync(Buffer.concat([badFolder, Buffer.from('/a.txt')]), 'a');
    writeFileSync(Buffer.concat([badFolder, Buffer.from('/b.txt')]), 'b');
  });

  const expectNamed = (stderr: string) => {
    const lines = stderr.trim().split('\n').filter((line) => line.startsWith('datalake: failed:'));
    expect(lines).toHaveLength(2);
    expect(lines).toContainEqual(expect.stringMatching(/bad\\xff\\xfe\.txt: .*not valid UTF-8/));
    expect(lines).toContainEqual(expect.stringMatching(/data\\xff2024\/: .*not valid UTF-8/));
  };

  it('sync: one line each, counted as failed, exit 1; the good file uploaded', async () => {
    const result = await cli(['sync', tree, `s3://${bucket}/bad-sync/`]);
    expect(result.code).toBe(1);
    expectNamed(result.stderr);
    expect(result.json).toMatchObject({ transferred: 1, failed: 2 });
    expect(await listKeys(client, bucket, 'bad-sync/')).toEqual(['bad-sync/good.txt']);
  });

  it('put -r: one line each, in --json failed, exit 1', async () => {
    const result = await cli(['put', '-r', tree, `s3://${bucket}/bad-put/`]);
    expect(result.code).toBe(1);
    expectNamed(result.stderr);
    const json = lastJson<{ objects: unknown[]; failed: Array<{ path?: string; error: string }> }>(result);
    expect(json.objects).toHaveLength(1);
    expect(json.failed).toHaveLength(2);
    expect(await listKeys(client, bucket, 'bad-put/')).toEqual(['bad-put/good.txt']);
  });
});

describe('F11: names the walk leaves out itself are never deleted remotely', () => {
  const tree = join(work.path, 'temporary-names');

  beforeAll(async () => {
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'report'), 'the report');
    writeFileSync(join(tree, '.report.datalake-part'), 'a file of the user that looks like a partial download');
    for (const key of ['.report.datalake-part', '.other.datalake-part', 'stray.txt']) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `temp/${key}`, Body: `remote ${key}` }));
    }
  });

  it('sync --delete up: the stray is deleted, the temporary-looking keys are kept and reported once each as skipped', async () => {
    const result = await cli(['sync', tree, `s3://${bucket}/temp/`, '--delete']);
    expect(result.code).toBe(0);
    expect((await listKeys(client, bucket, 'temp/')).sort()).toEqual(['temp/.other.datalake-part', 'temp/.report.datalake-part', 'temp/report']);
    expect(result.json).toMatchObject({ transferred: 1, deleted: 1, skipped: 2, failed: 0 });
  });

  it('sync --delete down: temporary-looking keys are not downloaded (each failed, as get -r fails them), local temporary files are not deleted (a download’s own: in silence)', async () => {
    const down = join(work.path, 'temporary-names-down');
    mkdirSync(down, { recursive: true });
    writeFileSync(join(down, '.mine.datalake-part'), 'local');
    const result = await cli(['sync', `s3://${bucket}/temp/`, down, '--delete']);
    expect(result.code).toBe(1);
    expect(readdirSync(down).sort()).toEqual(['.mine.datalake-part', 'report']);
    expect(result.json).toMatchObject({ transferred: 1, deleted: 0, skipped: 0, failed: 2 });
    expect(result.json.errors.map((e) => e.name).sort()).toEqual(['.other.datalake-part', '.report.datalake-part']);
  });
});

describe('F8: a state directory that is full', () => {
  it('put of a multipart file: exit 1 naming the state directory, and no incomplete upload left on the server', async () => {
    const state = join(work.path, 'full-state');
    mkdirSync(state, { recursive: true });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', state], { encoding: 'utf8' });
    if (mounted.status !== 0) throw new Error(`cannot mount a tmpfs at ${state} (this test needs root): ${mounted.stderr || mounted.error}`);
    mounts.push(state);
    mkdirSync(join(state, 'uploads'));
    try {
      writeFileSync(join(state, 'filler'), Buffer.alloc(MiB));
      throw new Error('the tmpfs did not fill up');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    }
    const file = join(work.path, 'multipart.bin');
    writeFileSync(file, Buffer.alloc(11 * MiB, 'multipart '));
    const fullEnv = s3Env({ DATALAKE_STATE_DIR: state, DATALAKE_CACHE_DIR: join(work.path, 'cache'), DATALAKE_PART_SIZE: '5MiB' });
    const result = await runCli(['put', file, `s3://${bucket}/full/multipart.bin`], { env: fullEnv });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(state);
    expect(result.stderr).toMatch(/no space left/);
    const uploads = await runCli(['uploads', 'ls', `s3://${bucket}/full/`, '--json'], { env });
    expect(uploads.code).toBe(0);
    expect(lastJson<{ uploads: unknown[] }>(uploads).uploads).toEqual([]);
  });
});
