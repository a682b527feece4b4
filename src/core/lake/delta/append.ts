import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { formatS3Url, validateNewKey, type ObjectRef } from '../../config/address.js';
import { md5FromMetadata, md5OfFile } from '../../integrity/checksums.js';
import type { TransferContext } from '../../s3/context.js';
import { describeError, failure, usageError } from '../../errors.js';
import { findObject } from '../../s3/objects.js';
import { uploadFile } from '../../transfer/upload.js';
import { commitAppend, type AddAction, type Committed } from './commit.js';
import { LOG_FOLDER, hasAnyKey, readTableState, type TableState } from './log.js';
import { jsonWithBigInts, readParquetFacts, type ParquetFacts } from './parquet-footer.js';
import { lowestProtocolFor, refuseUnwritable, type Protocol, type TableMetadata } from './protocol.js';
import { mergeNullability, schemaDifferences, type DeltaStruct } from './schema.js';
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

/** `removed-before`: the table referenced this file once and a later version removed it (a DELETE, an OPTIMIZE). */
export type FileState = 'new' | 'in-table' | 'removed-before';

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
  /** The files' schema (nullable where any file's column is). */
  schema: DeltaStruct;
  state: TableState | undefined;
  creation: { protocol: Protocol; metadata: TableMetadata } | undefined;
  partitionValues: Record<string, string>;
  files: PlannedFile[];
}

export async function planAppend(ctx: TransferContext, request: AppendRequest): Promise<AppendPlan> {
  const { root } = request;
  if (request.files.length === 0) throw usageError('no Parquet file to append');
  const columns = request.partition.map((entry) => entry.column);
  const local = await Promise.all(request.files.map((path) => readLocal(path)));
  const schema = mergedSchema(local);
  refuseCaseClashes(columns, schema);

  const { state, otherKeys } = await readTableState(ctx, root);
  const table = formatS3Url(root);
  let partitionColumns: string[];
  let creation: AppendPlan['creation'];
  if (state) {
    refuseUnwritable(state.protocol, state.metadata, table);
    partitionColumns = state.metadata.partitionColumns;
    checkAgainstTable(state, schema, request, table, local.length === 1 ? local[0]!.source : 'the files');
  } else {
    partitionColumns = columns;
    await refuseTableInsideTable(ctx, root);
    for (const name of [...schema.fields.map((field) => field.name), ...columns]) {
      const forbidden = [...name].find((character) => DELTA_FORBIDDEN_IN_NAMES.includes(character));
      if (forbidden !== undefined) throw usageError(`column name '${name}' holds ${JSON.stringify(forbidden)}, which Delta does not allow in a column name (without column mapping)`);
    }
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
    validateNewKey(ref.key);
    return { ...file, ref, path: relativeUri(relative), state: state?.files.has(relative) ? 'in-table' : state?.committedBefore.has(relative) ? 'removed-before' : 'new' };
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
    const foreign = otherKeys.filter((entry) => !isAppendLeftover(entry, root.key)).map((entry) => entry.key);
    if (foreign.length > 0) {
      throw usageError(`${table} is not a Delta table (no _delta_log/) and holds other objects, such as ${formatS3Url({ bucket: root.bucket, key: foreign[0]! })}`, 'append to an empty prefix, or to a table');
    }
  }
  return { root, schema, state, creation, partitionValues, files };
}

/** Partition columns and the files' columns must be distinct names ignoring case, as Delta compares them. */
function refuseCaseClashes(columns: string[], schema: DeltaStruct): void {
  const repeated = columns.find((column, index) => columns.findIndex((other) => sameName(other, column)) !== index);
  if (repeated !== undefined) {
    const first = columns.find((column) => sameName(column, repeated))!;
    throw usageError(first === repeated ? `--partition ${repeated} is given twice` : `--partition ${first} and --partition ${repeated}: Delta column names ignore case, so they name one column`);
  }
  const clash = schema.fields.find((field, index) => schema.fields.findIndex((other) => sameName(other.name, field.name)) !== index);
  if (clash) {
    const first = schema.fields.find((field) => sameName(field.name, clash.name))!;
    throw usageError(`the files hold columns ${first.name} and ${clash.name}: Delta column names ignore case, so a table cannot hold both`);
  }
  const inFile = columns.find((column) => schema.fields.some((field) => sameName(field.name, column)));
  if (inFile !== undefined) {
    const held = schema.fields.find((field) => sameName(field.name, inFile))!.name;
    throw usageError(`--partition ${inFile}: the files hold a column ${held}${held === inFile ? '' : ' (Delta column names ignore case)'}`, "a partition column's value comes from the folder, not from the file; leave it out of the files");
  }
}

/** Delta column names are case-insensitive: `id` and `ID` name one column. */
function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Characters Delta does not allow in column names of tables without column mapping. */
const DELTA_FORBIDDEN_IN_NAMES = ' ,;{}()\n\t=';

/**
 * One schema for all the files: they must agree, except that a column may be required in some and
 * nullable in others (the result is nullable; each file still fits it). Refused in either order alike.
 */
