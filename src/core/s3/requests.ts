import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import type { ListPage } from './answers.js';
import { BucketEndpoints, canonicalQuery, encodeKey, type BucketEndpoint, type EndpointSettings, type SdkClientSource } from './addressing.js';
import { RequestSigner, environmentCredentials, type Credentials } from './request-signer.js';
import type { Method, ResponseHeaders, Transport, WholeResponse } from './transport.js';
import { markFailedRequest, type FailedRequest } from './transport-errors.js';

export type { ListPage } from './answers.js';
export type { WholeResponse } from './transport.js';

/**
 * The requests of a transfer, signed with the AWS SDK's own SigV4 signer (`@smithy/signature-v4`) and
 * sent on the run's transport (transport.ts, undici), without the SDK client's middleware stack:
 * whole-object PUT and GET, a multipart upload's create, parts, complete and abort, ranged and part
 * GETs, HEAD, and ListObjectsV2: the SDK client's middleware stack (endpoint rules, serialisers,
 * checksums) would cost each small request more CPU than its bytes, and a sync, an ls or a get then
 * need not load the client at all.
 *
 * The rest (deletes, ListParts, CopyObject, bucket setup, presigning) stays on the SDK client, on the
 * same transport. Credentials (request-signer.ts) and the bucket's address (addressing.ts) are the
 * SDK's own (its credential chain, its endpoint rules, once per bucket), except in the one case where they are plain: keys in the
 * environment and no profile (the SDK's chain takes exactly those first), and a custom endpoint,
 * addressed by path. Errors are shaped like the SDK's (name and Code from the XML body, the status in
 * $metadata, `clockSkewCorrected` when the answer's Date corrected the run's clock) so that the one
 * retry policy and the one error explainer treat both paths the same. Their XML answers are read
 * strictly (answers.ts): a damaged one is retried, never half-read.
 */

/** Response headers, lower-case names. */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

/**
 * The largest legal ListObjectsV2 page, in bytes, and so the most of any text answer kept: 1,000
 * entries, each a key of up to 1,024 bytes whose every byte XML may escape as six (`&apos;`,
 * `&quot;`), plus up to 1 KiB of other fields per entry (dates, ETag, size, owner, storage class,
 * checksums), plus the page's own fields (prefix, start-after, delimiter, continuation tokens…; eight
 * at most, each escaped the same way). About 6.9 MiB. A longer answer is an error, never cut.
 */
export const LIST_PAGE_LIMIT = 1000 * (1024 * 6 + 1024) + 8 * 1024 * 6;

/**
 * answers.ts and its XML parser, loaded with the first XML answer (a list page, a multipart
 * upload's, an error): a run of small PUTs and GETs never loads them.
 */
let answersModule: Promise<typeof import('./answers.js')> | undefined;
const answers = () => (answersModule ??= import('./answers.js'));

/**
 * Asks HEAD and GET to return the object's stored checksums (x-amz-checksum-crc32 and its type):
 * the full-object CRC32 a download is proven by. A server that keeps none ignores it.
 */
const CHECKSUM_MODE: Readonly<Record<string, string>> = { 'x-amz-checksum-mode': 'ENABLED' };

export interface S3Response {
  status: number;
  headers: ResponseHeaders;
  body: Readable;
}

export class S3Requests {
  private readonly endpoints: BucketEndpoints;
  private readonly signer: RequestSigner;

  constructor(
    private readonly client: SdkClientSource,
    private readonly transport: Transport,
    settings: EndpointSettings,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.endpoints = new BucketEndpoints(client, settings);
    // Keys from the environment when no profile is named: the first link of the SDK's default chain,
    // which takes exactly these in that case. Read once, as the SDK's chain reads them once (each read
    // of process.env is a call into C++).
    const fromEnvironment = environmentCredentials(settings.profile, env);
    this.signer = new RequestSigner(settings.region, fromEnvironment ? () => Promise.resolve(fromEnvironment) : () => this.chainCredentials());
  }

  /** A whole-object PUT; resolves once the answer is read. */
  putObject(ref: ObjectRef, body: Buffer, headers: Record<string, string>, signal?: AbortSignal): Promise<WholeResponse> {
    return this.sendWhole('PUT', ref, { ...headers, 'content-length': String(body.length) }, { body, signal });
  }

  /**
   * One part of a multipart upload, its bytes proven by Content-MD5 (and whatever `extraHeaders`
   * add, such as its CRC32); resolves once the answer is read.
   */
  uploadPart(ref: ObjectRef, uploadId: string, partNumber: number, body: Buffer, contentMd5: string, signal?: AbortSignal, extraHeaders: Record<string, string> = {}): Promise<WholeResponse> {
    const headers = { ...extraHeaders, 'content-md5': contentMd5, 'content-length': String(body.length) };
    return this.sendWhole('PUT', ref, headers, { query: { partNumber: String(partNumber), uploadId }, body, signal });
  }

