import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, tempDirectory, testClient } from '../support/harness.js';
import { runPython } from '../support/python.js';

/**
 * `datalake table append` against a real S3 server, with python `deltalake` (delta-rs) as the
 * independent reader and as the other writer: tables datalake makes are read back row for row, and
 * tables delta-rs made (partitioned, with checkpoints) are appended to.
 */
const work = tempDirectory('table');
let client: S3Client;
let bucket: string;

const file = (name: string) => join(work.path, name);
const cli = (args: string[]) => runCli([...args, '--json']);

function storageOptions(): string {
  const s3 = inject('s3');
  return `{'AWS_ENDPOINT_URL': ${JSON.stringify(s3.endpoint ?? '')}, 'AWS_ACCESS_KEY_ID': ${JSON.stringify(s3.accessKeyId)},
 'AWS_SECRET_ACCESS_KEY': ${JSON.stringify(s3.secretAccessKey)}, 'AWS_REGION': ${JSON.stringify(s3.region)}, 'AWS_ALLOW_HTTP': 'true',
 'conditional_put': 'etag'}`;
}

/** Runs Python with `opts` (the server's storage options), `read(url)` (rows as sorted tuples) and `batch(start, n, day=None)`. */
function python(code: string): string {
  return runPython(`
import json
import arro3.core as ac
from deltalake import DeltaTable, QueryBuilder, write_deltalake
opts = ${storageOptions()}
def batch(start, n, day=None):
    arrays = [ac.Array(list(range(start, start + n)), type=ac.DataType.int64()), ac.Array(['n%d' % i for i in range(start, start + n)], type=ac.DataType.string())]
    names = ['id', 'name']
    if day is not None:
        arrays.append(ac.Array([day] * n, type=ac.DataType.string()))
        names.append('day')
    return ac.Table.from_arrays(arrays, names=names)
def read(url, columns='id, name, day'):
    dt = DeltaTable(url, storage_options=opts)
    table = QueryBuilder().register('t', dt).execute('select ' + columns + ' from t order by id').read_all()
    return dt, list(zip(*[table[c.strip()].to_pylist() for c in columns.split(',')]))
${code}
`);
}

/** Parquet files written by delta-rs (plain, snappy): `name → [start, rows]`, plus one whose `id` is a string. */
function makeParquetFiles(files: Record<string, [number, number]>): void {
  runPython(`
import glob, shutil, tempfile
import arro3.core as ac
from deltalake import write_deltalake
def write(path, table):
    folder = tempfile.mkdtemp()
    write_deltalake(folder, table)
    shutil.move(glob.glob(folder + '/*.parquet')[0], path)
    shutil.rmtree(folder)
def batch(start, n):
    return ac.Table.from_arrays([ac.Array(list(range(start, start + n)), type=ac.DataType.int64()), ac.Array(['n%d' % i for i in range(start, start + n)], type=ac.DataType.string())], names=['id', 'name'])
for name, (start, n) in ${JSON.stringify(files)}.items():
    write(${JSON.stringify(work.path)} + '/' + name, batch(start, n))
write(${JSON.stringify(file('string-ids.parquet'))}, ac.Table.from_arrays([ac.Array(['a', 'b'], type=ac.DataType.string()), ac.Array(['x', 'y'], type=ac.DataType.string())], names=['id', 'name']))
`);
}

async function logKeys(prefix: string): Promise<string[]> {
  return (await listKeys(client, bucket, `${prefix}_delta_log/`)).filter((key) => key.endsWith('.json')).sort();
}

async function readObject(key: string): Promise<string> {
  return (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
}

const concurrent = Array.from({ length: 8 }, (_, index) => `c${index}.parquet`);

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'table');
  makeParquetFiles({
    'a1.parquet': [0, 5],
    'a2.parquet': [5, 5],
    'b1.parquet': [10, 3],
    ...Object.fromEntries(concurrent.map((name, index) => [name, [1000 + index * 10, 10]])),
  });
  writeFileSync(file('not-parquet.parquet'), 'id,name\n1,a\n');
});

afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

