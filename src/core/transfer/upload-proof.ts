import { formatS3Url, type ObjectRef } from '../config/address.js';
import { md5FromMetadata, normalizeEtag } from '../integrity/checksums.js';
import { controlRequest, type TransferContext } from '../s3/context.js';
import { headerText, type HeaderBag } from '../s3/requests.js';
import { describeError } from '../errors.js';
import { headFromHeaders, isNotFound, type ObjectHead } from '../s3/objects.js';
import { classifyError, errorCodeOf } from '../s3/retry.js';
import { sdk } from '../s3/sdk.js';

/**
 * What happens after an upload's answer: the answer is only a report of what the server did, and it
 * can arrive damaged or not at all. Before anything is concluded from an answer that does not prove
 * the upload, the object itself is looked at again (a fresh HEAD). Nothing but the exact object just
 * written is ever removed: in a versioned bucket its version (by VersionId, so earlier versions stay
 * and no delete marker is laid), in an unversioned one the object at the key only while a fresh look
 * shows it is still the one the answer described.
 */

/** What an upload's answer says was written: its ETag and, in a versioned bucket, its version. */
export interface WriteAnswer {
  etag: string;
  versionId: string | undefined;
}

export function writeAnswerOf(headers: HeaderBag, etag = headerText(headers, 'etag')): WriteAnswer {
  return { etag: normalizeEtag(etag) ?? '', versionId: headerText(headers, 'x-amz-version-id') };
}

/** What the object must be to hold the bytes that were sent. */
export interface ExpectedObject {
  size: number;
  /** The ETags that prove it (an MD5, a multipart ETag); none where the ETag is not an MD5 (SSE-KMS). */
  etags: readonly string[];
  /** The whole-content MD5 its metadata must carry, when one was sent. */
  md5?: string | undefined;
  /** The full-object CRC32 (base64) sent with it; proves it wherever the server keeps one. */
  crc32?: string | undefined;
}

/** Whether a fresh look shows the expected content: size, and every proof there is (at least one). */
export function holdsExpected(head: ObjectHead, expected: ExpectedObject): boolean {
  if (head.size !== expected.size) return false;
  const crc32Kept = expected.crc32 !== undefined && head.crc32 !== undefined;
  if (crc32Kept && head.crc32 !== expected.crc32) return false;
  if (expected.etags.length === 0 && expected.md5 === undefined && !crc32Kept) return false;
  if (expected.etags.length > 0 && (head.etag === undefined || !expected.etags.includes(head.etag))) return false;
  return expected.md5 === undefined || md5FromMetadata(head.metadata) === expected.md5;
}

/**
 * After an answer without the CRC32 the server stored, or with another one: a fresh look says which.
 * The CRC32 sent, or none at all (a server that keeps no checksums; the ETag proof stands alone), is
 * fine. Another one, where the object's ETag still proves the content sent (`provingEtags`: the
 * server computed it from the bytes it holds), is a disagreement between the server's own answers:
 * nothing is removed, and the words say so. Another one with nothing to confirm the content is
 * confirmed wrong: the object just written is removed. Returns words for the error; undefined when
 * all is well.
 */
export async function confirmStoredCrc32(
  ctx: TransferContext,
  ref: ObjectRef,
  answer: WriteAnswer,
  sent: string,
  provingEtags: readonly string[] = [],
): Promise<string | undefined> {
  // An unversioned bucket's answer may name the version `null` (moto), which some servers will not take back.
  const look = await lookAgain(ctx, ref, answer.versionId === 'null' ? undefined : answer.versionId);
  if (!look || look.head.crc32 === undefined || look.head.crc32 === sent) return undefined;
  if (look.head.etag !== answer.etag) return undefined; // another writer's object since: not ours to judge
  if (look.head.etag !== undefined && provingEtags.includes(look.head.etag)) {
    return `the server's answers disagree: its ETag ${look.head.etag} matches what was sent, its CRC32 ${look.head.crc32} does not (${sent} was sent); the object was kept`;
  }
  return `the server stored CRC32 ${look.head.crc32}, not the ${sent} of what was sent; ${await removeVersion(ctx, ref, look.versionId)}`;
}

export type Settled = { proven: true; answer: WriteAnswer } | { proven: false; reason: string };

/**
 * An upload whose answer gave the wrong ETag. A fresh look that shows the expected content means the
 * answer was damaged on the way: the upload stands. A fresh look that agrees with the answer (the
 * same wrong ETag) confirms the object is wrong: that object, and only it, is removed. Anything else
 * (no object, another ETag, no look possible) removes nothing; nor does a confirmed mismatch when the
 * caller cannot tell a wrong ETag from a server's own form of it (`mayRemove` false). `reason` says
 * which, for the error.
 */
