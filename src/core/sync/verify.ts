import { Writable } from 'node:stream';
import { stat } from 'node:fs/promises';
import type { ObjectRef } from '../config/address.js';
import { crc32OfFile, crc32ToBase64, md5FromMetadata } from '../integrity/checksums.js';
import { contentProofOf, etagReflectsContent } from '../integrity/content-proof.js';
import type { TransferContext } from '../s3/context.js';
import { downloadToStream } from '../transfer/download.js';
import { ContentMismatch } from '../errors.js';
import { headObject } from '../s3/objects.js';
import { compareContent, type RemoteFile } from './compare.js';
import type { LocalFile } from '../transfer/local-tree.js';

export interface Mismatch {
  key: string;
  path?: string;
  reason: string;
}

/** What checking one object found: the proof used, and a mismatch, or a reason nothing could prove it. */
export interface Verified {
  proof: string;
  mismatch?: Mismatch;
  unverifiable?: Mismatch;
}

/** A sink that counts and forgets: verifying without a local copy downloads into nothing. */
function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
}

/**
 * With no local side: download the object (into nothing) and check it against its full-object
 * CRC32, the MD5 stored at upload, its plain ETag, or its multipart ETag. Returns a mismatch, or undefined when intact.
 */
export async function verifyRemote(ctx: TransferContext, ref: ObjectRef): Promise<Verified> {
  try {
    const result = await downloadToStream(ctx, ref, discard(), { discarded: true });
    if (result.verifiedBy === 'unverifiable') {
      return { proof: 'unverifiable', unverifiable: { key: ref.key, reason: 'nothing to check against: no full-object CRC32, no stored MD5 and an opaque (SSE-KMS/SSE-C) ETag; size checked only' } };
    }
    return { proof: result.verifiedBy };
  } catch (error) {
    if (error instanceof ContentMismatch) return { proof: 'failed', mismatch: { key: ref.key, reason: error.message } };
    throw error;
  }
}

/**
 * An object against a local file: same size, and the same content by the proofs sync uses (the
 * object's full-object CRC32, stored MD5, plain ETag, or multipart ETag recomputed with each part's
 * real size). An object that offers none of these is downloaded and both sides CRC32'd.
 */
export async function verifyAgainstFile(ctx: TransferContext, ref: ObjectRef, path: string): Promise<Verified> {
  const info = await stat(path);
  const head = await headObject(ctx, ref, 'data');
  if (head.size !== info.size) return { proof: 'size', mismatch: { key: ref.key, path, reason: `size differs from the local file ${path}: object ${head.size} bytes, file ${info.size} bytes` } };
  const local: LocalFile = { name: ref.key, path, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino };
  const proofKind = contentProofOf(head).kind;
  // Nothing to compare the file with without reading the object (a composite CRC32 or CRC32C alone
  // needs the parts): the object is downloaded, proven on its own, and both sides' CRC32s compared.
  const composite = proofKind === 'composite-crc32' || proofKind === 'composite-crc32c';
  if (proofKind === 'none' || (composite && !etagReflectsContent(head) && !md5FromMetadata(head.metadata))) {
    const [remote, localCrc32] = await Promise.all([downloadToStream(ctx, ref, discard(), { discarded: true }), crc32OfFile(path)]);
    const fileCrc32 = crc32ToBase64(localCrc32);
    const proof = 'downloaded-crc32';
    return remote.crc32 === fileCrc32 ? { proof } : { proof, mismatch: { key: ref.key, path, reason: `content differs: object CRC32 ${remote.crc32}, file CRC32 ${fileCrc32}` } };
  }
  const remote: RemoteFile = { name: ref.key, ref, size: head.size, etag: head.etag, lastModified: head.lastModified };
  const check = await compareContent(ctx, local, remote, undefined, { everyProof: true });
  if (check.unproven) return { proof: 'unverifiable', unverifiable: { key: ref.key, path, reason: `could not be proven the same as the local file ${path}: the server tells no part sizes that add up to the object's` } };
  const hash =
    check.by === 'crc32c' ? `object CRC32C ${head.crc32c}, the file's differs`
    : check.by === 'etag' ? `object ETag ${head.etag}, file MD5 ${check.md5}`
    : head.crc32 === undefined || check.crc32 === undefined ? `file MD5 ${check.md5}`
    : head.crc32 === check.crc32 ? `the CRC32s agree (${head.crc32}), the MD5 proof does not: a crafted CRC32 collision`
    : `object CRC32 ${head.crc32}, file CRC32 ${check.crc32}`;
  return check.same ? { proof: check.by } : { proof: check.by, mismatch: { key: ref.key, path, reason: `content differs from the local file ${path} (${hash})` } };
}