describe('a table datalake creates', () => {
  const table = () => `s3://${bucket}/orders/`;

  it('the first append to an empty prefix creates version 0, which deltalake reads row for row with its partition and stats', async () => {
    const result = await cli(['table', 'append', table(), file('a1.parquet'), file('a2.parquet'), '--partition', 'day=2024-01-15']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: 0, created: true, files: [{ action: 'uploaded', numRecords: 5 }, { action: 'uploaded', numRecords: 5 }] });
    expect(await logKeys('orders/')).toEqual(['orders/_delta_log/00000000000000000000.json']);
    const actions = (await readObject('orders/_delta_log/00000000000000000000.json')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, Record<string, unknown>>);
    expect(actions.map((action) => Object.keys(action)[0])).toEqual(['commitInfo', 'protocol', 'metaData', 'add', 'add']);
    expect(actions[0]!.commitInfo).toMatchObject({ operation: 'WRITE', isBlindAppend: true, operationParameters: { mode: 'Append', partitionBy: '["day"]' } });
    expect(actions[2]!.metaData).toMatchObject({ partitionColumns: ['day'], format: { provider: 'parquet' } });
    expect(JSON.parse(actions[2]!.metaData!.schemaString as string)).toEqual({
      type: 'struct',
      fields: [
        { name: 'id', type: 'long', nullable: true, metadata: {} },
        { name: 'name', type: 'string', nullable: true, metadata: {} },
        { name: 'day', type: 'string', nullable: true, metadata: {} },
      ],
    });
    const add = actions[3]!.add!;
    expect(add).toMatchObject({ partitionValues: { day: '2024-01-15' }, dataChange: true, size: expect.any(Number), modificationTime: expect.any(Number) });
    expect(add.path).toMatch(/^day=2024-01-15\/a1-[0-9a-f]{32}\.parquet$/);
    expect(JSON.parse(add.stats as string)).toEqual({ numRecords: 5, minValues: { id: 0, name: 'n0' }, maxValues: { id: 4, name: 'n4' }, nullCount: { id: 0, name: 0 } });
    const output = python(`
dt, rows = read(${JSON.stringify(table())})
adds = dt.get_add_actions(flatten=True)
print(json.dumps({'version': dt.version(), 'rows': rows, 'protocol': [dt.protocol().min_reader_version, dt.protocol().min_writer_version],
  'partitions': sorted(adds['partition.day'].to_pylist()), 'records': sorted(adds['num_records'].to_pylist()),
  'min': sorted(adds['min.id'].to_pylist()), 'max': sorted(adds['max.id'].to_pylist()), 'nulls': adds['null_count.name'].to_pylist(),
  'maxName': sorted(adds['max.name'].to_pylist())}))
`);
    expect(JSON.parse(output)).toEqual({
      version: 0,
      rows: Array.from({ length: 10 }, (_, id) => [id, `n${id}`, '2024-01-15']),
      protocol: [1, 1],
      partitions: ['2024-01-15', '2024-01-15'],
      records: [5, 5],
      min: [0, 5],
      max: [4, 9],
      nulls: [0, 0],
      maxName: ['n4', 'n9'],
    });
  });

  it('a second append is version 1, in its own partition folder', async () => {
    const result = await cli(['table', 'append', table(), file('b1.parquet'), '--partition', 'day=2024-01-16']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: 1, created: false });
    expect((await listKeys(client, bucket, 'orders/day=2024-01-16/')).length).toBe(1);
    const output = python(`dt, rows = read(${JSON.stringify(table())})\nprint(dt.version(), len(rows), sum(r[0] for r in rows), sorted(set(r[2] for r in rows)))`);
    expect(output.trim()).toBe("1 13 78 ['2024-01-15', '2024-01-16']");
  });

  it('the same append run again commits nothing: its file is already in the table', async () => {
    const result = await cli(['table', 'append', table(), file('b1.parquet'), '--partition', 'day=2024-01-16']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: null, files: [{ action: 'in-table' }] });
    expect(await logKeys('orders/')).toHaveLength(2);
  });

  it("--zone/--dataset name the layout's {zone}/{dataset}/ as the table", async () => {
    const result = await cli(['table', 'append', '--bucket', bucket, '--zone', 'analytics', '--dataset', 'clicks', file('b1.parquet'), '--partition', 'day=2024-01-16']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ table: `s3://${bucket}/analytics/clicks/`, version: 0, files: [{ key: expect.stringMatching(/^analytics\/clicks\/day=2024-01-16\/b1-[0-9a-f]{32}\.parquet$/) }] });
  });

  it('--dry-run checks and shows the plan, and uploads and commits nothing', async () => {
    const result = await cli(['table', 'append', table(), file('c0.parquet'), '--partition', 'day=2024-01-17', '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ dryRun: true, version: 2, tableVersion: 1, files: [{ action: 'append' }] });
    expect(await listKeys(client, bucket, 'orders/day=2024-01-17/')).toEqual([]);
  });
});

