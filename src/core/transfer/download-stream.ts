/**
 * Download one object to a stream (standard output, or nothing for `verify`), in order, one piece
 * after another; the content is checked at the end, and what cannot be taken back is said so.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { newMd5 } from '../integrity/checksums.js';
import { contentProofOf, isCrcProof, type ContentProof } from '../integrity/content-proof.js';
import { dataRequest, type TransferContext } from '../s3/context.js';
import { failure } from '../errors.js';
import { headObject, type ObjectHead } from '../s3/objects.js';
import { checkProof, hashFields, isPartProof, ReceivedCrcs, type DownloadedObject, type ReceivedHashes } from './download-proof.js';
import { PartNumberIgnored, fetchSegment, partSegments, rangesAlongParts, type Segment } from './download-segments.js';

/**
 * Download one object to a stream (standard output), in order. A request that breaks mid-way resumes
 * from the last byte written. The content is checked at the end; a mismatch fails the command.
 */
export async function downloadToStream(
  ctx: TransferContext,
  ref: ObjectRef,
  out: Writable,
  /** `verify` reads into nothing: its mismatch is about the object, not about bytes someone received. */
  options: { discarded?: boolean } = {},
): Promise<DownloadedObject> {
  const id = ctx.events.newTransferId();
  try {
    const head = await headObject(ctx, ref);
    ctx.events.emit('transfer:start', { id, direction: 'download', ref, path: '-', size: head.size });
    let proof = contentProofOf(head);
    let segments: Segment[] = isPartProof(proof) ? partSegments(proof.partCount) : head.size === 0 ? [] : [{ kind: 'range', start: 0, end: head.size }];
    let streamed: ReceivedHashes;
    let position = 0;
    try {
      streamed = await streamSegments(ctx, head, segments, out, id, (bytes) => (position += bytes), proof);
    } catch (error) {
      if (!(error instanceof PartNumberIgnored) || !isPartProof(proof)) throw error;
      if (position > 0) throw failure(`${formatS3Url(ref)}: the server stopped answering part by part after ${position} bytes had been written to standard output`);
      ({ segments, proof } = await rangesAlongParts(ctx, head, proof));
      streamed = await streamSegments(ctx, head, segments, out, id, () => undefined, proof);
    }
    // Standard output cannot be taken back: the bytes are already there, and the failure says so.
    const verifiedBy = checkProof(
      head,
      proof,
      streamed,
      options.discarded
        ? { said: "the object's bytes do not match its own checksum", hint: 'it is damaged on the server, or was changed while it was read: read it again, or upload it again' }
        : { said: `the ${head.size} bytes already written to standard output are not the object's content`, hint: 'discard what was received and run the download again' },
    );
    const result = { bucket: ref.bucket, key: ref.key, size: head.size, etag: head.etag, ...hashFields(streamed), path: '-', verifiedBy } satisfies DownloadedObject;
    ctx.events.emit('transfer:done', { id, ref, path: '-', size: head.size, result });
    return result;
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref, path: '-', error });
    throw error;
  }
}

/**
 * The segments one after another to `out`, CRC'd as a whole and each on its own (CRC32, and CRC32C
 * for a CRC32C proof), and MD5'd each on its own and all together where the proof is an MD5 or ETag.
 */
async function streamSegments(
  ctx: TransferContext,
  head: ObjectHead,
  segments: Segment[],
  out: Writable,
  id: number,
  onWritten: (bytes: number) => void,
  proof: ContentProof,
): Promise<ReceivedHashes> {
  const withMd5 = !isCrcProof(proof);
  const whole = withMd5 ? newMd5() : undefined;
  const partMd5s: Buffer[] = [];
  const partCrc32s: number[] = [];
  const partCrc32cs: number[] = [];
  const crcs = ReceivedCrcs.for(proof);
  let position = 0;
  for (const planned of segments) {
    // A part must begin where the one before it ended.
    const segment: Segment = planned.kind === 'part' ? { ...planned, at: position } : planned;
    const partHash = withMd5 ? newMd5() : undefined;
    const partCrcs = ReceivedCrcs.for(proof);
    let delivered = 0;
    await dataRequest(ctx, `GET ${head.ref.key}`, async () => {
      if (segment.kind === 'part' && delivered > 0) {
        throw failure(`${formatS3Url(head.ref)}: part ${segment.partNumber} broke off after ${delivered} bytes had been written to standard output`);
      }
      await fetchSegment(
        ctx,
        head,
        segment,
        ctx.signal ?? new AbortController().signal,
        async (_offset, chunk) => {
          crcs.update(chunk);
          partCrcs.update(chunk);
          whole?.update(chunk);
          partHash?.update(chunk);
          delivered += chunk.length;
          onWritten(chunk.length);
          ctx.events.emit('transfer:progress', { id, bytes: chunk.length });
          if (!out.write(chunk)) await once(out, 'drain');
        },
        delivered,
      );
    });
    position += delivered;
    if (partHash) partMd5s.push(partHash.digest());
    partCrc32s.push(partCrcs.crc32);
    if (partCrcs.crc32c !== undefined) partCrc32cs.push(partCrcs.crc32c);
  }
  return { crc32: crcs.crc32, crc32c: crcs.crc32c, md5: whole?.digest('hex'), partMd5s, partCrc32s, partCrc32cs };
}
