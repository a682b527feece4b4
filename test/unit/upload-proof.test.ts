import { describe, expect, it } from 'vitest';
import { holdsExpected, writeAnswerOf } from '../../src/core/transfer/upload-proof.js';
import type { ObjectHead } from '../../src/core/s3/objects.js';

const md5 = '0123456789abcdef0123456789abcdef';
const head = (fields: Partial<ObjectHead>): ObjectHead => ({
  ref: { bucket: 'b', key: 'k' },
  size: 10,
  etag: md5,
  crc32: undefined,
  lastModified: undefined,
  metadata: {},
  contentType: undefined,
  serverSideEncryption: undefined,
  customerKey: false,
  storageClass: undefined,
  ...fields,
});
const stored = { md5chksum: Buffer.from(md5, 'hex').toString('base64') };

describe('whether a fresh look shows the content that was sent', () => {
  it.each([
    ['the ETag and size', head({}), { size: 10, etags: [md5] }, true],
    ['another ETag', head({ etag: `${md5.slice(0, 31)}0` }), { size: 10, etags: [md5] }, false],
    ['another size', head({ size: 11 }), { size: 10, etags: [md5] }, false],
    ['the ETag, but not the stored MD5 asked for', head({}), { size: 10, etags: [md5], md5 }, false],
    ['the ETag and the stored MD5', head({ metadata: stored }), { size: 10, etags: [md5], md5 }, true],
    ['only the stored MD5 (an ETag that is not an MD5)', head({ etag: 'opaque', metadata: stored }), { size: 10, etags: [], md5 }, true],
    ['no proof asked for: never', head({}), { size: 10, etags: [] }, false],
  ])('%s → %s', (_what, look, expected, holds) => {
    expect(holdsExpected(look, expected)).toBe(holds);
  });

  it('reads the ETag and version an answer names', () => {
    expect(writeAnswerOf({ etag: `"${md5.toUpperCase()}"`, 'x-amz-version-id': 'v1' })).toEqual({ etag: md5, versionId: 'v1' });
    expect(writeAnswerOf({}, undefined)).toEqual({ etag: '', versionId: undefined });
  });
});