describe('column stats', () => {
  it("match delta-rs's own for the same file, except a timestamp maximum, rounded up to whole milliseconds; a query for the maximum finds its row", async () => {
    const local = join(work.path, 'typed-table');
    const stats = runPython(`
import glob, json, shutil
from deltalake import QueryBuilder, write_deltalake
ts = lambda text: "arrow_cast('%s', 'Timestamp(Microsecond, Some(\\"UTC\\"))')" % text
table = QueryBuilder().execute("select * from (values (1, " + ts('2024-01-15T10:00:00.123456Z') + ", cast('2024-01-15' as date), 'a', 1.5), (2, " + ts('2024-01-15T09:00:00.000001Z') + ", cast('2024-01-10' as date), null, -2.25)) as v(id, ts, d, note, x)").read_all()
write_deltalake(${JSON.stringify(local)}, table)
shutil.copy(glob.glob(${JSON.stringify(local)} + '/*.parquet')[0], ${JSON.stringify(file('typed.parquet'))})
for line in open(glob.glob(${JSON.stringify(local)} + '/_delta_log/*.json')[0]):
    if '"add"' in line: print(json.loads(line)['add']['stats'])
`);
    const theirs = JSON.parse(stats) as Record<string, Record<string, unknown>>;
    const result = await cli(['table', 'append', `s3://${bucket}/typed/`, file('typed.parquet')]);
    expect(result.code, result.stderr).toBe(0);
    const add = (await readObject('typed/_delta_log/00000000000000000000.json')).split('\n').find((line) => line.includes('"add"'))!;
    const ours = JSON.parse((JSON.parse(add) as { add: { stats: string } }).add.stats) as Record<string, Record<string, unknown>>;
    expect(theirs.maxValues!.ts).toBe('2024-01-15T10:00:00.123Z');
    expect(ours).toEqual({ ...theirs, maxValues: { ...theirs.maxValues, ts: '2024-01-15T10:00:00.124Z' } });
    const output = python(`dt = DeltaTable('s3://${bucket}/typed/', storage_options=opts)
rows = QueryBuilder().register('t', dt).execute("select id from t where ts = arrow_cast('2024-01-15T10:00:00.123456Z', 'Timestamp(Microsecond, Some(\\"UTC\\"))')").read_all()
print(rows['id'].to_pylist())`);
    expect(output.trim()).toBe('[1]');
  });
});

