import { usageError } from '../errors.js';

/** One object, or a prefix when the key is empty or ends in `/`. */
export interface ObjectRef {
  bucket: string;
  key: string;
}

export const MAX_KEY_BYTES = 1024;

export function isS3Url(text: string): boolean {
  return text.startsWith('s3://');
}

export function formatS3Url(ref: ObjectRef): string {
  return `s3://${ref.bucket}/${ref.key}`;
}

/**
 * Resolves `s3://bucket/key` or a bare `key` (in the configured bucket) to an ObjectRef. The key is
 * validated; `allowPrefix` accepts an empty key or a trailing `/`; `newKey` (a key datalake is to
 * make: put's, a typed cp/mv destination) also refuses control characters (see validateNewKey).
 */
export function parseObjectAddress(
  text: string,
  defaultBucket: string | undefined,
  options: { allowPrefix?: boolean; localPathHint?: string; newKey?: boolean } = {},
): ObjectRef {
  // An empty argument is most often an unset shell variable: it never means "the whole bucket"
  // (only an explicit s3://bucket/ does), so a delete or a move of everything cannot start by mistake.
  if (text.trim() === '') throw usageError('empty address: name an object or prefix', 'write s3://bucket/key, or s3://bucket/ for the whole bucket');
  if (!isS3Url(text) && /^(\.{0,2}\/|~)/.test(text)) {
    throw usageError(`'${text}' is a local path, not an S3 address`, options.localPathHint ?? 'write s3://bucket/key');
  }
  let bucket: string | undefined;
  let key: string;
  if (isS3Url(text)) {
    const rest = text.slice('s3://'.length);
    const slash = rest.indexOf('/');
    bucket = slash === -1 ? rest : rest.slice(0, slash);
    key = slash === -1 ? '' : rest.slice(slash + 1);
  } else {
    bucket = defaultBucket;
    key = text;
  }
  if (!bucket) throw isS3Url(text) ? usageError(`'${text}' names no bucket`, 'write s3://bucket/key') : missingBucketError();
  validateBucketName(bucket);
  if (options.allowPrefix) validatePrefix(key);
  else validateKey(key);
  if (options.newKey) refuseControlCharacters(key);
  return { bucket, key };
}

/** The root of the configured bucket: what a command given no address at all (ls, uploads ls) looks at. */
export function configuredBucketRoot(defaultBucket: string | undefined): ObjectRef {
  if (!defaultBucket) throw missingBucketError();
  validateBucketName(defaultBucket);
  return { bucket: defaultBucket, key: '' };
}

export function missingBucketError() {
  return usageError('no bucket configured', 'pass --bucket, set DATALAKE_BUCKET, or name it as s3://bucket/key');
}

/** Bucket naming rules of S3 (and of every compatible server): 3–63 of a-z 0-9 . -, no IP address. */
export function validateBucketName(bucket: string): void {
  const valid =
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) &&
    !bucket.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(bucket) &&
    !bucket.includes('.-') &&
    !bucket.includes('-.');
  if (!valid) {
    throw usageError(
      `invalid bucket name '${bucket}'`,
      '3 to 63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit',
    );
  }
  // S3 Express One Zone directory buckets (`name--usw2-az1--x-s3`) sign with session credentials from
  // CreateSession, which datalake's own request path does not obtain: refused before any request
  // rather than failing every one of them. The suffix is reserved: no general purpose bucket has it.
  if (bucket.endsWith('--x-s3')) {
    throw usageError(`'${bucket}' is an S3 Express One Zone directory bucket, which datalake does not support`, 'use a general purpose bucket, or the AWS CLI for directory buckets');
  }
}

/**
 * Refuses keys that are empty, too long, or have empty, `.` or `..` segments. Control characters pass:
 * S3 allows them, and an object that has them must be reachable (stat, cat, get, cp, mv, rm).
 */
export function validateKey(key: string): void {
  if (key === '') throw usageError('empty object key', 'name an object, e.g. s3://bucket/path/file.csv');
  if (key.endsWith('/')) throw usageError(`invalid key '${key}': it ends in '/', which names a prefix, not an object`);
  validateKeyText(key);
}

/**
 * A key datalake makes from a name it was given (a file's, a typed destination, the layout's):
 * validateKey's rules, and no control characters. A copy's key that comes from its source's name
 * keeps that name as it is.
 */
export function validateNewKey(key: string): void {
  validateKey(key);
  refuseControlCharacters(key);
}

/**
 * Control characters: C0, DEL and C1 (U+0080–U+009F; U+009B alone starts a terminal's escape sequence,
 * as ESC [ does), the bidirectional controls (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069,
 * which make a name show reversed) and the line and paragraph separators (U+2028, U+2029, line breaks
 * to many readers). Legal in S3, but they break listings, logs and most readers: datalake makes no
 * key with one, and no key from a layout template with one (layout.ts).
 */
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The hint of every refusal of a control character in a key datalake makes. */
export const CONTROL_CHARACTER_HINT = 'S3 allows them, but they break listings, logs and most readers';

function refuseControlCharacters(key: string): void {
  if (CONTROL_CHARACTER.test(key)) {
    throw usageError(`invalid key '${key}': control characters are not allowed in a key datalake makes`, CONTROL_CHARACTER_HINT);
  }
}

/** A prefix may be empty (the whole bucket) or end in `/`; its segments follow the key rules. */
export function validatePrefix(prefix: string): void {
  if (prefix === '') return;
  validateKeyText(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, prefix);
}

function validateKeyText(body: string, shown = body): void {
  const bytes = Buffer.byteLength(shown, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw usageError(`invalid key: ${bytes} bytes, over the ${MAX_KEY_BYTES}-byte limit of S3`);
  }
  for (const segment of body.split('/')) {
    if (segment === '') throw usageError(`invalid key '${shown}': empty path segment`, "remove the doubled, leading or trailing '/'");
    if (segment === '..' || segment === '.') throw usageError(`invalid key '${shown}': '${segment}' segment is not allowed`);
  }
}

/** Joins a prefix and a relative name with exactly one `/` between them. */
export function joinKey(prefix: string, name: string): string {
  if (prefix === '') return name;
  return prefix.endsWith('/') ? prefix + name : `${prefix}/${name}`;
}
