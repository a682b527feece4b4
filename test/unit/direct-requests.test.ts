import { describe, expect, it } from 'vitest';
import { encodeKey, metadataFromHeaders, s3Error } from '../../src/core/direct-requests.js';
import { classifyError, errorCodeOf, httpStatusOf } from '../../src/core/retry.js';

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
    expect(classifyError(s3Error(403, '', {}))).toBe('permanent');
    expect(classifyError(s3Error(500, '', {}))).toBe('transient');
  });
});

describe('metadataFromHeaders', () => {
  it('keeps only x-amz-meta- headers, without the prefix', () => {
    expect(metadataFromHeaders({ 'x-amz-meta-md5chksum': 'abc==', 'content-type': 'text/plain', etag: '"x"' })).toEqual({ md5chksum: 'abc==' });
  });
});