describe('bad input: one line, the right exit code, nothing uploaded or committed', () => {
  it('a file that is not Parquet is exit 2', async () => {
    const result = await cli(['table', 'append', `s3://${bucket}/bad1/`, file('a1.parquet'), file('not-parquet.parquet')]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/not-parquet\.parquet is not a Parquet file/);
    expect(await listKeys(client, bucket, 'bad1/')).toEqual([]);
  });

  it("a file whose schema differs from the table's is exit 2, the differing field named", async () => {
    const result = await cli(['table', 'append', `s3://${bucket}/orders/`, file('string-ids.parquet'), '--partition', 'day=2024-01-20']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/does not match the schema of .*orders\/: id is string in the file, long in the table/);
    expect(await listKeys(client, bucket, 'orders/day=2024-01-20/')).toEqual([]);
    expect(await logKeys('orders/')).toHaveLength(2);
  });

  it('the same file given twice is exit 2: a table references a file once', async () => {
    const result = await cli(['table', 'append', `s3://${bucket}/twice/`, file('a1.parquet'), file('a1.parquet')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/a1\.parquet and .*a1\.parquet are the same file/);
    expect(await listKeys(client, bucket, 'twice/')).toEqual([]);
  });

  it('an empty partition value is exit 2', async () => {
    const result = await cli(['table', 'append', `s3://${bucket}/empty-value/`, file('a1.parquet'), '--partition', 'day=']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--partition day=: an empty value/);
    expect(await listKeys(client, bucket, 'empty-value/')).toEqual([]);
  });

  it("an append without the table's partition column is exit 2", async () => {
    const result = await cli(['table', 'append', `s3://${bucket}/orders/`, file('c1.parquet')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is partitioned by day; this append gives none \(give --partition day=VALUE\)/);
  });

  it('a prefix holding other objects but no _delta_log is not made a table: exit 2', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'notes/readme.txt', Body: 'hello' }));
    const result = await cli(['table', 'append', `s3://${bucket}/notes/`, file('a1.parquet')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is not a Delta table \(no _delta_log\/\) and holds other objects, such as .*notes\/readme\.txt/);
    expect(await listKeys(client, bucket, 'notes/')).toEqual(['notes/readme.txt']);
  });

  it("a prefix holding only another append's uncommitted data files becomes a table", async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `pending/day=1/other-${createHash('md5').update('PAR1').digest('hex')}.parquet`, Body: 'PAR1' }));
    const result = await cli(['table', 'append', `s3://${bucket}/pending/`, file('a1.parquet'), '--partition', 'day=1']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: 0, created: true });
  });

  it('a table whose protocol needs deletion vectors is exit 1, the feature named', async () => {
    python(`
write_deltalake('s3://${bucket}/dv/', batch(0, 3), storage_options=opts)
`);
    // delta-rs's own upgrade path: a commit that raises the protocol to table features with deletionVectors.
    const protocol = { protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] } };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'dv/_delta_log/00000000000000000001.json', Body: `${JSON.stringify({ commitInfo: { operation: 'SET TBLPROPERTIES' } })}\n${JSON.stringify(protocol)}\n` }));
    const before = await listKeys(client, bucket, 'dv/');
    const result = await cli(['table', 'append', `s3://${bucket}/dv/`, file('a1.parquet')]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/uses the reader feature deletionVectors/);
    expect(await listKeys(client, bucket, 'dv/')).toEqual(before);
  });
});

describe('a table deltalake wrote', () => {
  it('partitioned and checkpointed: datalake appends after the checkpoint; deltalake reads every row', async () => {
    const url = `s3://${bucket}/events/`;
    python(`
for n in range(3):
    write_deltalake(${JSON.stringify(url)}, batch(n * 5, 5, '2024-01-0%d' % (n + 1)), mode='append', partition_by=['day'], storage_options=opts)
DeltaTable(${JSON.stringify(url)}, storage_options=opts).create_checkpoint()
write_deltalake(${JSON.stringify(url)}, batch(100, 5, '2024-01-09'), mode='append', partition_by=['day'], storage_options=opts)
`);
    expect(await listKeys(client, bucket, 'events/_delta_log/')).toContain('events/_delta_log/00000000000000000002.checkpoint.parquet');
    const result = await cli(['table', 'append', url, file('b1.parquet'), '--partition', 'day=2024-02-01']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: 4, created: false });
    const output = python(`dt, rows = read(${JSON.stringify(url)})\nprint(dt.version(), len(rows), [r for r in rows if r[2] == '2024-02-01'])`);
    expect(output.trim()).toBe("4 23 [(10, 'n10', '2024-02-01'), (11, 'n11', '2024-02-01'), (12, 'n12', '2024-02-01')]");
  });
});

describe('a table whose early commits were cleaned up', () => {
  it('is read from its checkpoint alone: the append lands at the next version and log says where its history starts', async () => {
    for (const version of [0, 1, 2]) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `events/_delta_log/${String(version).padStart(20, '0')}.json` }));
    const result = await cli(['table', 'append', `s3://${bucket}/events/`, file('c7.parquet'), '--partition', 'day=2024-02-02']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ version: 5 });
    const log = await runCli(['table', 'log', `s3://${bucket}/events/`]);
    expect(log.stdout).toMatch(/^versions before 3 are only in a checkpoint/);
    const output = python(`dt, rows = read('s3://${bucket}/events/')\nprint(dt.version(), len(rows))`);
    expect(output.trim()).toBe('5 33');
  });
});

