import { describe, expect, it } from 'vitest';
import { notAnS3Document } from '../../src/core/s3/answer-check.js';

describe('an answer body that is not from S3', () => {
  it.each([
    ['<!DOCTYPE html><html><body>It works!</body></html>', 'a web page'],
    ['\n  <html lang="en"><head></head></html>', 'a web page'],
    ['<?xml version="1.0"?>\n<!DOCTYPE html><html/>', 'a web page'],
    ['only this much', 'not an XML document'],
    ['{"error":"not here"}', 'not an XML document'],
  ])('%j is refused as %s', (body, reason) => {
    expect(notAnS3Document(body, false)).toBe(reason);
    expect(notAnS3Document(body, true)).toBe(reason);
  });

  it('an empty body is refused only where S3 always sends a document', () => {
    expect(notAnS3Document('', true)).toMatch(/empty/);
    expect(notAnS3Document('', false)).toBeUndefined();
  });

  it.each([
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></ListMultipartUploadsResult>',
    '<CopyObjectResult><ETag>"x"</ETag></CopyObjectResult>',
    // S3 may send whitespace while a copy or a Complete runs, before the document.
    '   \n\n<CompleteMultipartUploadResult/>',
    '<?xml version="1.0"?><!-- a comment --><ListAllMyBucketsResult/>',
  ])('an S3 document passes: %j', (body) => {
    expect(notAnS3Document(body, true)).toBeUndefined();
  });
});
