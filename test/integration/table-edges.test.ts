import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, tempDirectory, testClient } from '../support/harness.js';
import { runPython } from '../support/python.js';

/**
 * `table append|log|check` at the edges a reviewer found: values and names a reader would refuse,
 * re-runs after a table was rewritten, tables inside tables, absolute paths and damaged logs. python
 * `deltalake` (delta-rs) makes the tables others write and reads back what datalake wrote.
 */
const work = tempDirectory('table-edges');
let client: S3Client;
let bucket: string;
let otherBucket: string;

const file = (name: string) => join(work.path, name);
const cli = (args: string[], env?: NodeJS.ProcessEnv) => runCli([...args, '--json'], env ? { env } : {});
const url = (prefix: string) => `s3://${bucket}/${prefix}`;

function python(code: string): string {
  const s3 = inject('s3');
  return runPython(`
import glob, shutil, tempfile
import arro3.core as ac
from deltalake import DeltaTable, QueryBuilder, write_deltalake
opts = {'AWS_ENDPOINT_URL': ${JSON.stringify(s3.endpoint ?? '')}, 'AWS_ACCESS_KEY_ID': ${JSON.stringify(s3.accessKeyId)}, 'AWS_SECRET_ACCESS_KEY': ${JSON.stringify(s3.secretAccessKey)},
 'AWS_REGION': ${JSON.stringify(s3.region)}, 'AWS_ALLOW_HTTP': 'true', 'conditional_put': 'etag'}
def ids(start, n, nullable=True):
    return ac.Table.from_arrays([ac.Array(list(range(start, start + n)), type=ac.DataType.int64())], schema=ac.Schema([ac.Field('id', ac.DataType.int64(), nullable=nullable)]))
def write(name, table):
    folder = tempfile.mkdtemp()
    write_deltalake(folder, table)
    shutil.move(glob.glob(folder + '/*.parquet')[0], ${JSON.stringify(work.path)} + '/' + name)
    shutil.rmtree(folder)
def rows(url):
    dt = DeltaTable(url, storage_options=opts)
    return dt.version(), sorted(r for r in QueryBuilder().register('t', dt).execute('select id from t').read_all()['id'].to_pylist())
${code}
`);
}

function oneLine(result: { code: number | null; stderr: string }, code: number): string {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'table-edges');
  otherBucket = await createTestBucket(client, 'table-edges-other');
  python(`
write('ids.parquet', ids(0, 5))
write('more.parquet', ids(5, 5))
write('required.parquet', ids(10, 2, nullable=False))
# delta-rs refuses to write names that clash ignoring case; the footer's second name is renamed in place.
write('cased.parquet', ac.Table.from_arrays([ac.Array([1], type=ac.DataType.int64()), ac.Array([2], type=ac.DataType.int64())], names=['abc', 'xyz']))
path = ${JSON.stringify(work.path)} + '/cased.parquet'
data = open(path, 'rb').read()
open(path, 'wb').write(data.replace(b'xyz', b'ABC'))
`);
});

afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  await emptyAndDeleteBucket(client, otherBucket);
  client.destroy();
  work.remove();
});

