import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient, waitFor } from '../support/harness.js';
import { runPython } from '../support/python.js';

/**
 * `table append` when the network misbehaves or another writer gets in between: a commit is written
 * once or not at all, a run whose data files did not all arrive commits nothing, and the next run of
 * the same append reuses what the failed one uploaded.
 */
const work = tempDirectory('table-faults');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;

const file = (name: string) => join(work.path, name);
const COMMIT = /_delta_log\/\d{20}\.json/;

const appendThroughProxy = (table: string, names: string[], extra: string[] = []) =>
  runCli(['table', 'append', `s3://${bucket}/${table}/`, ...names.map(file), '--json', ...extra], { env: proxied });

async function logKeys(table: string): Promise<string[]> {
  return (await listKeys(client, bucket, `${table}/_delta_log/`)).sort();
}

async function readObject(key: string): Promise<string> {
  return (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
}

async function createTable(table: string): Promise<void> {
  const result = await runCli(['table', 'append', `s3://${bucket}/${table}/`, file('base.parquet'), '--json']);
  expect(result.code, result.stderr).toBe(0);
}

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'table-faults');
  proxy = new FaultProxy(inject('s3').endpoint!);
  proxied = s3Env({ AWS_ENDPOINT_URL: await proxy.start(), DATALAKE_STATE_DIR: join(work.path, 'state') });
  runPython(`
import glob, shutil, tempfile
import arro3.core as ac
from deltalake import write_deltalake
for name, start in [('base', 0), ('x', 10), ('y', 20)]:
    folder = tempfile.mkdtemp()
    write_deltalake(folder, ac.Table.from_arrays([ac.Array(list(range(start, start + 3)), type=ac.DataType.int64())], names=['id']))
    shutil.move(glob.glob(folder + '/*.parquet')[0], ${JSON.stringify(work.path)} + '/' + name + '.parquet')
    shutil.rmtree(folder)
`);
});

afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

