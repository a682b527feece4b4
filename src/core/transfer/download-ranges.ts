/**
 * A large object into its temporary file as parallel ranged GETs (or parts by number, where a
 * multipart ETag or composite CRC32 must be recomputed part by part), at most a window of them per
 * object in the shared limiter; ranges recorded by range-progress.ts are reused once their bytes are
 * proven still there. Falls back to ranges when the server ignores partNumber.
 */
import type { FileHandle } from 'node:fs/promises';
import { formatS3Url } from '../config/address.js';
import { combineCrc32cs, combineCrc32s, crcsOfFile } from '../integrity/checksums.js';
import { contentProofOf, isCrcProof, needsCrc32c, type ContentProof } from '../integrity/content-proof.js';
import { childAbort, dataRequest, settleAll, type TransferContext } from '../s3/context.js';
import { backgroundHasher } from '../integrity/background-hasher.js';
import type { ObjectHead } from '../s3/objects.js';
import { checkProof, hashFields, isPartProof, ReceivedCrcs, type DownloadedObject, type ReceivedHashes } from './download-proof.js';
import { PartNumberIgnored, fetchSegment, partSegments, rangeSegments, rangesAlongParts, type Segment } from './download-segments.js';
import { RangeProgress, type LandedRange } from './range-progress.js';
import { BatchedWriter, EarlyFlusher } from './download-writes.js';

/**
 * A large object into the file: a multipart ETag to prove is fetched part by part (each answer says
 * where its part lies); anything else in ranges. A server that ignores partNumber gets ranges.
 */
export async function fetchIntoFile(
  ctx: TransferContext,
  head: ObjectHead,
  file: FileHandle,
  path: string,
  id: number,
  progress?: RangeProgress,
): Promise<Omit<DownloadedObject, 'path'>> {
  const proof = contentProofOf(head);
  if (!isPartProof(proof)) return fetchSegmentsIntoFile(ctx, head, proof, rangeSegments(head.size, ctx.partSize), file, path, id, progress);
  try {
    return await fetchSegmentsIntoFile(ctx, head, proof, partSegments(proof.partCount), file, path, id, progress);
  } catch (error) {
    if (!(error instanceof PartNumberIgnored)) throw error;
  }
  // Nothing fetched so far is kept: what the server sent for the parts is not trusted to be them.
  await progress?.reset();
  await file.truncate(0);
  const fallback = await rangesAlongParts(ctx, head, proof);
  // Plain ranges are not the parts a resumed run would fetch first: not recorded.
  return fetchSegmentsIntoFile(ctx, head, fallback.proof, fallback.segments, file, path, id, fallback.proof.kind === 'none' ? undefined : progress);
}