describe('values and names a Delta reader would refuse: exit 2, one line, nothing uploaded', () => {
  it("a partition value out of the column's range (an integer column of a deltalake table)", async () => {
    python(`write_deltalake('s3://${bucket}/typed/', ac.Table.from_arrays([ac.Array([1], type=ac.DataType.int64()), ac.Array([3], type=ac.DataType.int32())], names=['id', 'n']), partition_by=['n'], storage_options=opts)`);
    const before = await listKeys(client, bucket, 'typed/');
    const line = oneLine(await cli(['table', 'append', url('typed/'), file('ids.parquet'), '--partition', 'n=99999999999']), 2);
    expect(line).toMatch(/n=99999999999.*integer/);
    expect(await listKeys(client, bucket, 'typed/')).toEqual(before);
  });

  it('column names that clash ignoring case', async () => {
    expect(oneLine(await cli(['table', 'append', url('case1/'), file('ids.parquet'), '--partition', 'ID=7']), 2)).toMatch(/ID.*id/);
    expect(oneLine(await cli(['table', 'append', url('case2/'), file('ids.parquet'), '--partition', 'k=v', '--partition', 'K=w']), 2)).toMatch(/K.*k|k.*K/);
    expect(oneLine(await cli(['table', 'append', url('case3/'), file('cased.parquet')]), 2)).toMatch(/abc.*ABC|ABC.*abc/);
    expect(await listKeys(client, bucket, 'case')).toEqual([]);
  });

  it("a new table's partition column follows Delta's name rules: event-date is fine, a space is not", async () => {
    expect(oneLine(await cli(['table', 'append', url('names1/'), file('ids.parquet'), '--partition', 'a b=1']), 2)).toMatch(/'a b'/);
    expect(await listKeys(client, bucket, 'names1/')).toEqual([]);
    const result = await cli(['table', 'append', url('names2/'), file('ids.parquet'), '--partition', 'event-date=2024-01-15']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('a partition column a deltalake table already has (event-date) is accepted, and deltalake reads the rows', async () => {
    python(`write_deltalake('s3://${bucket}/dashed/', ac.Table.from_arrays([ac.Array([100], type=ac.DataType.int64()), ac.Array(['2024-01-01'], type=ac.DataType.string())], names=['id', 'event-date']), partition_by=['event-date'], storage_options=opts)`);
    const result = await cli(['table', 'append', url('dashed/'), file('ids.parquet'), '--partition', 'event-date=2024-01-02']);
    expect(result.code, result.stderr).toBe(0);
    expect(python(`print(rows('s3://${bucket}/dashed/'))`).trim()).toBe('(1, [0, 1, 2, 3, 4, 100])');
  });

  it("--zone/--dataset with a layout whose date comes before {dataset}: dates belong in partitions", async () => {
    const line = oneLine(await cli(['table', 'append', '--bucket', bucket, '--layout', '{yyyy}/{mm}/{zone}/{dataset}/{name}', '--zone', 'raw', '--dataset', 'x', file('ids.parquet')]), 2);
    expect(line).toMatch(/date/);
    expect(await listKeys(client, bucket, '2')).toEqual([]);
  });

  it('a new table inside another table (in its partition folder) is refused', async () => {
    expect((await cli(['table', 'append', url('host/'), file('ids.parquet'), '--partition', 'k=a b'])).code).toBe(0);
    const before = await listKeys(client, bucket, 'host/');
    for (const inner of ['host/k=a b/', 'host/k=a b/deeper/', 'host/k=new/']) {
      expect(oneLine(await cli(['table', 'append', url(inner), file('more.parquet')]), 2), inner).toMatch(new RegExp(`s3://${bucket}/host/.*_delta_log`));
    }
    expect(await listKeys(client, bucket, 'host/')).toEqual(before);
  });

  it('a prefix is not taken over when a file named like an append\'s leftover does not hold that content', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `fake/data-${'1'.repeat(32)}.parquet`, Body: 'not that content' }));
    expect(oneLine(await cli(['table', 'append', url('fake/'), file('ids.parquet')]), 2)).toMatch(/not a Delta table/);
    const body = 'PAR1 leftover';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `left/day=1/x-${createHash('md5').update(body).digest('hex')}.parquet`, Body: body }));
    expect((await cli(['table', 'append', url('left/'), file('ids.parquet')])).code).toBe(0);
  });
});

describe('schemas of several files for a new table', () => {
  it('one file with id required and one nullable: the table takes nullable, in either order', async () => {
    for (const [prefix, files] of [['null1/', ['required.parquet', 'ids.parquet']], ['null2/', ['ids.parquet', 'required.parquet']]] as const) {
      const result = await cli(['table', 'append', url(prefix), ...files.map(file)]);
      expect(result.code, result.stderr).toBe(0);
      expect(python(`print(rows('s3://${bucket}/${prefix}'))`).trim()).toBe('(0, [0, 1, 2, 3, 4, 10, 11])');
    }
  });
});