describe('table append under faults', () => {
  it('the answer to the commit is lost: the retry meets its own commit (412), reads it back, and reports it written once', async () => {
    await createTable('lost');
    proxy.setRules([{ method: 'PUT', match: COMMIT, times: 1, fault: { kind: 'lose-response' } }]);
    const result = await appendThroughProxy('lost', ['x.parquet']);
    expect(proxy.faults('lose-response')).toBe(1);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: 1, versionsLost: 0 });
    expect(await logKeys('lost')).toEqual(['lost/_delta_log/00000000000000000000.json', 'lost/_delta_log/00000000000000000001.json']);
  });

  it('a data file the server keeps failing (5xx): exit 1, no commit, the uploaded file named; the next run reuses it', async () => {
    await createTable('partial');
    proxy.setRules([{ method: 'PUT', match: /partial\/y-[0-9a-f]{32}\.parquet/, fault: { kind: 'status', status: 500, code: 'InternalError' } }]);
    const failed = await appendThroughProxy('partial', ['x.parquet', 'y.parquet'], ['--retries', '1']);
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toMatch(/nothing was committed to .*: .*y\.parquet: InternalError.*uploaded but not in the table: s3:\/\/.*partial\/x-[0-9a-f]{32}\.parquet/);
    expect(await logKeys('partial')).toEqual(['partial/_delta_log/00000000000000000000.json']);
    expect(lastJson(failed)).toMatchObject({ version: null, uploaded: [expect.stringMatching(/partial\/x-[0-9a-f]{32}\.parquet$/)], error: { code: 'failed' } });

    proxy.setRules([]);
    const again = await appendThroughProxy('partial', ['x.parquet', 'y.parquet']);
    expect(again.code, again.stderr).toBe(0);
    expect(lastJson(again)).toMatchObject({ version: 1, files: [{ action: 'reused' }, { action: 'uploaded' }] });
    expect((await listKeys(client, bucket, 'partial/')).filter((key) => key.endsWith('.parquet'))).toHaveLength(3);
  });

  it('a failed first append of a file named `.parquet` (its key: -MD5.parquet) leaves a prefix the next run takes as its own', async () => {
    mkdirSync(file('hidden'), { recursive: true });
    copyFileSync(file('x.parquet'), file('hidden/.parquet'));
    proxy.setRules([{ method: 'PUT', match: /dotted\/y-[0-9a-f]{32}\.parquet/, fault: { kind: 'status', status: 500, code: 'InternalError' } }]);
    const failed = await appendThroughProxy('dotted', ['hidden/.parquet', 'y.parquet'], ['--retries', '0']);
    proxy.setRules([]);
    expect(failed.code).toBe(1);
    expect((await listKeys(client, bucket, 'dotted/')).map((key) => key.replace(/[0-9a-f]{32}/, 'MD5'))).toEqual(['dotted/-MD5.parquet']);
    const again = await appendThroughProxy('dotted', ['hidden/.parquet', 'y.parquet']);
    expect(again.code, again.stderr).toBe(0);
    expect(lastJson(again)).toMatchObject({ version: 0, files: [{ action: 'reused' }, { action: 'uploaded' }] });
  });

  it('a commit PUT the server keeps failing: exit 1, nothing committed; the next run commits with the files reused', async () => {
    await createTable('nocommit');
    proxy.setRules([{ method: 'PUT', match: COMMIT, fault: { kind: 'status', status: 503, code: 'ServiceUnavailable' } }]);
    const failed = await appendThroughProxy('nocommit', ['x.parquet'], ['--retries', '1']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/commit .*00000000000000000001\.json was not written: ServiceUnavailable.*uploaded but not in the table/);
    expect(await logKeys('nocommit')).toHaveLength(1);
    proxy.setRules([]);
    const again = await appendThroughProxy('nocommit', ['x.parquet']);
    expect(again.code, again.stderr).toBe(0);
    expect(lastJson(again)).toMatchObject({ version: 1, files: [{ action: 'reused' }] });
  });

  it('another writer takes the version first with a plain append: this one reads it and commits at the next version', async () => {
    await createTable('race');
    proxy.setRules([{ method: 'PUT', match: COMMIT, fault: { kind: 'hold', gate: 'commit' } }]);
    const running = appendThroughProxy('race', ['x.parquet']);
    await waitFor(() => proxy.held('commit') === 1, 'the commit PUT to reach the proxy');
    const other = { add: { path: 'other.parquet', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'race/_delta_log/00000000000000000001.json', Body: `${JSON.stringify({ commitInfo: { operation: 'WRITE' } })}\n${JSON.stringify(other)}\n` }));
    proxy.release('commit');
    const result = await running;
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: 2, versionsLost: 1 });
    expect(await readObject('race/_delta_log/00000000000000000002.json')).toMatch(/"path":"x-[0-9a-f]{32}\.parquet"/);
  });

  it('another writer changes the schema meanwhile: a conflict, exit 1, nothing committed, the uploaded file named', async () => {
    await createTable('conflict');
    proxy.setRules([{ method: 'PUT', match: COMMIT, fault: { kind: 'hold', gate: 'schema' } }]);
    const running = appendThroughProxy('conflict', ['x.parquet']);
    await waitFor(() => proxy.held('schema') === 1, 'the commit PUT to reach the proxy');
    const v0 = (await readObject('conflict/_delta_log/00000000000000000000.json')).split('\n').map((line) => (line ? (JSON.parse(line) as Record<string, Record<string, unknown>>) : {}));
    const metaData = { ...v0.find((action) => action.metaData)!.metaData, schemaString: JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'string', nullable: true, metadata: {} }] }) };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'conflict/_delta_log/00000000000000000001.json', Body: `${JSON.stringify({ metaData })}\n` }));
    proxy.release('schema');
    const result = await running;
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/version 1, written by another writer meanwhile, changes the table's metadata or schema: it conflicts with this append; nothing was committed.*uploaded but not in the table: s3:\/\/.*conflict\/x-/);
    expect(await logKeys('conflict')).toHaveLength(2);
  });
});