  /** CreateMultipartUpload with the object's headers (metadata, type, encryption…); its upload id. */
  async createMultipartUpload(ref: ObjectRef, headers: Record<string, string>, signal?: AbortSignal): Promise<{ uploadId: string; headers: ResponseHeaders }> {
    // A POST without a body still says so: some servers refuse one with no Content-Length (411).
    const response = await this.sendWhole('POST', ref, { ...headers, 'content-length': '0' }, { query: { uploads: '' }, signal });
    const { answerText, readUploadId } = await answers();
    return { uploadId: readUploadId(answerText(response, 'CreateMultipartUpload', LIST_PAGE_LIMIT)), headers: response.headers };
  }

  /**
   * CompleteMultipartUpload with the parts in order; the object's ETag. S3 can answer 200 and put an
   * error in the body (the request ran long): that is an error, a server one, and retried as such.
   * The answer's root element is not checked by name (moto 5.2.1 calls it `...Response`).
   */
  async completeMultipartUpload(
    ref: ObjectRef,
    uploadId: string,
    parts: ReadonlyArray<{ partNumber: number; etag: string; crc32?: string | undefined }>,
    signal?: AbortSignal,
    /** Conditions of the write (`if-none-match: *`) and the whole object's checksum. */
    extraHeaders: Record<string, string> = {},
  ): Promise<{ etag: string | undefined; headers: ResponseHeaders }> {
    const xml = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts
      .map(
        (part) =>
          `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>"${escapeXml(part.etag)}"</ETag>${part.crc32 ? `<ChecksumCRC32>${escapeXml(part.crc32)}</ChecksumCRC32>` : ''}</Part>`,
      )
      .join('')}</CompleteMultipartUpload>`;
    const body = Buffer.from(xml, 'utf8');
    const headers = { ...extraHeaders, 'content-type': 'application/xml', 'content-md5': createHash('md5').update(body).digest('base64'), 'content-length': String(body.length) };
    const response = await this.sendWhole('POST', ref, headers, { query: { uploadId }, body, signal });
    const { answerText, readCompletedEtag } = await answers();
    return { etag: readCompletedEtag(answerText(response, 'CompleteMultipartUpload', LIST_PAGE_LIMIT)), headers: response.headers };
  }

  /** AbortMultipartUpload: the parts sent are discarded. */
  async abortMultipartUpload(ref: ObjectRef, uploadId: string, signal?: AbortSignal): Promise<void> {
    await this.sendWhole('DELETE', ref, {}, { query: { uploadId }, signal });
  }

  /**
   * A GET of the object, of one range of it, or of one of its parts; `ifMatch` (an ETag) makes a
   * changed object fail with PreconditionFailed. The caller reads (or destroys) the body.
   */
  async getObject(ref: ObjectRef, signal?: AbortSignal, options: { range?: string; partNumber?: number; ifMatch?: string } = {}): Promise<S3Response> {
    const headers: Record<string, string> = { ...CHECKSUM_MODE };
    if (options.range) headers.range = options.range;
    if (options.ifMatch) headers['if-match'] = `"${options.ifMatch}"`;
    const query = options.partNumber !== undefined ? { partNumber: String(options.partNumber) } : undefined;
    const { endpoint, path, signed } = await this.prepare('GET', ref, headers, query);
    const failed: FailedRequest = { request: `GET ${formatS3Url(ref)}`, origin: endpoint.origin };
    const response = await this.transport.request({ method: 'GET', origin: endpoint.origin, path, headers: signed, signal }).catch((error: unknown) => {
      throw markFailedRequest(error, failed);
    });
    // A body that breaks off names this request too, whoever reads it.
    response.body.once('error', (error) => markFailedRequest(error, failed));
    if (response.status >= 200 && response.status < 300) return response;
    const body = await readText(response.body);
    throw markSkew((await answers()).s3Error(response.status, body, response.headers), response.clockSkewCorrected);
  }

  /** A small object's GET, read whole: at most `limit` bytes of the body are kept (compare with its Content-Length). */
  getWholeObject(ref: ObjectRef, limit: number, signal?: AbortSignal): Promise<WholeResponse> {
    return this.sendWhole('GET', ref, CHECKSUM_MODE, { signal, limit });
  }

  /** HEAD of the object, of one of its parts, or of one of its versions. */
  headObject(ref: ObjectRef, signal?: AbortSignal, options: { partNumber?: number; versionId?: string | undefined } = {}): Promise<WholeResponse> {
    const query: Record<string, string> = {};
    if (options.partNumber !== undefined) query.partNumber = String(options.partNumber);
    if (options.versionId !== undefined) query.versionId = options.versionId;
    return this.sendWhole('HEAD', ref, CHECKSUM_MODE, { query: Object.keys(query).length > 0 ? query : undefined, signal });
  }

  /**
   * One page of ListObjectsV2 (up to 1,000 keys), read whole and checked against itself. Asked
   * URL-encoded, as the AWS CLI asks: XML 1.0 cannot carry ESC, BEL and other controls a key may hold.
   */
  async listObjectsV2(bucket: string, options: { prefix?: string | undefined; delimiter?: string | undefined; continuationToken?: string | undefined }, signal?: AbortSignal): Promise<ListPage> {
    const query: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url' };
    if (options.prefix) query.prefix = options.prefix;
    if (options.delimiter) query.delimiter = options.delimiter;
    if (options.continuationToken) query['continuation-token'] = options.continuationToken;
    const response = await this.sendWhole('GET', { bucket, key: '' }, {}, { query, signal, url: `s3://${bucket}/${options.prefix ?? ''}` });
    const source = `ListObjectsV2 s3://${bucket}/${options.prefix ?? ''}`;
    const { answerText, parseListPage } = await answers();
    return parseListPage(answerText(response, source, LIST_PAGE_LIMIT), { continuationToken: options.continuationToken, source });
  }

  /** A request whose answer is read whole; one outside 2xx is thrown as the SDK would throw it. */
  private async sendWhole(
    method: Method,
    ref: ObjectRef,
    headers: Record<string, string>,
    options: { query?: Record<string, string> | undefined; body?: Buffer; signal?: AbortSignal | undefined; limit?: number; url?: string },
  ): Promise<WholeResponse> {
    const { endpoint, path, signed } = await this.prepare(method, ref, headers, options.query);
    const request = { method, origin: endpoint.origin, path, headers: signed, body: options.body, signal: options.signal };
    const response = await this.transport.requestWhole(request, options.limit ?? LIST_PAGE_LIMIT).catch((error: unknown) => {
      throw markFailedRequest(error, { request: `${method} ${options.url ?? formatS3Url(ref)}`, origin: endpoint.origin });
    });
    if (response.status < 200 || response.status >= 300) {
      throw markSkew((await answers()).s3Error(response.status, response.body.toString('utf8'), response.headers), response.clockSkewCorrected);
    }
    return response;
  }

  /** The request's endpoint, its path with the query, and its signed headers. */
  private async prepare(method: Method, ref: ObjectRef, headers: Record<string, string>, query?: Record<string, string>) {
    const endpoint = this.endpoints.known(ref.bucket) ?? (await this.endpoints.of(ref.bucket));
    const base = endpoint.basePath;
    const path = ref.key === '' ? base || '/' : `${base}/${encodeKey(ref.key)}`;
    const queryString = query ? canonicalQuery(query) : '';
    const signed = await this.sign(method, endpoint, path, query, headers);
    // A valueless parameter (`?uploads`) is signed as `uploads=` and sent bare, as the SDK sends it.
    const sentQuery = queryString.replace(/=(?=&|$)/g, '');
    return { endpoint, path: sentQuery ? `${path}?${sentQuery}` : path, signed };
  }

  /** Where a request for the object goes and how it is signed: its URL, signing region and service. */
  async target(ref: ObjectRef): Promise<{ url: string; signingRegion: string; signingName: string }> {
    const endpoint = await this.endpoints.of(ref.bucket);
    const path = ref.key === '' ? endpoint.basePath || '/' : `${endpoint.basePath}/${encodeKey(ref.key)}`;
    return { url: `${endpoint.origin}${path}`, signingRegion: endpoint.signingRegion, signingName: endpoint.signingName };
  }

  /** The SDK's credential chain (profiles, SSO, IMDS, …), when the keys are not plainly in the environment. */
  private async chainCredentials(): Promise<Credentials> {
    const client = await this.client.resolve();
    return client.config.credentials();
  }

  /**
   * SigV4 in the Authorization header, by the SDK's own signer, dated by the run's clock (corrected
   * from the servers' answers). The body is proven by Content-MD5, so the payload is unsigned.
   */
  private sign(method: Method, endpoint: BucketEndpoint, path: string, query: Record<string, string> | undefined, headers: Record<string, string>): Promise<Record<string, string>> {
    const request = {
      method,
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      path,
      query: query ?? {},
      headers: { ...lowerCaseNames(headers), host: endpoint.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    };
    return this.signer.sign(request, new Date(Date.now() + this.transport.clockOffsetMs), endpoint.signingRegion);
  }
}

function lowerCaseNames(headers: Record<string, string>): Record<string, string> {
  const lower: Record<string, string> = {};
  for (const name in headers) lower[name.toLowerCase()] = headers[name]!;
  return lower;
}

/** An error answer whose Date corrected the run's clock is worth one more attempt, signed anew (as the SDK marks it). */
function markSkew(error: Error, clockSkewCorrected: boolean): Error {
  if (clockSkewCorrected) {
    const record = error as { $metadata?: Record<string, unknown> };
    record.$metadata = { ...record.$metadata, clockSkewCorrected: true };
  }
  return error;
}

/** User metadata from response headers, keyed as the SDK keys it (lower case, without x-amz-meta-). */
export function metadataFromHeaders(headers: HeaderBag): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice('x-amz-meta-'.length)] = value;
  }
  return metadata;
}

export function headerText(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** An error answer read from a stream, as text: at most the limit is kept (an error document is far smaller). */
async function readText(response: Readable, limit = LIST_PAGE_LIMIT): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response) {
    if (length < limit) chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[character]};`);
}