describe('re-running an append after the table was rewritten', () => {
  it('after a DELETE the removed file is not added again: the deleted row stays deleted', async () => {
    expect((await cli(['table', 'append', url('del/'), file('ids.parquet')])).code).toBe(0);
    python(`DeltaTable('s3://${bucket}/del/', storage_options=opts).delete('id = 0')`);
    const result = await cli(['table', 'append', url('del/'), file('ids.parquet')]);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: null, files: [{ action: 'removed-before' }] });
    expect(python(`print(rows('s3://${bucket}/del/'))`).trim()).toBe('(1, [1, 2, 3, 4])');
  });

  it('after an OPTIMIZE (and a checkpoint) the compacted files are not added again: no row doubled', async () => {
    expect((await cli(['table', 'append', url('opt/'), file('ids.parquet')])).code).toBe(0);
    expect((await cli(['table', 'append', url('opt/'), file('more.parquet')])).code).toBe(0);
    python(`dt = DeltaTable('s3://${bucket}/opt/', storage_options=opts)\ndt.optimize.compact()\nDeltaTable('s3://${bucket}/opt/', storage_options=opts).create_checkpoint()`);
    const result = await cli(['table', 'append', url('opt/'), file('ids.parquet'), file('more.parquet')]);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: null });
    expect(python(`print(rows('s3://${bucket}/opt/'))`).trim()).toBe(`(2, ${JSON.stringify(Array.from({ length: 10 }, (_, i) => i)).replace(/,/g, ', ')})`);
  });
});

describe('reading logs others wrote', () => {
  it('table check resolves absolute s3a:// and s3:// paths, in this bucket or another', async () => {
    expect((await cli(['table', 'append', url('abs/'), file('ids.parquet')])).code).toBe(0);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'elsewhere/a.parquet', Body: 'abc' }));
    await client.send(new PutObjectCommand({ Bucket: otherBucket, Key: 'b c.parquet', Body: 'abcd' }));
    const add = (path: string, size: number) => JSON.stringify({ add: { path, size, partitionValues: {}, modificationTime: 1, dataChange: true } });
    const commit = [JSON.stringify({ commitInfo: {} }), add(`s3a://${bucket}/elsewhere/a.parquet`, 3), add(`s3://${otherBucket}/b%20c.parquet`, 4), add(`s3n://${otherBucket}/gone.parquet`, 1)].join('\n');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'abs/_delta_log/00000000000000000001.json', Body: `${commit}\n` }));
    const result = await cli(['table', 'check', url('abs/')]);
    expect(result.code, result.stderr).toBe(1);
    expect(lastJson(result)).toMatchObject({ checked: 4, problems: [{ bucket: otherBucket, key: 'gone.parquet', problem: 'missing' }] });
  });

  it('a commit line that is not an object (null) is a damaged log: exit 1, the version file named', async () => {
    expect((await cli(['table', 'append', url('nul/'), file('ids.parquet')])).code).toBe(0);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'nul/_delta_log/00000000000000000001.json', Body: '{"commitInfo":{}}\nnull\n' }));
    for (const command of [['table', 'append', url('nul/'), file('more.parquet')], ['table', 'log', url('nul/')], ['table', 'check', url('nul/')]]) {
      expect(oneLine(await cli(command), 1), command[1]).toMatch(/nul\/_delta_log\/00000000000000000001\.json/);
    }
  });

  it('a v2-checkpoint table whose early commits are gone names v2Checkpoint', async () => {
    const id = '3a0d65cd-4056-49b8-937b-95f9e3ee90e5';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `v2/_delta_log/00000000000000000002.checkpoint.${id}.json`, Body: '{"checkpointMetadata":{"version":2}}\n' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'v2/_delta_log/_last_checkpoint', Body: JSON.stringify({ version: 2, size: 1, v2Checkpoint: { path: `00000000000000000002.checkpoint.${id}.json` } }) }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'v2/_delta_log/00000000000000000003.json', Body: '{"commitInfo":{}}\n' }));
    expect(oneLine(await cli(['table', 'append', url('v2/'), file('ids.parquet')]), 1)).toMatch(/v2Checkpoint/);
  });
});
