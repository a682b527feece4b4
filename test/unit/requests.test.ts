import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { S3Requests, metadataFromHeaders } from '../../src/core/s3/requests.js';
import { canonicalQuery, encodeKey, pathStyleEndpoint } from '../../src/core/s3/addressing.js';
import { environmentCredentials } from '../../src/core/s3/request-signer.js';
import { parseListPage, s3Error } from '../../src/core/s3/answers.js';
import { classifyError, errorCodeOf, httpStatusOf } from '../../src/core/s3/retry.js';
import { Transport } from '../../src/core/s3/transport.js';

describe('encodeKey', () => {
  it('keeps unreserved characters and slashes, escapes the rest as SigV4 wants', () => {
    expect(encodeKey('raw/a-b_c.d~e/f.csv')).toBe('raw/a-b_c.d~e/f.csv');
    expect(encodeKey('with space+plus')).toBe('with%20space%2Bplus');
    expect(encodeKey("!'()*")).toBe('%21%27%28%29%2A');
    expect(encodeKey('eq=amp&pct%')).toBe('eq%3Damp%26pct%25');
    expect(encodeKey('日本')).toBe('%E6%97%A5%E6%9C%AC');
  });
});

describe('s3Error', () => {
  it('reads the code and message of an S3 error body, and keeps the status where the retry policy looks', () => {
    const error = s3Error(503, '<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>', {});
    expect(errorCodeOf(error)).toBe('SlowDown');
    expect(httpStatusOf(error)).toBe(503);
    expect(error.message).toBe('Please reduce your request rate.');
    expect(classifyError(error)).toBe('throttled');
  });

  it('names an error without a body by its status', () => {
    expect(errorCodeOf(s3Error(404, '', {}))).toBe('NotFound');
    expect(errorCodeOf(s3Error(301, '', {}))).toBe('PermanentRedirect'); // a HEAD in the wrong region
    expect(classifyError(s3Error(403, '', {}))).toBe('permanent');
    expect(classifyError(s3Error(500, '', {}))).toBe('transient');
  });
});

describe('metadataFromHeaders', () => {
  it('keeps only x-amz-meta- headers, without the prefix', () => {
    expect(metadataFromHeaders({ 'x-amz-meta-md5chksum': 'abc==', 'content-type': 'text/plain', etag: '"x"' })).toEqual({ md5chksum: 'abc==' });
  });
});

