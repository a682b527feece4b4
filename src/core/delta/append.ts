import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { formatS3Url, validateKey, type ObjectRef } from '../address.js';
import { md5FromMetadata, md5OfFile } from '../checksums.js';
import type { TransferContext } from '../context.js';
import { describeError, failure, usageError } from '../errors.js';
import { findObject } from '../objects.js';
import { uploadFile } from '../upload.js';
import { commitAppend, type AddAction, type Committed } from './commit.js';
import { readTableState, type TableState } from './log.js';
import { jsonWithBigInts, readParquetFacts, type ParquetFacts } from './parquet-footer.js';
import { lowestProtocolFor, refuseUnwritable, type Protocol, type TableMetadata } from './protocol.js';
import { schemaDifferences, type DeltaStruct } from './schema.js';
import { partitionFolder, partitionValueProblem, relativeUri } from './partitions.js';

/**
 * `table append`: Parquet files become one new version of a Delta table. Everything that can be
 * refused is refused before the first byte moves (not Parquet, a schema or partitioning that differs
 * from the table's, a table datalake cannot write, a prefix that holds something else). Each file
 * goes to a key made from its content's MD5, under the table's Hive-style partition folder, so a run
 * that failed before its commit left only files the next run of the same append finds and reuses,
 * and a file the table already references is not added twice.
 */
export interface AppendRequest {
  /** The table's root: a prefix ending in `/` (or the bucket's root). */
  root: ObjectRef;
  files: string[];
  partition: Array<{ column: string; value: string }>;
}

export type FileState = 'new' | 'in-table';

export interface PlannedFile {
  source: string;
  ref: ObjectRef;
  /** The add action's path: relative to the root, as a URI. */
  path: string;
  size: number;
  md5: string;
  facts: ParquetFacts;
  state: FileState;
}

export interface AppendPlan {
  root: ObjectRef;
  state: TableState | undefined;
  creation: { protocol: Protocol; metadata: TableMetadata } | undefined;
  partitionValues: Record<string, string>;
  files: PlannedFile[];
}

export async function planAppend(ctx: TransferContext, request: AppendRequest): Promise<AppendPlan> {
  const { root } = request;
  if (request.files.length === 0) throw usageError('no Parquet file to append');
  const columns = request.partition.map((entry) => entry.column);
  const repeated = columns.find((column, index) => columns.indexOf(column) !== index);
  if (repeated !== undefined) throw usageError(`--partition ${repeated} is given twice`);
  const local = await Promise.all(request.files.map((path) => readLocal(path)));
  const schema = local[0]!.facts.schema;
  for (const file of local.slice(1)) {
    const differences = schemaDifferences(file.facts.schema, schema);
    if (differences.length > 0) throw usageError(`${file.source} and ${local[0]!.source} have different schemas: ${differences.join('; ')}`);
  }
  const inFile = request.partition.find((entry) => schema.fields.some((field) => field.name === entry.column));
  if (inFile) throw usageError(`--partition ${inFile.column}: the files hold a column ${inFile.column}`, "a partition column's value comes from the folder, not from the file; leave it out of the files");

  const { state, otherKeys } = await readTableState(ctx, root);
  const table = formatS3Url(root);
  let partitionColumns: string[];
  let creation: AppendPlan['creation'];
  if (state) {
    refuseUnwritable(state.protocol, state.metadata, table);
    partitionColumns = state.metadata.partitionColumns;
    checkAgainstTable(state, schema, request, table, local[0]!.source);
  } else {
    partitionColumns = columns;
    for (const entry of request.partition) {
      const problem = partitionValueProblem(entry.value, 'string');
      if (problem) throw usageError(`--partition ${entry.column}=${entry.value}: ${problem}`);
    }
    creation = newTable(schema, partitionColumns);
  }
  const values = new Map(request.partition.map((entry) => [entry.column, entry.value]));
  const partitionValues = Object.fromEntries(partitionColumns.map((column) => [column, values.get(column)!]));
  const folder = partitionFolder(partitionColumns.map((column) => [column, values.get(column)!]));
  const files = local.map((file): PlannedFile => {
    const relative = `${folder}${fileNameFor(file.source, file.md5)}`;
    const ref = { bucket: root.bucket, key: `${root.key}${relative}` };
    validateKey(ref.key);
    return { ...file, ref, path: relativeUri(relative), state: state?.files.has(relative) ? 'in-table' : 'new' };
  });
  const byKey = new Map<string, string>();
  for (const file of files) {
    const same = byKey.get(file.ref.key);
    if (same !== undefined) throw usageError(`${same} and ${file.source} are the same file (same name and content): a table references a file once`);
    byKey.set(file.ref.key, file.source);
  }
  if (!state) {
    // An empty prefix becomes a table; one holding other things is not taken over. Data files that
    // appends upload before their commit (a failed run's, or a concurrent first append's) are no
    // obstacle: they are named by content, as this append names its own.
    const foreign = otherKeys.filter((key) => !UPLOADED_BY_APPEND.test(key));
    if (foreign.length > 0) {
      throw usageError(`${table} is not a Delta table (no _delta_log/) and holds other objects, such as ${formatS3Url({ bucket: root.bucket, key: foreign[0]! })}`, 'append to an empty prefix, or to a table');
    }
  }
  return { root, state, creation, partitionValues, files };
}