function mergedSchema(local: Array<{ source: string; facts: ParquetFacts }>): DeltaStruct {
  let schema = local[0]!.facts.schema;
  for (const file of local.slice(1)) {
    const merged = mergeNullability(schema, file.facts.schema);
    if (merged === undefined) {
      const differences = schemaDifferences(file.facts.schema, schema).filter((phrase) => !phrase.includes('may be null'));
      throw usageError(`${file.source} and ${local[0]!.source} have different schemas: ${(differences.length > 0 ? differences : ['the order of their columns']).join('; ')}`);
    }
    schema = merged;
  }
  return schema;
}

/**
 * A new table must not be made inside another one (in one of its partition folders, say): its data
 * would be the outer table's stray files. Each parent prefix up the key is asked for a `_delta_log/`.
 */
async function refuseTableInsideTable(ctx: TransferContext, root: ObjectRef): Promise<void> {
  const segments = root.key.split('/').filter((segment) => segment !== '');
  const parents = segments.map((_, index) => (index === 0 ? '' : `${segments.slice(0, index).join('/')}/`));
  const found = await Promise.all(parents.map((parent) => hasAnyKey(ctx, { bucket: root.bucket, key: `${parent}${LOG_FOLDER}` })));
  const outer = parents.find((_, index) => found[index]);
  if (outer !== undefined) {
    throw usageError(`${formatS3Url(root)} is inside the Delta table ${formatS3Url({ bucket: root.bucket, key: outer })} (it has ${LOG_FOLDER}): a table is not made inside another`, 'append to that table, or choose a prefix outside it');
  }
}

/**
 * An earlier (failed or concurrent) append's data file: under Hive partition folders only, named
 * `<name>-<md5>.parquet`, holding that content (its ETag is that MD5; a multipart one cannot say).
 */
function isAppendLeftover(entry: { key: string; etag: string | undefined }, rootKey: string): boolean {
  const match = APPEND_LEFTOVER.exec(entry.key.slice(rootKey.length));
  if (!match || !entry.key.startsWith(rootKey)) return false;
  return entry.etag === match[1] || (entry.etag?.includes('-') ?? false);
}

async function readLocal(source: string): Promise<Omit<PlannedFile, 'ref' | 'path' | 'state'>> {
  const info = await stat(source).catch((error: NodeJS.ErrnoException) => {
    throw usageError(error.code === 'ENOENT' ? `no such file '${source}'` : `cannot read '${source}': ${error.code ?? error.message}`);
  });
  if (!info.isFile()) throw usageError(`'${source}' is not a regular file`);
  const facts = await readParquetFacts(source);
  return { source, size: info.size, md5: (await md5OfFile(source)).toString('hex'), facts };
}

/** A data file's key relative to the table, as an append makes it: partition folders, then fileNameFor's name. */
const APPEND_LEFTOVER = /^(?:[^/=]+=[^/]*\/)*[A-Za-z0-9._-]*-([0-9a-f]{32})\.parquet$/;

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

/** What became of a file: uploaded now, found from an earlier run, or not added (the table has or had it). */
export type FileAction = 'uploaded' | 'reused' | 'in-table' | 'removed-before';

export interface AppendOutcome {
  /** Per file: uploaded now, found from an earlier run (`reused`), or already in the table. */
  files: Array<PlannedFile & { action: FileAction }>;
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
  const inPlace = placed.filter((file) => isAdded(file.action)).map((file) => formatS3Url(file.ref));
  const failures = results.flatMap((result, index) => (result.status === 'rejected' ? [`${plan.files[index]!.source}: ${describeError(result.reason)}`] : []));
  const unreferenced = inPlace.length > 0 ? `; uploaded but not in the table: ${inPlace.join(', ')}` : '';
  if (failures.length > 0) {
    if (ctx.stopping?.aborted) throw ctx.stopping.reason;
    throw failure(`nothing was committed to ${formatS3Url(plan.root)}: ${failures.join('; ')}${unreferenced}`, { hint: 'run the same append again: files already uploaded are reused' });
  }
  const modificationTime = Date.now();
  const adds: AddAction[] = placed
    .filter((file) => isAdded(file.action))
    .map((file) => ({ path: file.path, partitionValues: plan.partitionValues, size: file.size, modificationTime, dataChange: true, stats: jsonWithBigInts(file.facts.stats) }));
  // Another writer created the table meanwhile: this append goes into it only if it fits it as planned.
  const checkTable = (state: TableState) => {
    const columns = Object.entries(plan.partitionValues).map(([column, value]) => ({ column, value }));
    try {
      refuseUnwritable(state.protocol, state.metadata, formatS3Url(plan.root));
      checkAgainstTable(state, plan.schema, { root: plan.root, files: [], partition: columns }, formatS3Url(plan.root), plan.files[0]!.source);
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
export function isAdded(action: FileAction): boolean {
  return action === 'uploaded' || action === 'reused';
}

async function placeFile(ctx: TransferContext, file: PlannedFile): Promise<FileAction> {
  if (file.state !== 'new') return file.state;
  const found = await findObject(ctx, file.ref, 'data');
  if (found && found.size === file.size && (md5FromMetadata(found.metadata) === file.md5 || found.etag === file.md5)) return 'reused';
  // The MD5 (already known: the file's name carries it) is kept in metadata on a multipart upload
  // too, so that a re-run finds the file there and reuses it by the check above.
  await uploadFile(ctx, file.source, file.ref, { contentType: 'application/vnd.apache.parquet', md5Metadata: true }, { md5: file.md5 });
  return 'uploaded';
}