describe('the SDK-free start: credentials from the environment, a custom endpoint by path, lists', () => {
  it('takes keys from the environment only when no profile is named, as the SDK chain does', () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'secret' };
    expect(environmentCredentials(undefined, env)).toEqual({ accessKeyId: 'AKID', secretAccessKey: 'secret', sessionToken: undefined });
    expect(environmentCredentials(undefined, { ...env, AWS_SESSION_TOKEN: 'token' })?.sessionToken).toBe('token');
    expect(environmentCredentials('dev', env)).toBeUndefined();
    expect(environmentCredentials(undefined, { ...env, AWS_PROFILE: 'dev' })).toBeUndefined();
    expect(environmentCredentials(undefined, { AWS_ACCESS_KEY_ID: 'AKID' })).toBeUndefined();
  });

  it('addresses a custom endpoint exactly as the SDK endpoint rules do with forcePathStyle', async () => {
    const client = new S3Client({ region: 'eu-west-3', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    for (const endpoint of ['http://127.0.0.1:9000', 'https://minio.internal:9443/', 'http://[::1]:9000/base/path']) {
      for (const bucket of ['lake', 'my.dotted.bucket', 'x-1']) {
        const sdk = client.config.endpointProvider({ Bucket: bucket, Region: 'eu-west-3', UseFIPS: false, UseDualStack: false, ForcePathStyle: true, Accelerate: false, UseArnRegion: false, DisableMultiRegionAccessPoints: false, Endpoint: endpoint });
        const ours = pathStyleEndpoint(endpoint, bucket, 'eu-west-3');
        expect(ours.url.href).toBe(new URL(sdk.url.href).href);
        const signingRegion = ((sdk.properties?.authSchemes ?? []) as Array<{ signingRegion?: string }>)[0]?.signingRegion;
        expect(ours.signingRegion).toBe(signingRegion);
      }
    }
    client.destroy();
  });

  it('builds a canonical query string: sorted, every reserved byte escaped, slashes too', () => {
    expect(canonicalQuery({ prefix: 'raw/a b+c', 'list-type': '2', delimiter: '/' })).toBe('delimiter=%2F&list-type=2&prefix=raw%2Fa%20b%2Bc');
    expect(canonicalQuery({ 'continuation-token': '1/2=3~' })).toBe('continuation-token=1%2F2%3D3~');
  });

  it('reads a ListObjectsV2 page: keys unescaped, prefixes, truncation and its token', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>lake</Name><Prefix>raw/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<Contents><Key>raw/a&amp;b &lt;c&gt; &quot;d&quot; &#39;e&#39; &#x1F600;.csv</Key><LastModified>2026-11-30T09:00:00.123Z</LastModified><ETag>&#34;9e107d9d372bb6826bd81d3542a419d6&#34;</ETag><Size>16384</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>raw/日本.csv</Key><LastModified>2026-11-30T09:00:01.000Z</LastModified><ETag>"abc-3"</ETag><Size>0</Size></Contents>
<CommonPrefixes><Prefix>raw/year=2026/</Prefix></CommonPrefixes><NextContinuationToken>token/with+chars=</NextContinuationToken></ListBucketResult>`;
    const page = parseListPage(xml);
    expect(page.contents.map((item) => item.key)).toEqual(['raw/a&b <c> "d" \'e\' 😀.csv', 'raw/日本.csv']);
    expect(page.contents[0]).toMatchObject({ size: 16384, etag: '"9e107d9d372bb6826bd81d3542a419d6"', storageClass: 'STANDARD' });
    expect(page.contents[0]!.lastModified?.toISOString()).toBe('2026-11-30T09:00:00.123Z');
    expect(page.contents[1]!.storageClass).toBeUndefined();
    expect(page.commonPrefixes).toEqual(['raw/year=2026/']);
    expect(page).toMatchObject({ isTruncated: true, nextContinuationToken: 'token/with+chars=' });
    const last = parseListPage('<ListBucketResult><IsTruncated>false</IsTruncated><Prefix></Prefix></ListBucketResult>');
    expect(last).toEqual({ contents: [], commonPrefixes: [], isTruncated: false, nextContinuationToken: undefined });
  });
});

describe('S3Requests signing', () => {
  it('signs a PUT exactly as the SDK signer does, header values with irregular spacing included', async () => {
    const captured: Captured[] = [];
    const server = http.createServer((request, response) => {
      captured.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { etag: '"abc"', 'content-length': 0 });
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const direct = directTo(endpoint, 'eu-west-3');
    const headers = { 'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==', 'x-amz-meta-note': 'two  spaces\tand a tab', 'x-amz-meta-plain': 'plain', 'content-type': 'text/csv' };
    try {
      const response = await direct.putObject({ bucket: 'lake', key: 'raw/a b/ü.csv' }, Buffer.from('hello world'), headers);
      expect(response.status).toBe(200);
    } finally {
      server.close();
    }
    const sent = captured[0]!;
    expect(sent.url).toBe(`/lake/${encodeKey('raw/a b/ü.csv')}`);
    expect(sent.headers.authorization).toBe(await sdkAuthorization(sent, 'eu-west-3', [...Object.keys(headers), 'content-length']));
  });
});

describe('S3Requests ranged GET and HEAD', () => {
  it('sends Range, If-Match and partNumber as asked, signed as the SDK signs them, and reads a 404 HEAD as NotFound', async () => {
    const captured: Captured[] = [];
    const server = http.createServer((request, response) => {
      captured.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
      if (request.url?.includes('missing')) {
        response.writeHead(404, { 'content-length': 0 });
        response.end();
        return;
      }
      response.writeHead(206, { 'content-range': 'bytes 0-4/10', 'content-length': 5, etag: '"abc"' });
      response.end(request.method === 'HEAD' ? undefined : 'hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const direct = directTo(endpoint, 'us-east-1');
    const ref = { bucket: 'lake', key: 'big.bin' };
    try {
      const ranged = await direct.getObject(ref, undefined, { range: 'bytes=0-4', ifMatch: 'abc' });
      const chunks: Buffer[] = [];
      for await (const chunk of ranged.body) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('hello');
      const part = await direct.getObject(ref, undefined, { partNumber: 2 });
      part.body.resume();
      const head = await direct.headObject(ref, undefined, { partNumber: 1 });
      expect(head.headers['content-length']).toBe('5');
      await expect(direct.headObject({ bucket: 'lake', key: 'missing' })).rejects.toMatchObject({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    } finally {
      server.close();
    }
    // The object's stored checksums are asked for on every HEAD and GET: the full-object CRC32 proves a download.
    expect(captured[0]).toMatchObject({ method: 'GET', url: '/lake/big.bin', headers: { range: 'bytes=0-4', 'if-match': '"abc"', 'x-amz-checksum-mode': 'ENABLED' } });
    expect(captured[1]).toMatchObject({ method: 'GET', url: '/lake/big.bin?partNumber=2' });
    expect(captured[2]).toMatchObject({ method: 'HEAD', url: '/lake/big.bin?partNumber=1' });
    for (const sent of captured.slice(0, 3)) expect(sent.headers.authorization).toBe(await sdkAuthorization(sent, 'us-east-1', ['range', 'if-match', 'x-amz-checksum-mode']));
  });
});

describe('S3Requests multipart upload', () => {
  it('creates (?uploads, signed as uploads=), completes with the parts as XML, reads a 200 carrying an error as a server error, aborts', async () => {
    const captured: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    let completeAnswer = '<CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>';
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        captured.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString() });
        const answer =
          request.method === 'DELETE' ? '' : request.url?.endsWith('?uploads') ? '<InitiateMultipartUploadResult><UploadId>up&amp;1</UploadId></InitiateMultipartUploadResult>' : completeAnswer;
        response.writeHead(request.method === 'DELETE' ? 204 : 200, { 'content-length': Buffer.byteLength(answer), 'x-amz-server-side-encryption': 'aws:kms' });
        response.end(answer);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const direct = directTo(endpoint, 'us-east-1');
    const ref = { bucket: 'lake', key: 'big.bin' };
    try {
      const created = await direct.createMultipartUpload(ref, { 'x-amz-meta-md5chksum': 'XrY7u+Ae7tCTyyK7j1rNww==' });
      expect(created.uploadId).toBe('up&1');
      expect(created.headers['x-amz-server-side-encryption']).toBe('aws:kms');
      const parts = [
        { partNumber: 1, etag: 'e1' },
        { partNumber: 2, etag: 'e2' },
      ];
      expect((await direct.completeMultipartUpload(ref, created.uploadId, parts)).etag).toBe('"abc-2"');
      completeAnswer = '<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>';
      await expect(direct.completeMultipartUpload(ref, created.uploadId, parts)).rejects.toMatchObject({ name: 'InternalError', $metadata: { httpStatusCode: 500 } });
      await direct.abortMultipartUpload(ref, created.uploadId);
    } finally {
      server.close();
    }
    expect(captured.map((entry) => `${entry.method} ${entry.url}`)).toEqual([
      'POST /lake/big.bin?uploads',
      'POST /lake/big.bin?uploadId=up%261',
      'POST /lake/big.bin?uploadId=up%261',
      'DELETE /lake/big.bin?uploadId=up%261',
    ]);
    expect(captured[1]!.body).toBe(
      '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part></CompleteMultipartUpload>'.replace(/&quot;/g, '"'),
    );
    expect(captured[1]!.headers['content-md5']).toBe(createHash('md5').update(captured[1]!.body).digest('base64'));
    for (const sent of [captured[0]!, captured[1]!, captured[3]!]) {
      expect(sent.headers.authorization).toBe(await sdkAuthorization(sent, 'us-east-1', ['content-md5', 'content-type', 'content-length', 'x-amz-meta-md5chksum']));
    }
  });
});

describe('S3Requests on a clock an hour off', () => {
  it("learns the offset from the server's Date as the SDK does: the refusal is marked for one more attempt, which is signed with the server's time", async () => {
    const serverAhead = 3600_000;
    const dates: string[] = [];
    const server = http.createServer((request, response) => {
      const amzDate = String(request.headers['x-amz-date']);
      dates.push(amzDate);
      const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
      const serverNow = Date.now() + serverAhead;
      const skewed = Math.abs(serverNow - signedAt) > 15 * 60_000;
      // A HEAD's refusal has no body: only its status and Date tell the client anything.
      response.writeHead(skewed ? 403 : 200, { date: new Date(serverNow).toUTCString(), 'content-length': 0 });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const transport = new Transport({ connections: 2, timeoutMs: 30_000 });
    const direct = directTo(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'us-east-1', transport);
    try {
      const refused = await direct.headObject({ bucket: 'lake', key: 'k' }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(httpStatusOf(refused)).toBe(403);
      expect(classifyError(refused)).toBe('transient');
      expect(Math.round(transport.clockOffsetMs / 60_000)).toBe(60);
      expect((await direct.headObject({ bucket: 'lake', key: 'k' })).status).toBe(200);
      // An answer in step with the corrected clock changes nothing, and a plain 403 stays permanent.
      expect((await direct.headObject({ bucket: 'lake', key: 'k' })).status).toBe(200);
    } finally {
      transport.close();
      server.close();
    }
    expect(dates).toHaveLength(3);
    expect(classifyError(s3Error(403, '', {}))).toBe('permanent');
  });
});

const TEST_CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

/** Direct requests to a local server, with keys from the environment. */
function directTo(endpoint: string, region: string, transport = new Transport({ connections: 4, timeoutMs: 30_000 })): S3Requests {
  return new S3Requests({} as never, transport, { region, endpoint }, { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey });
}

/** What a local server saw of a request. */
interface Captured {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** The Authorization header the SDK's own signer gives the request a local server received. */
async function sdkAuthorization(sent: Captured, region: string, signedNames: string[]): Promise<string> {
  const signer = new SignatureV4({ credentials: TEST_CREDENTIALS, region, service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false });
  const amzDate = String(sent.headers['x-amz-date']);
  const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const [path, query] = sent.url.split('?');
  const headers: Record<string, string> = { host: String(sent.headers.host), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
  for (const name of signedNames) if (sent.headers[name] !== undefined) headers[name] = String(sent.headers[name]);
  const parameters = query ? Object.fromEntries(new URLSearchParams(query)) : {};
  const signed = await signer.sign({ method: sent.method, protocol: 'http:', hostname: '127.0.0.1', path: path!, query: parameters, headers }, { signingDate });
  return String(signed.headers.authorization);
}

/** SHA-256 in the shape the SDK signer takes. */
class Sha256 {
  private hash;
  private readonly secret: string | Uint8Array | undefined;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined || typeof secret === 'string' ? secret : ArrayBuffer.isView(secret) ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength) : new Uint8Array(secret);
    this.hash = this.secret ? createHmac('sha256', this.secret) : createHash('sha256');
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    this.hash = this.secret ? createHmac('sha256', this.secret) : createHash('sha256');
  }
}