describe('concurrent writers', () => {
  it('8 table append processes and one deltalake writer at once: every commit lands once, versions contiguous, all rows there', async () => {
    const url = `s3://${bucket}/busy/`;
    const created = await cli(['table', 'append', url, file('a1.parquet')]);
    expect(created.code, created.stderr).toBe(0);
    const appends = concurrent.map((name) => cli(['table', 'append', url, file(name)]));
    const deltaWriter = new Promise<string>((resolve, reject) => {
      try {
        resolve(python(`write_deltalake(${JSON.stringify(url)}, batch(5000, 4), mode='append', storage_options=opts)\nprint('ok')`));
      } catch (error) {
        reject(error);
      }
    });
    const results = await Promise.all(appends);
    expect(await deltaWriter).toMatch(/ok/);
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const versions = results.map((result) => lastJson<{ version: number }>(result).version).sort((a, b) => a - b);
    expect(new Set(versions).size).toBe(8);
    const logs = await logKeys('busy/');
    expect(logs).toEqual(Array.from({ length: 10 }, (_, version) => `busy/_delta_log/${String(version).padStart(20, '0')}.json`));
    const paths: string[] = [];
    for (const key of logs) {
      for (const line of (await readObject(key)).trim().split('\n')) {
        const action = JSON.parse(line) as { add?: { path: string } };
        if (action.add) paths.push(action.add.path);
      }
    }
    expect(paths).toHaveLength(10);
    expect(new Set(paths).size).toBe(10);
    const output = python(`dt, rows = read(${JSON.stringify(url)}, 'id, name')\nprint(dt.version(), len(rows), sum(r[0] for r in rows))`);
    const expectedSum = 10 + concurrent.reduce((sum, _, index) => sum + 10 * (1000 + index * 10) + 45, 0) + (5000 + 5001 + 5002 + 5003);
    expect(output.trim()).toBe(`9 ${5 + 80 + 4} ${expectedSum}`);
  });

  it('3 first appends to one empty prefix at once: one creates the table, the others append to it', async () => {
    const url = `s3://${bucket}/fresh/`;
    const results = await Promise.all(concurrent.slice(0, 3).map((name) => cli(['table', 'append', url, file(name), '--partition', 'day=2024-03-01'])));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const documents = results.map((result) => lastJson<{ version: number; created: boolean }>(result));
    expect(documents.map((document) => document.version).sort()).toEqual([0, 1, 2]);
    expect(documents.filter((document) => document.created)).toHaveLength(1);
    const output = python(`dt, rows = read(${JSON.stringify(url)})\nprint(dt.version(), len(rows))`);
    expect(output.trim()).toBe('2 30');
  });
});

describe('table log and table check', () => {
  it('log lists every version with its operation, files and rows added', async () => {
    const result = await cli(['table', 'log', `s3://${bucket}/orders/`]);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({
      versions: [
        { version: 0, operation: 'WRITE', filesAdded: 2, filesRemoved: 0, rowsAdded: 10 },
        { version: 1, operation: 'WRITE', filesAdded: 1, filesRemoved: 0, rowsAdded: 3 },
      ],
    });
  });

  it('check finds every file of the latest version; a missing one is exit 1, named', async () => {
    const fine = await cli(['table', 'check', `s3://${bucket}/orders/`]);
    expect(fine.code, fine.stderr).toBe(0);
    expect(lastJson(fine)).toMatchObject({ version: 1, ok: true, checked: 3, problems: [] });
    const [victim] = await listKeys(client, bucket, 'orders/day=2024-01-16/');
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: victim! }));
    const broken = await cli(['table', 'check', `s3://${bucket}/orders/`]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`${victim}: missing`);
    expect(lastJson(broken)).toMatchObject({ ok: false, checked: 3, problems: [{ problem: 'missing' }] });
  });

  it('a prefix with no log is not a table: exit 1', async () => {
    const result = await cli(['table', 'log', `s3://${bucket}/nothing-here/`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not a Delta table: it has no _delta_log\/ commits/);
  });
});