async function readLocal(source: string): Promise<Omit<PlannedFile, 'ref' | 'path' | 'state'>> {
  const info = await stat(source).catch((error: NodeJS.ErrnoException) => {
    throw usageError(error.code === 'ENOENT' ? `no such file '${source}'` : `cannot read '${source}': ${error.code ?? error.message}`);
  });
  if (!info.isFile()) throw usageError(`'${source}' is not a regular file`);
  const facts = await readParquetFacts(source);
  return { source, size: info.size, md5: (await md5OfFile(source)).toString('hex'), facts };
}

/** A data file's key as fileNameFor makes it. */
const UPLOADED_BY_APPEND = /-[0-9a-f]{32}\.parquet$/;

/** `events.parquet` with MD5 `ab12…` → `events-ab12….parquet`: one key per content, readable by its origin. */
function fileNameFor(source: string, md5: string): string {
  const name = basename(source).replace(/\.parquet$/i, '').replace(/[^A-Za-z0-9._-]/g, '_');
  return `${name}-${md5}.parquet`;
}

function checkAgainstTable(state: TableState, schema: DeltaStruct, request: AppendRequest, table: string, source: string): void {
  const partitionColumns = state.metadata.partitionColumns;
  const given = request.partition.map((entry) => entry.column);
  if (given.length !== partitionColumns.length || partitionColumns.some((column) => !given.includes(column))) {
    const wanted = partitionColumns.length === 0 ? 'no --partition' : partitionColumns.map((column) => `--partition ${column}=VALUE`).join(' ');
    throw usageError(`${table} is partitioned by ${partitionColumns.length === 0 ? 'nothing' : partitionColumns.join(', ')}; this append gives ${given.length === 0 ? 'none' : given.join(', ')}`, `give ${wanted}`);
  }
  const tableSchema = JSON.parse(state.metadata.schemaString) as DeltaStruct;
  for (const entry of request.partition) {
    const field = tableSchema.fields.find((candidate) => candidate.name === entry.column);
    const problem = partitionValueProblem(entry.value, typeof field?.type === 'string' ? field.type : 'string');
    if (problem) throw usageError(`--partition ${entry.column}=${entry.value}: ${problem}`);
  }
  const dataSchema: DeltaStruct = { type: 'struct', fields: tableSchema.fields.filter((field) => !partitionColumns.includes(field.name)) };
  const differences = schemaDifferences(schema, dataSchema);
  if (differences.length > 0) throw usageError(`${source} does not match the schema of ${table}: ${differences.join('; ')}`);
}

