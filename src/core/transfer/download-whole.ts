/**
 * One GET for the whole object into the temporary file, hashed as it streams; an object whose only
 * proof is a multipart ETag is fetched again part by part (download-ranges.ts).
 */
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ObjectRef } from '../config/address.js';
import { newMd5 } from '../integrity/checksums.js';
import { contentProofOf } from '../integrity/content-proof.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { headFromHeaders, missingAsFailure, type ObjectHead } from '../s3/objects.js';
import { checkProof, hashFields, isPartProof, ReceivedCrcs, type DownloadedObject, type ReceivedHashes } from './download-proof.js';
import { bodyEndedEarly } from './download-segments.js';
import { fetchIntoFile } from './download-ranges.js';
import { writeFully } from './download-writes.js';

/** A whole-object GET on the direct path, its body as a stream, with what its headers tell; a missing object is a failure naming it. */
async function getObjectStream(ctx: TransferContext, ref: ObjectRef): Promise<{ head: ObjectHead; body: Readable }> {
  const response = await ctx.direct.getObject(ref, ctx.signal).catch(missingAsFailure(ref));
  return { head: headFromHeaders(ref, response.headers), body: response.body };
}

/**
 * Hands each chunk of a whole-object body to `sink` with its offset, counting progress. A body that
 * breaks, or ends at another length than its headers said, takes its progress back and fails
 * transiently, for the retry to fetch it again.
 */
async function receiveWholeBody(
  ctx: TransferContext,
  head: ObjectHead,
  body: AsyncIterable<Buffer>,
  id: number,
  sink: (chunk: Buffer, offset: number) => Promise<void> | void,
): Promise<void> {
  let offset = 0;
  try {
    for await (const chunk of body) {
      await sink(chunk, offset);
      offset += chunk.length;
      ctx.events.emit('transfer:progress', { id, bytes: chunk.length });
    }
  } catch (error) {
    ctx.events.emit('transfer:progress', { id, bytes: -offset });
    throw error;
  }
  if (offset !== head.size) {
    ctx.events.emit('transfer:progress', { id, bytes: -offset });
    throw bodyEndedEarly(head.ref, offset, head.size);
  }
}

/** One GET for the whole object, hashed as it streams; falls back to parts for a foreign multipart ETag. */
export async function fetchWholeIntoFile(ctx: TransferContext, ref: ObjectRef, file: FileHandle, path: string, id: number): Promise<Omit<DownloadedObject, 'path'>> {
  const fetched = await dataRequest(ctx, `GET ${ref.key}`, async (attempt): Promise<{ done: Omit<DownloadedObject, 'path'> } | { partsNeeded: ObjectHead }> => {
    if (attempt > 1) await file.truncate(0);
    const { head, body } = await getObjectStream(ctx, ref);
    const proof = contentProofOf(head);
    const hash = proof.kind === 'md5' ? newMd5() : undefined;
    const crcs = ReceivedCrcs.for(proof);
    await receiveWholeBody(ctx, head, body, id, async (chunk, offset) => {
      await writeFully(file, chunk, offset);
      crcs.update(chunk);
      hash?.update(chunk);
    });
    if (isPartProof(proof)) {
      ctx.events.emit('transfer:progress', { id, bytes: -head.size });
      return { partsNeeded: head };
    }
    const received: ReceivedHashes = { crc32: crcs.crc32, crc32c: crcs.crc32c, md5: hash?.digest('hex'), partMd5s: [] };
    return { done: { bucket: ref.bucket, key: ref.key, size: head.size, etag: head.etag, ...hashFields(received), verifiedBy: checkProof(head, proof, received) } };
  });
  if ('done' in fetched) return fetched.done;
  // A multipart ETag with no stored MD5 (another tool's upload): fetch it part by part to check it.
  await file.truncate(0);
  return fetchIntoFile(ctx, fetched.partsNeeded, file, path, id);
}
