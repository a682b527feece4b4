import { MalformedXml, readXml, UnknownReference, type XmlElement } from './xml.js';
import { TransientError } from './retry.js';

/**
 * The XML answers of the direct requests, read strictly (xml.ts): a ListObjectsV2 page,
 * CreateMultipartUpload's upload id, CompleteMultipartUpload's ETag, and S3's error documents
 * (requests.ts loads this module, and the parser, with the first of them). An answer that is
 * not a well-formed document, or that contradicts itself (a KeyCount that is not the number of
 * entries, a truncated page without a way on), is a DamagedAnswer: transient, so the one retry policy
 * asks again, and after the retries the run fails with one line. Never fewer keys: `sync --delete`
 * deletes what the listing does not name.
 *
 * The root element's name is not checked (moto 5.2.1 answers a Complete with
 * `CompleteMultipartUploadResponse`, S3 with `...Result`); a root named `Error` is the error it names,
 * whatever the status (S3 can answer 200 and put an error in the body).
 */

/** An answer that arrived damaged or contradicts itself: worth asking again, never read as fewer keys. */
export class DamagedAnswer extends TransientError {
  override readonly name = 'DamagedAnswer';
}

/** One page of a ListObjectsV2 answer, as the SDK would give it. */
export interface ListPage {
  contents: Array<{ key: string; size: number; lastModified: Date | undefined; etag: string | undefined; storageClass: string | undefined }>;
  commonPrefixes: string[];
  isTruncated: boolean;
  nextContinuationToken: string | undefined;
}

