import type { S3Client } from '@aws-sdk/client-s3';
import type { DeserializeMiddleware, MetadataBearer } from '@smithy/types';
import { TransientError } from './retry.js';

/**
 * An answer that did not come from an S3 server: a web page (a captive portal, a wrong server behind
 * the endpoint), or no document where S3 always sends one. Asked again like any damaged answer; after
 * the retries the run fails with one line that says to check the endpoint.
 */
export class NotAnS3Answer extends TransientError {
  override readonly name = 'NotAnS3Answer';
}

/** Commands whose answer is the object's own bytes and headers (its Content-Type is the object's). */
const OBJECT_ANSWERS = new Set(['GetObjectCommand', 'HeadObjectCommand']);

/** Commands whose output is read from an XML document in the body: an empty body is not S3's answer. */
function answersWithDocument(command: string): boolean {
  if (OBJECT_ANSWERS.has(command)) return false;
  return /^(List|Get)/.test(command) || ['CopyObjectCommand', 'UploadPartCopyCommand', 'CreateMultipartUploadCommand', 'CompleteMultipartUploadCommand', 'DeleteObjectsCommand'].includes(command);
}

/**
 * The SDK reads any 2xx answer leniently: a web page parses as an empty document, so `uploads ls` said
 * "0 uploads", `stat` printed an object, `cp` reported a copy and `init` settings it never made. This
 * middleware sits between the transport and the SDK's reader and lets through only what S3 sends:
 * an object answer carries an ETag; any other body is an XML document whose root is not `html` (nor a
 * DOCTYPE, which S3 never sends); a command that answers with a document has one. Headers alone would
 * not do: moto sends no x-amz-request-id and labels its empty answers `text/html`.
 */
export function refuseAnswersNotFromS3(client: S3Client): void {
  const check: DeserializeMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
    const result = await next(args);
    const response = result.response as { statusCode?: number; headers?: Record<string, string>; body?: unknown };
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) return result;
    const command = (context as { commandName?: string }).commandName ?? 'a request';
    const operation = command.replace(/Command$/, '');
    if (OBJECT_ANSWERS.has(command)) {
      if (!response.headers?.etag) throw new NotAnS3Answer(`the answer to ${operation} is not from an S3 server: it names no ETag`);
      return result;
    }
    const body = response.body instanceof Uint8Array ? response.body : response.body ? await client.config.streamCollector(response.body) : new Uint8Array();
    response.body = body;
    const problem = notAnS3Document(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'), answersWithDocument(command));
    if (problem) throw new NotAnS3Answer(`the answer to ${operation} is not from an S3 server: ${problem}`);
    return result;
  };
  client.middlewareStack.add(check, { step: 'deserialize', priority: 'low', name: 'datalakeRefuseAnswersNotFromS3' });
}

/** Why a body is not an S3 answer, or undefined if it may be one. The document itself is read by the SDK. */
export function notAnS3Document(body: string, documentExpected: boolean): string | undefined {
  const text = body.replace(/^\uFEFF/, '').trimStart();
  if (text === '') return documentExpected ? 'an empty answer where S3 sends a document' : undefined;
  // What follows the declaration and any comments: a DOCTYPE or the root element.
  const start = text.replace(/^(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*/, '');
  if (/^<!doctype\b/i.test(start)) return 'a web page';
  const root = /^<([A-Za-z_][\w.:-]*)/.exec(start)?.[1];
  if (root === undefined) return 'not an XML document';
  if (root.toLowerCase() === 'html') return 'a web page';
  return undefined;
}
