import { failure } from '../../errors.js';
import { containsType, usesFieldMetadata, type DeltaStruct } from './schema.js';

/**
 * Which tables datalake may append to. A Delta table's `protocol` action names the reader and writer
 * versions (and, from reader 3 / writer 7, the table features) a client must implement. datalake
 * writes blind appends only: add actions with stats, no deletion vectors, no row ids, physical column
 * names equal to logical ones. A table that needs more of a writer is refused with the feature named,
 * before anything is uploaded.
 */
export interface Protocol {
  minReaderVersion: number;
  minWriterVersion: number;
  readerFeatures?: string[] | null | undefined;
  writerFeatures?: string[] | null | undefined;
}

/** The parts of a table's `metaData` action that decide whether it can be appended to. */
export interface TableMetadata {
  id: string;
  schemaString: string;
  partitionColumns: string[];
  configuration?: Record<string, string | null> | null;
  format?: { provider: string };
}

/**
 * Writer features a blind append honours by writing plain add actions. Those that only constrain
 * what is written (invariants, CHECK constraints, generated and identity columns) are honoured only
 * while the table uses none: datalake does not evaluate them.
 */
const APPENDABLE_WRITER_FEATURES = new Set([
  'appendOnly', 'invariants', 'checkConstraints', 'changeDataFeed', 'generatedColumns', 'identityColumns', 'timestampNtz',
  'domainMetadata', 'vacuumProtocolCheck',
]);

/** Reader features whose tables datalake can read the state of (JSON commits and classic checkpoints). */
const READABLE_READER_FEATURES = new Set(['timestampNtz', 'vacuumProtocolCheck']);

/** A table datalake must not write to: exit 1, one line naming the feature. */
export function refuseUnwritable(protocol: Protocol, metadata: TableMetadata, table: string): void {
  const feature = unsupportedFeature(protocol, metadata);
  if (feature !== undefined) {
    throw failure(`${table}: the table uses ${feature}, which datalake's table append does not implement; nothing was uploaded`, {
      hint: 'append to it with Spark or delta-rs',
    });
  }
}

export function unsupportedFeature(protocol: Protocol, metadata: TableMetadata): string | undefined {
  if (metadata.format?.provider !== undefined && metadata.format.provider !== 'parquet') return `data files in ${metadata.format.provider} format`;
  if (protocol.minReaderVersion > 3) return `reader version ${protocol.minReaderVersion}`;
  if (protocol.minWriterVersion > 7) return `writer version ${protocol.minWriterVersion}`;
  if (protocol.minReaderVersion === 3) {
    const reader = (protocol.readerFeatures ?? []).find((feature) => !READABLE_READER_FEATURES.has(feature));
    if (reader !== undefined) return `the reader feature ${reader}`;
  }
  if (protocol.minWriterVersion === 7) {
    const writer = (protocol.writerFeatures ?? []).find((feature) => !APPENDABLE_WRITER_FEATURES.has(feature));
    if (writer !== undefined) return `the writer feature ${writer}`;
  }
  // Features a legacy writer version implies are in use only when the table says so.
  const configuration = metadata.configuration ?? {};
  const mapping = configuration['delta.columnMapping.mode'];
  if (mapping && mapping !== 'none') return `column mapping (delta.columnMapping.mode=${mapping})`;
  if (configuration['delta.enableDeletionVectors'] === 'true') return 'deletion vectors (delta.enableDeletionVectors)';
  if (configuration['delta.enableRowTracking'] === 'true') return 'row tracking (delta.enableRowTracking)';
  if (configuration['delta.enableInCommitTimestamps'] === 'true') return 'in-commit timestamps (delta.enableInCommitTimestamps)';
  const constraint = Object.keys(configuration).find((key) => key.startsWith('delta.constraints.'));
  if (constraint !== undefined) return `a CHECK constraint (${constraint})`;
  let schema: DeltaStruct;
  try {
    schema = JSON.parse(metadata.schemaString) as DeltaStruct;
  } catch {
    return 'a schema that is not valid JSON';
  }
  const constrained = usesFieldMetadata(schema, ['delta.generationExpression', 'delta.identity.', 'delta.invariants', 'delta.columnMapping.', 'CURRENT_DEFAULT']);
  if (constrained !== undefined) return `columns with ${constrained}`;
  return undefined;
}

/** The lowest protocol a new table of this schema needs: 1/1, or the timestampNtz feature (3/7) when a column needs it. */
export function lowestProtocolFor(schema: DeltaStruct): Protocol {
  if (containsType(schema, 'timestamp_ntz')) return { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['timestampNtz'], writerFeatures: ['timestampNtz'] };
  return { minReaderVersion: 1, minWriterVersion: 1 };
}
