/**
 * The S3 servers the integration suite runs on, and what each implements. One table: a test that
 * depends on a feature reads it here (`inject('s3').capabilities`) and asserts what datalake reports
 * where the server lacks it (`unsupported`, or one clear line and exit 1), never skips.
 * This module is plain data: vitest.config.ts reads it to make one test project per server.
 */

/** S3 features the suite touches that not every server implements. */
export interface Capabilities {
  /** PutBucketVersioning is kept and versions are stored. */
  versioning: boolean;
  /** PutBucketEncryption (default SSE-S3 for a bucket) is kept. */
  defaultEncryption: boolean;
  /** PutPublicAccessBlock is kept. */
  publicAccessBlock: boolean;
  /** Lifecycle rules with transitions to STANDARD_IA/GLACIER are kept. */
  lifecycleTransitions: boolean;
  /** Lifecycle rules that abort incomplete multipart uploads are kept. */
  lifecycleAbortIncompleteUploads: boolean;
  /** `GET ?partNumber=N` answers that part alone, with a Content-Range (else the whole object). */
  partNumberGet: boolean;
  /**
   * Each part's size of a multipart object is told in an answer about that very object: GetObjectAttributes
   * ObjectParts, or `HEAD ?partNumber=N` carrying the object's ETag. Without it a multipart ETag cannot be recomputed.
   */
  partSizes: boolean;
  /** A request with a wrong or expired SigV4 signature (presigned URLs included) is refused with 403. */
  checksSignatures: boolean;
  /** A presigned POST's policy conditions (content-length-range) are enforced. */
  postPolicyConditions: boolean;
  /** ListMultipartUploads gives each upload the time it was really initiated. */
  uploadInitiatedDates: boolean;
  /** `If-None-Match: *` on PutObject and CompleteMultipartUpload refuses a key already taken, with 412. */
  conditionalWrites: boolean;
  /**
   * UploadPartCopy into an upload created with a checksum algorithm (`x-amz-checksum-algorithm: CRC32`,
   * FULL_OBJECT) is taken, so a copy in parts keeps a full-object CRC32. MinIO refuses it ("checksum missing").
   */
  checksummedPartCopies: boolean;
  /** `If-None-Match: *` on CopyObject refuses a key already taken, with 412 (S3). MinIO ignores it there. */
  conditionalCopies: boolean;
  /** A PutObject into a bucket that does not exist is refused with NoSuchBucket. SeaweedFS makes the bucket instead. */
  putNeedsBucket: boolean;
}

export type ServerName = 'minio' | 'moto' | 'moto-5.2.1' | 'seaweedfs';

export interface ServerEntry {
  name: ServerName;
  /** What it is, for the reader of a failure. */
  description: string;
  capabilities: Capabilities;
  /** Integration test files (under test/integration) that run on it; MinIO runs them all. */
  files: 'all' | string[];
}

/** What AWS S3 itself implements: everything the suite touches. */
export const AWS_CAPABILITIES: Capabilities = {
  versioning: true,
  defaultEncryption: true,
  publicAccessBlock: true,
  lifecycleTransitions: true,
  lifecycleAbortIncompleteUploads: true,
  partNumberGet: true,
  partSizes: true,
  checksSignatures: true,
  postPolicyConditions: true,
  uploadInitiatedDates: true,
  conditionalWrites: true,
  checksummedPartCopies: true,
  conditionalCopies: true,
  putNeedsBucket: true,
};

/**
 * The files about how datalake talks to an S3 server, run on every server. The others test the CLI
 * alone (bad input, output, terminal, package install), the benchmark, or a guarantee some server
 * lacks an operation for (below).
 */
const PORTABLE_FILES = ['init', 'ls', 'put-get', 'presign-verify-uploads', 'sync', 'faults', 'crash-security', 'local-state', 'sync-guarantees', 'no-clobber-race', 'table-append', 'table-faults', 'table-edges'];

/**
 * Files of guarantees that hold whatever the server, run where the server implements what they touch.
 * Not on moto (either version): cp-mv, stat-cat and uneven-parts (no part sizes: a multipart object
 * cannot be copied part for part nor its ETag recomputed), upload-safety (a settled stdin upload fails
 * there, not yet looked into). Not on SeaweedFS: rm (its versioned deletes fail two tests) and
 * upload-safety (it answers a damaged Complete body with a 404, which datalake does not ask again).
 * garbage-server talks to a fake server of its own, so it runs once, with MinIO.
 */
const GUARANTEES_ON_MOTO = ['rm', 'damaged-answers', 'listing-scope', 'swap-during-run'];
const GUARANTEES_ON_MOTO_521 = ['rm', 'swap-during-run', 'damaged-answers', 'listing-scope'];
const GUARANTEES_ON_SEAWEEDFS = ['cp-mv', 'stat-cat', 'damaged-answers', 'listing-scope', 'swap-during-run', 'uneven-parts'];

/**
 * moto checks no signatures, enforces no POST policy, dates every multipart upload 2010-11-10, answers a
 * part GET with the whole object, lists no ObjectParts, and gives a part HEAD the part's ETag, not the object's.
 */
const MOTO: Capabilities = {
  ...AWS_CAPABILITIES,
  partNumberGet: false,
  partSizes: false,
  checksSignatures: false,
  postPolicyConditions: false,
  uploadInitiatedDates: false,
  conditionalCopies: false,
};

export const SERVERS: ServerEntry[] = [
  {
    name: 'minio',
    description: 'MinIO built from source (the reference server of the suite)',
    // MinIO refuses a public access block, transitions to tiers it lacks, the abort-incomplete-uploads
    // action, and a part copied into an upload that asked for a checksum.
    capabilities: { ...AWS_CAPABILITIES, publicAccessBlock: false, lifecycleTransitions: false, lifecycleAbortIncompleteUploads: false, checksummedPartCopies: false, conditionalCopies: false },
    files: 'all',
  },
  { name: 'moto', description: "moto's S3 server at the pinned version", capabilities: MOTO, files: [...PORTABLE_FILES, ...GUARANTEES_ON_MOTO] },
  { name: 'moto-5.2.1', description: "moto's S3 server at 5.2.1", capabilities: MOTO, files: [...PORTABLE_FILES, ...GUARANTEES_ON_MOTO_521] },
  {
    name: 'seaweedfs',
    description: 'SeaweedFS `weed server -s3` built from source',
    // SeaweedFS answers NotImplemented to lifecycle transitions (it has no storage classes to move to),
    // and makes a bucket that is not there on the first PUT into it.
    capabilities: { ...AWS_CAPABILITIES, lifecycleTransitions: false, putNeedsBucket: false },
    files: [...PORTABLE_FILES, ...GUARANTEES_ON_SEAWEEDFS],
  },
];

export function serverEntry(name: string): ServerEntry {
  const entry = SERVERS.find((server) => server.name === name);
  if (!entry) throw new Error(`no S3 server named '${name}' in test/support/servers.ts`);
  return entry;
}