export async function settleMismatch(
  ctx: TransferContext,
  ref: ObjectRef,
  operation: string,
  answer: WriteAnswer,
  expected: ExpectedObject,
  mayRemove = true,
): Promise<Settled> {
  const said = `ETag ${answer.etag || '(none)'}, expected ${expected.etags.join(' or ')}`;
  let look: FreshLook | undefined;
  try {
    look = await lookAgain(ctx, ref, answer.versionId);
  } catch (error) {
    return { proven: false, reason: `${said}; it was left in place, as it could not be looked at again (${describeError(error)})` };
  }
  if (look && holdsExpected(look.head, expected)) {
    ctx.events.emit('warning', {
      message: `${formatS3Url(ref)}: the answer to ${operation} said ${said}, but a fresh look shows the expected content: the answer was damaged on the way`,
      ref,
    });
    return { proven: true, answer: { etag: look.head.etag ?? '', versionId: look.versionId } };
  }
  if (!look) return { proven: false, reason: `${said}; a fresh look found no object there` };
  if (look.head.etag !== answer.etag) {
    return { proven: false, reason: `${said}; it was left in place, as a fresh look found ETag ${look.head.etag ?? '(none)'}, neither what was sent nor what the answer said` };
  }
  if (!mayRemove) return { proven: false, reason: `${said}; a fresh look shows the same, and it was left in place` };
  return { proven: false, reason: `${said}; a fresh look confirmed it, and ${await removeVersion(ctx, ref, look.versionId)}` };
}

/**
 * Removes the object just written (a file that changed while it was sent): by its version when the
 * answer named one, else only if a fresh look shows the key still holds what the answer described.
 * Returns what was done, as words for the error.
 */
export async function removeWritten(ctx: TransferContext, ref: ObjectRef, answer: WriteAnswer): Promise<string> {
  if (answer.versionId !== undefined) return removeVersion(ctx, ref, answer.versionId);
  let look: FreshLook | undefined;
  try {
    look = await lookAgain(ctx, ref, undefined);
  } catch (error) {
    return `it was left in place, as it could not be looked at again (${describeError(error)})`;
  }
  if (!look) return 'nothing was left there';
  if (look.head.etag !== answer.etag) return `it was left in place, as the object there now (ETag ${look.head.etag ?? '(none)'}) is not the one just written`;
  return removeVersion(ctx, ref, look.versionId);
}

/**
 * A request that failed, perhaps only in its answer: the server may have done it and the answer been
 * lost, after which a retry finds the work already done (`doneCode`: NoSuchUpload for a Complete,
 * PreconditionFailed for a conditional copy), or every answer was lost. The object is looked at: if
 * it holds exactly the expected content, the request succeeded. Otherwise the request's own error
 * is thrown.
 */
export async function settleLostAnswer(
  ctx: TransferContext,
  ref: ObjectRef,
  operation: string,
  expected: ExpectedObject,
  error: unknown,
  doneCode: string,
): Promise<WriteAnswer> {
  const perhapsLost = errorCodeOf(error) === doneCode || classifyError(error) !== 'permanent';
  if (!perhapsLost || ctx.signal?.aborted) throw error;
  const found = await findExpected(ctx, ref, expected).catch(() => undefined);
  if (!found) throw error;
  ctx.events.emit('warning', {
    message: `${formatS3Url(ref)}: the answer to ${operation} was lost (${describeError(error)}), but a fresh look shows the object complete, with the expected content`,
    ref,
  });
  return found;
}

/** The object as written, if a fresh look shows it holds exactly the expected content. */
export async function findExpected(ctx: TransferContext, ref: ObjectRef, expected: ExpectedObject): Promise<WriteAnswer | undefined> {
  const look = await lookAgain(ctx, ref, undefined);
  return look && holdsExpected(look.head, expected) ? { etag: look.head.etag ?? '', versionId: look.versionId } : undefined;
}

interface FreshLook {
  head: ObjectHead;
  versionId: string | undefined;
}

/** A fresh HEAD of the object, or of one version of it; undefined when it is not there. */
async function lookAgain(ctx: TransferContext, ref: ObjectRef, versionId: string | undefined): Promise<FreshLook | undefined> {
  try {
    const response = await controlRequest(ctx, `HEAD ${ref.key}`, () => ctx.direct.headObject(ref, ctx.signal, { versionId }));
    return { head: headFromHeaders(ref, response.headers), versionId: headerText(response.headers, 'x-amz-version-id') ?? versionId };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** DeleteObject of one version, or of the key where the bucket keeps none; what was done, in words. */
async function removeVersion(ctx: TransferContext, ref: ObjectRef, versionId: string | undefined): Promise<string> {
  try {
    const { DeleteObjectCommand } = await sdk();
    await controlRequest(ctx, `DELETE ${ref.key}`, () => ctx.client.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(versionId ? { VersionId: versionId } : {}) })), undefined);
  } catch (error) {
    return `removing it failed (${describeError(error)})`;
  }
  return versionId ? 'the version just written was removed; earlier versions are untouched' : 'the object just written was removed';
}