/** An answer's body as text; one the connection stopped keeping at `limit` is damaged, never read in part. */
export function answerText(response: { body: Buffer; bodyLength: number }, source: string, limit: number): string {
  if (response.bodyLength > response.body.length) throw new DamagedAnswer(`damaged answer to ${source}: over the limit of ${limit} bytes`);
  try {
    return strictUtf8.decode(response.body);
  } catch {
    // Bytes that are not UTF-8 (one of a multi-byte character flipped): never read as a key with U+FFFD in it.
    throw new DamagedAnswer(`damaged answer to ${source}: not UTF-8`);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

type Element = XmlElement;

/** Listing entries that are lists even when there is one. */
const LISTS = new Set(['Contents', 'CommonPrefixes']);

/** The document's root element: its name and children. Not well-formed → DamagedAnswer. */
function readDocument(xml: string, source: string): { root: string; element: Element } {
  try {
    return readXml(xml, LISTS);
  } catch (error) {
    if (error instanceof UnknownReference) throw new DamagedAnswer(`damaged answer to ${source}: ${error.message}`);
    if (error instanceof MalformedXml) throw new DamagedAnswer(`damaged answer to ${source}: not well-formed (${error.message})`);
    throw error;
  }
}

/**
 * The text of child `name`, if present. A value of only whitespace with a line break reads as empty,
 * as the SDK reads it, unless `exact` (a key or a prefix, which may be made of exactly that). An element where text was expected, or a repeated one, is damage.
 */
function textOf(element: Element, name: string, source: string, { exact = false } = {}): string | undefined {
  const value = element[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new DamagedAnswer(`damaged answer to ${source}: <${name}> is not one piece of text`);
  return !exact && value.trim() === '' && value.includes('\n') ? '' : value;
}

/** The whole document read, or the error an `<Error>` root names (as a server error when it came in a 2xx). */
function readAnswer(xml: string, source: string): Element {
  const { root, element } = readDocument(xml, source);
  if (root === 'Error') throw errorFrom(500, element, {});
  return element;
}

/**
 * A ListObjectsV2 page, checked against itself: KeyCount (when sent) equals the keys and prefixes
 * read; IsTruncated is exactly `true` or `false`; a truncated page names a next token that is not the
 * one just sent, and holds something; a page that is not truncated names none. Keys and prefixes are
 * URL-decoded when the page says `<EncodingType>url</EncodingType>` (see listedName).
 */
export function parseListPage(xml: string, sent: { continuationToken?: string | undefined; source?: string } = {}): ListPage {
  const source = sent.source ?? 'ListObjectsV2';
  const page = readAnswer(xml, source);
  const damaged = (what: string) => new DamagedAnswer(`damaged answer to ${source}: ${what}`);
  const name = listedNameReader(textOf(page, 'EncodingType', source), source);
  const entries = (page.Contents ?? []) as unknown[];
  const contents = entries.map((entry) => {
    const item = (typeof entry === 'object' && entry !== null ? entry : {}) as Element;
    const key = name(textOf(item, 'Key', source, { exact: true }));
    if (!key) throw damaged('an entry without a Key');
    const sizeText = textOf(item, 'Size', source) ?? '';
    if (!/^\d+$/.test(sizeText)) throw damaged(`Size ${JSON.stringify(sizeText)} of ${JSON.stringify(key)} is not a whole number`);
    const lastModifiedText = textOf(item, 'LastModified', source);
    const lastModified = lastModifiedText ? new Date(lastModifiedText) : undefined;
    if (lastModified && Number.isNaN(lastModified.getTime())) throw damaged(`LastModified ${JSON.stringify(lastModifiedText)} of ${JSON.stringify(key)} is not a date`);
    return {
      key,
      size: Number(sizeText),
      lastModified,
      etag: textOf(item, 'ETag', source),
      storageClass: textOf(item, 'StorageClass', source),
    };
  });
  const commonPrefixes = ((page.CommonPrefixes ?? []) as unknown[]).map((entry) => {
    const prefix = name(textOf((typeof entry === 'object' && entry !== null ? entry : {}) as Element, 'Prefix', source, { exact: true }));
    if (!prefix) throw damaged('a CommonPrefixes entry without a Prefix');
    return prefix;
  });

  const parsed = contents.length + commonPrefixes.length;
  const keyCount = textOf(page, 'KeyCount', source);
  if (keyCount !== undefined && (!/^\d+$/.test(keyCount) || Number(keyCount) !== parsed)) throw damaged(`KeyCount ${keyCount} but ${parsed} keys and prefixes`);
  const truncatedText = textOf(page, 'IsTruncated', source);
  if (truncatedText !== 'true' && truncatedText !== 'false') throw damaged(`IsTruncated ${truncatedText === undefined ? 'missing' : JSON.stringify(truncatedText)}, not true or false`);
  const isTruncated = truncatedText === 'true';
  const nextContinuationToken = textOf(page, 'NextContinuationToken', source) || undefined;
  if (isTruncated) {
    if (nextContinuationToken === undefined) throw damaged('truncated, but no NextContinuationToken');
    if (nextContinuationToken === sent.continuationToken) throw damaged('the NextContinuationToken repeats the one sent');
    if (parsed === 0) throw damaged('truncated, but the page is empty');
  } else if (nextContinuationToken !== undefined) throw damaged('not truncated, yet a NextContinuationToken');
  return { contents, commonPrefixes, isTruncated, nextContinuationToken };
}

/**
 * How a listing's names are read: as they are, or, when the answer says `EncodingType` `url` (it was
 * asked so), URL-decoded as the AWS CLI decodes them (`+` is a space, as MinIO and S3 send one). A
 * name that does not decode (a `%` without two hex digits after it, bytes that are not UTF-8) is
 * damage; so is an encoding other than `url`, which no one asked for.
 */
export function listedNameReader(encodingType: string | undefined, source: string): (name: string | undefined) => string | undefined {
  if (encodingType === undefined || encodingType === '') return (name) => name;
  if (encodingType !== 'url') throw new DamagedAnswer(`damaged answer to ${source}: EncodingType ${JSON.stringify(encodingType)}, not the url asked for`);
  return (name) => {
    if (name === undefined) return undefined;
    try {
      return decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      throw new DamagedAnswer(`damaged answer to ${source}: ${JSON.stringify(name)} is not URL-encoded UTF-8`);
    }
  };
}

/** CreateMultipartUpload's answer: its upload id. */
export function readUploadId(xml: string, source = 'CreateMultipartUpload'): string {
  const uploadId = textOf(readAnswer(xml, source), 'UploadId', source);
  if (!uploadId) throw new DamagedAnswer(`damaged answer to ${source}: no UploadId`);
  return uploadId;
}

/** CompleteMultipartUpload's answer (a 200 may carry an `<Error>`): the object's ETag, if it says one. */
export function readCompletedEtag(xml: string, source = 'CompleteMultipartUpload'): string | undefined {
  return textOf(readAnswer(xml, source), 'ETag', source);
}

/** Response headers as node:http and undici give them, lower-case names. */
type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

/**
 * An S3 error answer as the SDK would throw it: name and Code from the XML body, the status in
 * $metadata. A body that is not an error document (a proxy's HTML page, a body cut short) leaves the
 * error named by its status.
 */
export function s3Error(status: number, body: string, headers: HeaderBag): Error {
  let element: Element = {};
  if (body.includes('<Error')) {
    try {
      const document = readDocument(body, 'an error');
      if (document.root === 'Error') element = document.element;
    } catch {
      // Not a well-formed error document: named by its status below.
    }
  }
  return errorFrom(status, element, headers);
}

function errorFrom(status: number, element: Element, headers: HeaderBag): Error {
  const field = (name: string) => {
    const value = element[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const requestId = headers['x-amz-request-id'];
  const code = field('Code') ?? defaultCodeFor(status);
  const message = field('Message') ?? `HTTP ${status}`;
  const error = new Error(message);
  // The answer's headers, where the SDK keeps them on its errors: a 404's say whether a delete marker is the latest version.
  Object.defineProperty(error, '$response', { value: { statusCode: status, headers }, enumerable: false });
  return Object.assign(error, {
    name: code,
    Code: code,
    // S3 names the bucket in NoSuchBucket and some others: messages name the bucket the server meant.
    ...(field('BucketName') ? { BucketName: field('BucketName') } : {}),
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, requestId: Array.isArray(requestId) ? requestId[0] : requestId },
  });
}

/** The code of an answer without a body to say it (a HEAD's), as the SDK names it. */
function defaultCodeFor(status: number): string {
  // S3 answers 301 when the bucket is addressed in the wrong region.
  if (status === 301) return 'PermanentRedirect';
  if (status === 404) return 'NotFound';
  if (status === 403) return 'Forbidden';
  if (status === 304) return 'NotModified';
  if (status === 412) return 'PreconditionFailed';
  return status >= 500 ? 'InternalError' : 'UnknownError';
}
