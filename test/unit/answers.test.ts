import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { S3Requests, LIST_PAGE_LIMIT } from '../../src/core/s3/requests.js';
import { Transport } from '../../src/core/s3/transport.js';
import { parseListPage, s3Error } from '../../src/core/s3/answers.js';
import { classifyError, errorCodeOf } from '../../src/core/s3/retry.js';

/** A ListObjectsV2 page as MinIO writes it: `'` and `"` as numeric references, the rest by name. */
function listPage(options: { keys?: string[]; prefixes?: string[]; keyCount?: number | null; isTruncated?: string | null; token?: string | null; root?: string } = {}): string {
  const keys = options.keys ?? ['raw/a.csv', 'raw/b.csv'];
  const prefixes = options.prefixes ?? [];
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;').replace(/"/g, '&#34;');
  const root = options.root ?? 'ListBucketResult';
  const keyCount = options.keyCount === undefined ? keys.length + prefixes.length : options.keyCount;
  const isTruncated = options.isTruncated === undefined ? 'false' : options.isTruncated;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>lake</Name><Prefix>raw/</Prefix>` +
    (keyCount === null ? '' : `<KeyCount>${keyCount}</KeyCount>`) +
    `<MaxKeys>1000</MaxKeys>` +
    (isTruncated === null ? '' : `<IsTruncated>${isTruncated}</IsTruncated>`) +
    keys
      .map(
        (key) =>
          `<Contents><Key>${escape(key)}</Key><LastModified>2026-11-30T09:00:00.000Z</LastModified><ETag>&#34;9e107d9d372bb6826bd81d3542a419d6&#34;</ETag><Size>16384</Size><Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4</ID><DisplayName>minio</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join('') +
    prefixes.map((prefix) => `<CommonPrefixes><Prefix>${escape(prefix)}</Prefix></CommonPrefixes>`).join('') +
    (options.token ? `<NextContinuationToken>${escape(options.token)}</NextContinuationToken>` : '') +
    `</${root}>`
  );
}

/** What a damaged answer must be: an error the retry policy retries, saying what was wrong. */
function expectDamaged(read: () => unknown, what: RegExp): void {
  let thrown: unknown;
  try {
    read();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'a damaged answer must throw').toBeInstanceOf(Error);
  expect(classifyError(thrown)).toBe('transient');
  expect((thrown as Error).message).toMatch(what);
  expect((thrown as Error).message).not.toContain('\n');
}