async function fetchSegmentsIntoFile(
  ctx: TransferContext,
  head: ObjectHead,
  proof: ContentProof,
  segments: Segment[],
  file: FileHandle,
  path: string,
  id: number,
  progress?: RangeProgress,
): Promise<Omit<DownloadedObject, 'path'>> {
  // Each range's CRC32 (and CRC32C, for a CRC32C proof) is computed here as its bytes arrive (native
  // code, cheap enough for this thread), and the ranges' CRCs combined at the end. Where the proof is
  // an MD5, it runs on the hashing thread, reading the file back in order as ranges land, while this
  // thread keeps the sockets moving; per-range MD5s only when a multipart ETag must be recomputed.
  const hashing = isCrcProof(proof) ? undefined : backgroundHasher.track(path, proof.kind === 'multipart-etag');
  const withCrc32c = needsCrc32c(proof);
  const flusher = new EarlyFlusher(file);
  const resumed = new Set<number>();
  // Where each segment turned out to lie (parts must follow one another from the first byte to the
  // last), and the CRC32 of its bytes.
  const landed: LandedRange[] = [];
  // A recorded range is reused only if its bytes are still in the file: each is read back and
  // CRC32'd (far cheaper than fetching it again), and one whose CRC32 differs from its record (the file changed, emptied or
  // cut short since) is fetched again. A record without a CRC32 is proven by the end check alone.
  for (const range of progress?.done() ?? []) {
    if (range.index >= segments.length) continue;
    const onDisk = await crcsOfFile(path, range, withCrc32c);
    if (range.crc32 !== undefined && range.crc32 !== onDisk.crc32) continue;
    resumed.add(range.index);
    landed[range.index] = { index: range.index, start: range.start, end: range.end, ...onDisk };
    hashing?.written(range.start, range.end);
    ctx.events.emit('transfer:progress', { id, bytes: range.end - range.start });
  }
  progress?.keepOnly(resumed);
  const abort = childAbort(ctx.signal);
  const describe = (segment: Segment) => (segment.kind === 'part' ? `part ${segment.partNumber}` : `bytes ${segment.start}-${segment.end - 1}`);

  // As for uploads: a few ranges of this object at once (limiter.ts's part window), each in a data slot.
  const window = ctx.limiter.partWindow();
  try {
    await settleAll(
      ctx,
      segments.map((segment, index) =>
        resumed.has(index)
          ? Promise.resolve()
          : window.run(() =>
              dataRequest(
                ctx,
                `GET ${head.ref.key} ${describe(segment)}`,
                async () => {
                  const writer = new BatchedWriter(file);
                  let received = 0;
                  const crcs = new ReceivedCrcs(withCrc32c);
                  try {
                    const fetched = await fetchSegment(ctx, head, segment, abort.signal, async (offset, chunk) => {
                      crcs.update(chunk);
                      await writer.write(offset, chunk);
                      received += chunk.length;
                      ctx.events.emit('transfer:progress', { id, bytes: chunk.length });
                    });
                    await writer.flush();
                    const range = { index, ...fetched, crc32: crcs.crc32 };
                    landed[index] = { ...range, crc32c: crcs.crc32c };
                    hashing?.written(fetched.start, fetched.end);
                    flusher.written(fetched.end - fetched.start);
                    // On disk before its record: a power loss never leaves a record of bytes not written.
                    if (progress) await file.datasync();
                    await progress?.record(range);
                  } catch (error) {
                    if (received > 0) ctx.events.emit('transfer:progress', { id, bytes: -received });
                    throw error;
                  }
                },
                abort.signal,
              ),
            ).catch((error: unknown) => {
              abort.abort(error);
              throw error;
            }),
      ),
    );
    if (!coversObject(landed, head.size)) throw new PartNumberIgnored(`${formatS3Url(head.ref)}: the parts the server sent do not follow one another`);
  } catch (error) {
    hashing?.drop();
    if (error instanceof PartNumberIgnored) ctx.events.emit('transfer:progress', { id, bytes: -landed.reduce((sum, range) => sum + (range ? range.end - range.start : 0), 0) });
    throw error;
  }
  const [md5s] = await Promise.all([hashing?.finish(head.size), flusher.settled()]);
  const received: ReceivedHashes = {
    crc32: combineCrc32s(landed.map((range) => ({ crc32: range.crc32!, size: range.end - range.start }))),
    md5: md5s?.md5,
    partMd5s: md5s?.rangeMd5s ?? [],
    partCrc32s: landed.map((range) => range.crc32!),
    ...(withCrc32c
      ? {
          crc32c: combineCrc32cs(landed.map((range) => ({ crc32c: range.crc32c!, size: range.end - range.start }))),
          partCrc32cs: landed.map((range) => range.crc32c!),
        }
      : {}),
  };
  const verifiedBy = checkProof(head, proof, received);
  return { bucket: head.ref.bucket, key: head.ref.key, size: head.size, etag: head.etag, ...hashFields(received), verifiedBy };
}

/** Whether the ranges, in order, cover [0, size) end to end. */
function coversObject(ranges: ReadonlyArray<{ start: number; end: number } | undefined>, size: number): boolean {
  let position = 0;
  for (const range of ranges) {
    if (!range || range.start !== position) return false;
    position = range.end;
  }
  return position === size;
}