/** Version 0's protocol and metadata: the files' schema, then the partition columns (strings). */
function newTable(schema: DeltaStruct, partitionColumns: string[]): NonNullable<AppendPlan['creation']> {
  const fields = [...schema.fields, ...partitionColumns.map((name) => ({ name, type: 'string', nullable: true, metadata: {} }))];
  const tableSchema: DeltaStruct = { type: 'struct', fields };
  return {
    protocol: lowestProtocolFor(tableSchema),
    metadata: {
      id: crypto.randomUUID(),
      format: { provider: 'parquet', options: {} },
      schemaString: JSON.stringify(tableSchema),
      partitionColumns,
      configuration: {},
      createdTime: Date.now(),
    } as TableMetadata,
  };
}

export interface AppendOutcome {
  /** Per file: uploaded now, found from an earlier run (`reused`), or already in the table. */
  files: Array<PlannedFile & { action: 'uploaded' | 'reused' | 'in-table' }>;
  committed: Committed;
}

/**
 * Uploads the plan's new files (or finds them from an earlier run), then commits them as one
 * version. No commit is written unless every file is in place; a failure names the files uploaded,
 * which stay unreferenced until the same append runs again.
 */
export async function runAppend(ctx: TransferContext, plan: AppendPlan, engineInfo: string): Promise<AppendOutcome> {
  const results = await Promise.allSettled(plan.files.map((file) => placeFile(ctx, file)));
  const placed = results.flatMap((result, index) => (result.status === 'fulfilled' ? [{ ...plan.files[index]!, action: result.value }] : []));
  const inPlace = placed.filter((file) => file.action !== 'in-table').map((file) => formatS3Url(file.ref));
  const failures = results.flatMap((result, index) => (result.status === 'rejected' ? [`${plan.files[index]!.source}: ${describeError(result.reason)}`] : []));
  const unreferenced = inPlace.length > 0 ? `; uploaded but not in the table: ${inPlace.join(', ')}` : '';
  if (failures.length > 0) {
    if (ctx.stopping?.aborted) throw ctx.stopping.reason;
    throw failure(`nothing was committed to ${formatS3Url(plan.root)}: ${failures.join('; ')}${unreferenced}`, { hint: 'run the same append again: files already uploaded are reused' });
  }
  const modificationTime = Date.now();
  const adds: AddAction[] = placed
    .filter((file) => file.action !== 'in-table')
    .map((file) => ({ path: file.path, partitionValues: plan.partitionValues, size: file.size, modificationTime, dataChange: true, stats: jsonWithBigInts(file.facts.stats) }));
  // Another writer created the table meanwhile: this append goes into it only if it fits it as planned.
  const checkTable = (state: TableState) => {
    const columns = Object.entries(plan.partitionValues).map(([column, value]) => ({ column, value }));
    try {
      refuseUnwritable(state.protocol, state.metadata, formatS3Url(plan.root));
      checkAgainstTable(state, plan.files[0]!.facts.schema, { root: plan.root, files: [], partition: columns }, formatS3Url(plan.root), plan.files[0]!.source);
    } catch (error) {
      throw failure(`another writer created the table meanwhile, and this append conflicts with it: ${describeError(error)}; nothing was committed`);
    }
  };
  try {
    const committed = await commitAppend(ctx, { root: plan.root, adds, creation: plan.creation, engineInfo }, plan.state, checkTable);
    return { files: placed, committed };
  } catch (error) {
    if (ctx.stopping?.aborted || inPlace.length === 0) throw error;
    throw failure(`${describeError(error)}${unreferenced}`, { cause: error });
  }
}

/** One file in place at its key: found there with the same content (an earlier run's), else uploaded. */
async function placeFile(ctx: TransferContext, file: PlannedFile): Promise<'uploaded' | 'reused' | 'in-table'> {
  if (file.state === 'in-table') return 'in-table';
  const found = await ctx.limiter.run(() => findObject(ctx, file.ref));
  if (found && found.size === file.size && (md5FromMetadata(found.metadata) === file.md5 || found.etag === file.md5)) return 'reused';
  // The MD5 (already known: the file's name carries it) is kept in metadata on a multipart upload
  // too, so that a re-run finds the file there and reuses it by the check above.
  await uploadFile(ctx, file.source, file.ref, { contentType: 'application/vnd.apache.parquet', md5Metadata: true }, { md5: file.md5 });
  return 'uploaded';
}