describe('a ListObjectsV2 page, read strictly', () => {
  it('reads a whole page: keys unescaped (named and numeric references), sizes, ETags, prefixes, the token', () => {
    const page = parseListPage(listPage({ keys: ['raw/a&b <c> "d" \'e\' 😀.csv', 'raw/日本.csv'], prefixes: ['raw/year=2026/'], isTruncated: 'true', token: 'token/with+chars=' }));
    expect(page.contents.map((item) => item.key)).toEqual(['raw/a&b <c> "d" \'e\' 😀.csv', 'raw/日本.csv']);
    expect(page.contents[0]).toMatchObject({ size: 16384, etag: '"9e107d9d372bb6826bd81d3542a419d6"', storageClass: 'STANDARD' });
    expect(page.contents[0]!.lastModified?.toISOString()).toBe('2026-11-30T09:00:00.000Z');
    expect(page.commonPrefixes).toEqual(['raw/year=2026/']);
    expect(page).toMatchObject({ isTruncated: true, nextContinuationToken: 'token/with+chars=' });
  });

  it('decodes URL-encoded keys and prefixes when the page says EncodingType url (ESC, BEL: XML 1.0 cannot carry them); the token stays as sent', () => {
    const page = listPage({ keys: ['raw/a%1B%5B31mred.txt', 'raw/bell%07+two%2Bplus%25.csv'], prefixes: ['raw/dir%1Bx/'], isTruncated: 'true', token: 'token+with%2B' }).replace(
      '<MaxKeys>',
      '<EncodingType>url</EncodingType><MaxKeys>',
    );
    const read = parseListPage(page);
    expect(read.contents.map((item) => item.key)).toEqual(['raw/a\u001b[31mred.txt', 'raw/bell\u0007 two+plus%.csv']);
    expect(read.commonPrefixes).toEqual(['raw/dir\u001bx/']);
    expect(read.nextContinuationToken).toBe('token+with%2B');
    // Without EncodingType (a server that does not encode), a name is read as it is.
    expect(parseListPage(listPage({ keys: ['raw/100%25+x.csv'] })).contents[0]!.key).toBe('raw/100%25+x.csv');
  });

  it('a URL-encoded name that does not decode, or an encoding not asked for, is damage', () => {
    const encoded = (keys: string[]) => listPage({ keys }).replace('<MaxKeys>', '<EncodingType>url</EncodingType><MaxKeys>');
    expectDamaged(() => parseListPage(encoded(['raw/a%1.csv'])), /damaged answer.*not URL-encoded UTF-8/);
    expectDamaged(() => parseListPage(encoded(['raw/a%FF.csv'])), /damaged answer.*not URL-encoded UTF-8/);
    expectDamaged(() => parseListPage(listPage().replace('<MaxKeys>', '<EncodingType>base64</EncodingType><MaxKeys>')), /EncodingType "base64", not the url asked for/);
  });

  it('keeps the spaces of a key made of spaces (a key is never trimmed)', () => {
    expect(parseListPage(listPage({ keys: ['raw/ two  spaces ', 'raw/\tx'] })).contents.map((item) => item.key)).toEqual(['raw/ two  spaces ', 'raw/\tx']);
  });

  it('reads an empty last page, and a page whose root element has another name', () => {
    expect(parseListPage(listPage({ keys: [] }))).toEqual({ contents: [], commonPrefixes: [], isTruncated: false, nextContinuationToken: undefined });
    expect(parseListPage(listPage({ root: 'ListObjectsV2Output' })).contents).toHaveLength(2);
  });

  it('a page that is not well-formed is damaged: one byte changed in a closing tag, a page cut short, junk after it', () => {
    const page = listPage({ keys: ['raw/a.csv', 'raw/b.csv', 'raw/c.csv'] });
    expectDamaged(() => parseListPage(page.replace('</Contents>', '</Contentr>')), /damaged answer.*not well-formed/);
    expectDamaged(() => parseListPage(page.slice(0, page.lastIndexOf('<Contents>'))), /damaged answer.*not well-formed/);
    expectDamaged(() => parseListPage(page.slice(0, -3)), /damaged answer.*not well-formed/);
    expectDamaged(() => parseListPage(`${page}<x/>`), /damaged answer.*(not well-formed|more than one root)/);
    expectDamaged(() => parseListPage(''), /damaged answer/);
  });

  it('a reference XML does not define, or to no character, is damage (a flipped byte in `&amp;`)', () => {
    expectDamaged(() => parseListPage(listPage({ keys: ['raw/a&b.csv'] }).replace('&amp;', '&amq;')), /damaged answer to ListObjectsV2: unknown reference &amq;/);
    expectDamaged(() => parseListPage(listPage({ keys: ['raw/a&b.csv'] }).replace('&amp;', '&#0;')), /unknown reference &#0;/);
    expectDamaged(() => parseListPage(listPage({ keys: ['raw/a&b.csv'] }).replace('&amp;', '&#x110000;')), /unknown reference/);
  });

  it('a KeyCount that disagrees with the keys and prefixes parsed is damage', () => {
    expectDamaged(() => parseListPage(listPage({ keys: ['raw/a.csv', 'raw/b.csv'], keyCount: 3 })), /KeyCount 3.*2 keys and prefixes/);
    expectDamaged(() => parseListPage(listPage({ keys: ['raw/a.csv'], prefixes: ['raw/p/'], keyCount: 1 })), /KeyCount 1/);
    expectDamaged(() => parseListPage(listPage({ keyCount: 'two' as unknown as number })), /KeyCount/);
    // Counted over keys and prefixes together, as S3 counts them.
    expect(parseListPage(listPage({ keys: ['raw/a.csv'], prefixes: ['raw/p/'], keyCount: 2 })).commonPrefixes).toEqual(['raw/p/']);
  });

  it('IsTruncated must be exactly true or false, and agree with the continuation token', () => {
    for (const value of ['True', '1', 'yes', 'tru', '', null]) expectDamaged(() => parseListPage(listPage({ isTruncated: value })), /IsTruncated/);
    expectDamaged(() => parseListPage(listPage({ isTruncated: 'true' })), /truncated.*no NextContinuationToken/);
    expectDamaged(() => parseListPage(listPage({ isTruncated: 'false', token: 'more' })), /not truncated.*NextContinuationToken/);
  });

  it('a token that repeats the one sent, and a truncated page with nothing in it, are damage (the listing would never end, or skip)', () => {
    expectDamaged(() => parseListPage(listPage({ isTruncated: 'true', token: 'same' }), { continuationToken: 'same' }), /repeats/);
    expectDamaged(() => parseListPage(listPage({ keys: [], isTruncated: 'true', token: 'next' })), /truncated.*empty/);
    expect(parseListPage(listPage({ isTruncated: 'true', token: 'next' }), { continuationToken: 'previous' }).nextContinuationToken).toBe('next');
  });

  it('an entry without a key, with a size that is not a whole number or a date that is not one, is damage', () => {
    expectDamaged(() => parseListPage(listPage().replace(/<Key>raw\/a\.csv<\/Key>/, '')), /without a Key/);
    expectDamaged(() => parseListPage(listPage().replace('<Size>16384</Size>', '<Size>16x84</Size>')), /Size/);
    expectDamaged(() => parseListPage(listPage().replace('2026-11-30T09:00:00.000Z', '2026-11-30T09:0?:00.000Z')), /LastModified/);
  });

  it('an <Error> document answered with 200 is the error it names', () => {
    let thrown: unknown;
    try {
      parseListPage('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    } catch (error) {
      thrown = error;
    }
    expect(errorCodeOf(thrown)).toBe('SlowDown');
    expect(classifyError(thrown)).toBe('throttled');
  });
});

describe('the limit on a text answer', () => {
  it('holds a legal page of 1,000 keys of 1,024 bytes, each byte one that XML escapes widest', () => {
    const keys = Array.from({ length: 1000 }, (_, index) => `${String(index).padStart(4, '0')}${"'".repeat(1020)}`);
    const xml = listPage({ keys, isTruncated: 'true', token: `${"'".repeat(1024)}` }).replace(/&#39;/g, '&apos;');
    expect(Buffer.byteLength(xml)).toBeGreaterThan(6 * 1024 * 1024);
    expect(Buffer.byteLength(xml)).toBeLessThanOrEqual(LIST_PAGE_LIMIT);
  });

  it('a page over 4 MiB is read whole over the wire, and one over the limit is an error, never fewer keys', async () => {
    const keys = Array.from({ length: 1000 }, (_, index) => `${String(index).padStart(4, '0')}/${"&<'".repeat(339)}`);
    let answer = listPage({ keys });
    const server = http.createServer((request, response) => {
      request.resume();
      response.writeHead(200, { 'content-length': Buffer.byteLength(answer), 'content-type': 'application/xml' });
      response.end(answer);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const direct = new S3Requests({} as never, new Transport({ connections: 2, timeoutMs: 30_000 }), { region: 'us-east-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' });
    try {
      expect(Buffer.byteLength(answer)).toBeGreaterThan(4 * 1024 * 1024);
      const page = await direct.listObjectsV2('lake', { prefix: 'raw/' });
      expect(page.contents).toHaveLength(1000);
      expect(page.contents[999]!.key).toBe(keys[999]);
      answer = `${answer.slice(0, -'</ListBucketResult>'.length)}<Padding>${'x'.repeat(LIST_PAGE_LIMIT)}</Padding></ListBucketResult>`;
      const error = await direct.listObjectsV2('lake', { prefix: 'raw/' }).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(classifyError(error)).toBe('transient');
      expect((error as Error).message).toMatch(/damaged answer.*over the limit/);
    } finally {
      server.close();
    }
  });
});

describe('S3 error answers', () => {
  it('reads the code and message of an error body, whatever it is wrapped in', () => {
    const error = s3Error(503, '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce &amp; retry.</Message><RequestId>x</RequestId></Error>', {});
    expect(errorCodeOf(error)).toBe('SlowDown');
    expect(error.message).toBe('Please reduce & retry.');
  });

  it('an error body that is not XML, or cut short, is named by its status, never thrown as a parse error', () => {
    expect(errorCodeOf(s3Error(502, '<html><body>Bad Gateway</body></html>', {}))).toBe('InternalError');
    expect(errorCodeOf(s3Error(503, '<Error><Code>SlowDo', {}))).toBe('InternalError');
    expect(classifyError(s3Error(503, '<Error><Code>SlowDo', {}))).toBe('throttled');
    expect(errorCodeOf(s3Error(404, 'not found', {}))).toBe('NotFound');
  });
});

describe('multipart upload answers', () => {
  it('reads the upload id and the completed ETag whatever the root is named (moto 5.2.1: CompleteMultipartUploadResponse); damage and an Error inside a 200 are errors', async () => {
    let completeAnswer = '';
    let createAnswer = '';
    const server = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const answer = request.url?.endsWith('?uploads') ? createAnswer : completeAnswer;
        response.writeHead(200, { 'content-length': Buffer.byteLength(answer) });
        response.end(answer);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const direct = new S3Requests({} as never, new Transport({ connections: 2, timeoutMs: 30_000 }), { region: 'us-east-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' });
    const ref = { bucket: 'lake', key: 'big.bin' };
    const parts = [{ partNumber: 1, etag: 'e1' }];
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);
    try {
      createAnswer = '<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>lake</Bucket><Key>big.bin</Key><UploadId>up&amp;1</UploadId></InitiateMultipartUploadResult>';
      expect((await direct.createMultipartUpload(ref, {})).uploadId).toBe('up&1');
      createAnswer = '<InitiateMultipartUploadResult><Bucket>lake</Bucket><UploadId>up1</Upload';
      expect(classifyError(await failure(direct.createMultipartUpload(ref, {})))).toBe('transient');
      createAnswer = '<InitiateMultipartUploadResult><Bucket>lake</Bucket></InitiateMultipartUploadResult>';
      expect(((await failure(direct.createMultipartUpload(ref, {}))) as Error).message).toMatch(/damaged answer.*UploadId/);

      for (const root of ['CompleteMultipartUploadResult', 'CompleteMultipartUploadResponse']) {
        completeAnswer = `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://x/lake/big.bin</Location><Bucket>lake</Bucket><Key>big.bin</Key><ETag>&#34;abc-1&#34;</ETag></${root}>`;
        expect((await direct.completeMultipartUpload(ref, 'up1', parts)).etag).toBe('"abc-1"');
      }
      completeAnswer = '<?xml version="1.0" encoding="UTF-8"?>\n\n<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>';
      expect(await failure(direct.completeMultipartUpload(ref, 'up1', parts))).toMatchObject({ name: 'InternalError', $metadata: { httpStatusCode: 500 } });
      completeAnswer = '<CompleteMultipartUploadResult><ETag>&#34;abc-1&#34;</ETag></CompleteMultipartUploadResul>';
      const damaged = await failure(direct.completeMultipartUpload(ref, 'up1', parts));
      expect(classifyError(damaged)).toBe('transient');
      expect((damaged as Error).message).toMatch(/damaged answer/);
    } finally {
      server.close();
    }
  });
});
