import pLimit from 'p-limit';
import { once } from 'node:events';
import { mkdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { headerText } from '../s3/requests.js';
import { combineCrc32s, compositeCrc32, contentProofOf, crc32Of, crc32OfFile, crc32ToBase64, md5Of, multipartEtag, newMd5, type ContentProof } from '../integrity/checksums.js';

import { childAbort, limitedRequest, retrying, settleAll, type TransferContext } from '../s3/context.js';
import { ContentMismatch, DatalakeError, describeError, failure } from '../errors.js';
import { backgroundHasher } from '../integrity/background-hasher.js';
import { headFromHeaders, headObject, missingAsFailure, type ObjectHead } from '../s3/objects.js';
import { TransientError, errorCodeOf } from '../s3/retry.js';
import { splitIntoParts } from './parts.js';
import { PART_BUFFERS_IN_FLIGHT } from '../config/config.js';
import { claimTemporaryDownloadPath, privateTemporaryPath, removeLeftoversOfGoneRuns } from './temporary-names.js';
import { createNewFile, openOwnFile, readRegularFile, removeOnExit, removeOwnName, replaceFile, writeNewFile } from './exclusive-files.js';
import { partSizesOf } from '../integrity/part-layout.js';

export interface DownloadedObject {
  bucket: string;
  key: string;
  size: number;
  etag: string | undefined;
  /** The CRC32 (base64, as S3 shows it) of the whole content, as received. */
  crc32: string;
  /** Hex MD5 of the whole content, as received, where the proof needed it. */
  md5?: string;
  /** Where it was written; `-` for standard output. */
  path: string;
  /**
   * What the bytes were checked against: the object's full-object CRC32, its stored MD5, its ETag
   * (plain or multipart), or nothing the object offers.
   */
  verifiedBy: 'crc32' | 'crc32-composite' | 'metadata-md5' | 'etag' | 'multipart-etag' | 'unverifiable';
}

/**
 * A piece of the object to fetch: a byte range, or one part by number (for a multipart ETag check),
 * of `partCount`, starting at `at` where that is already known.
 */
type Segment = { kind: 'range'; start: number; end: number } | { kind: 'part'; partNumber: number; partCount: number; at?: number };

/**
 * The server answered a GET with partNumber=N with something other than that part (moto sends the
 * whole object): nothing of it is written, and the object is fetched by byte ranges instead.
 */
class PartNumberIgnored extends DatalakeError {
  constructor(message: string) {
    super('failed', message);
    this.name = 'PartNumberIgnored';
  }
}

/** Every part by number: the answers tell where each lies and how long it is. */
function partSegments(partCount: number): Segment[] {
  return Array.from({ length: partCount }, (_, index) => ({ kind: 'part', partNumber: index + 1, partCount }));
}

/** Byte ranges of `chunk` bytes over the whole object. */
function rangeSegments(size: number, chunk: number): Segment[] {
  return splitIntoParts(size, chunk).map((part) => ({ kind: 'range', start: part.start, end: part.end }));
}

/**
 * For a server that ignores partNumber: byte ranges along the parts' real bounds where the server
 * tells their sizes (GetObjectAttributes, HEAD partNumber=N), so the multipart ETag is still
 * recomputed, part by part. Where it tells nothing, plain ranges, and the ETag cannot be checked.
 */
async function rangesAlongParts(ctx: TransferContext, head: ObjectHead, proof: PartProof): Promise<{ segments: Segment[]; proof: ContentProof }> {
  const sizes = await partSizesOf(ctx, { ref: head.ref, size: head.size, etag: head.etag ?? '', partCount: proof.partCount });
  if (!sizes) {
    return { segments: rangeSegments(head.size, ctx.partSize), proof: { kind: 'none', reason: 'the server ignores partNumber and does not tell the part sizes' } };
  }
  const segments: Segment[] = [];
  let start = 0;
  for (const size of sizes) {
    segments.push({ kind: 'range', start, end: start + size });
    start += size;
  }
  return { segments, proof };
}

/** The proofs recomputed part by part: the multipart ETag (part MD5s), the composite CRC32 (part CRC32s). */
type PartProof = Extract<ContentProof, { kind: 'multipart-etag' | 'composite-crc32' }>;

function isPartProof(proof: ContentProof): proof is PartProof {
  return proof.kind === 'multipart-etag' || proof.kind === 'composite-crc32';
}

/**
 * Download one object to a file. The bytes go to a temporary file beside the target, are checked
 * against the stored MD5 or the ETag, flushed, and only then renamed into place: the target path
 * never holds a partial or corrupt file. Large objects are fetched as parallel ranges.
 */
export async function downloadToFile(
  ctx: TransferContext,
  ref: ObjectRef,
  target: string,
  options: {
    sizeHint?: number;
    /** Runs just before the verified file is renamed into place (a destination's folders checked once more). */
    beforePlacing?: () => Promise<void>;
    /** Creates the temporary file through a path this hands `create`: the destination's folder proven first (DestinationGuard.within). */
    creatingBeside?: CreatingBeside;
  } = {},
): Promise<DownloadedObject> {
  const id = ctx.events.newTransferId();
  let announced = false;
  const beforePlacing = options.beforePlacing ?? (async () => undefined);
  const creatingBeside: CreatingBeside = options.creatingBeside ?? ((path, create) => create(path));
  if (options.sizeHint !== undefined && options.sizeHint <= IN_MEMORY_DOWNLOAD_MAX) {
    const downloaded = await downloadInMemory(ctx, ref, target, id, options.sizeHint, beforePlacing, creatingBeside);
    if (downloaded) return downloaded;
    // Not what the listing promised: HEAD it and take the general path.
    announced = true;
    options = { beforePlacing };
  }
  try {
    // A small object (size known from a listing) is fetched in one GET, whose headers tell all HEAD would.
    const small = options.sizeHint !== undefined && options.sizeHint <= ctx.partSize;
    const head = small ? undefined : await headObject(ctx, ref);
    if (!announced) ctx.events.emit('transfer:start', { id, direction: 'download', ref, path: target, size: head?.size ?? options.sizeHint });
    await ensureDirectory(dirname(target));
    warnOfLeftovers(ctx, ref, await removeLeftoversOfGoneRuns(target));
    // A fixed name beside the target, so that a run killed half-way is found again (and a ranged
    // download resumed), unless another live run holds it.
    const claim = await claimTemporaryDownloadPath(target);
    const temporary = claim.path;
    // Removed as the process exits, until it holds ranges a later run resumes.
    const forgetTemporary = removeOnExit(temporary);
    try {
      const progress = new RangeProgress(`${temporary}.json`, forgetTemporary);
      const resuming = claim.fixed && head ? await progress.load(head, ctx.partSize) : false;
      const { file, resumed } = await creatingBeside(temporary, (reachable) => openTemporaryFile(reachable, resuming));
      if (resuming && !resumed) await progress.reset();
      let outcome: 'renamed' | 'keep' | 'discard' = 'discard';
      try {
        let downloaded: Omit<DownloadedObject, 'path'>;
        for (let attempt = 1; ; attempt += 1) {
          try {
            downloaded = head ? await fetchIntoFile(ctx, head, file, temporary, id, progress) : await fetchWholeIntoFile(ctx, ref, file, temporary, id);
            break;
          } catch (error) {
            // Bytes damaged on the way: one fresh download before giving up.
            if (!(error instanceof ContentMismatch) || attempt >= 2) throw error;
            ctx.events.emit('warning', { message: `${error.message}; downloading it once more`, ref });
            ctx.events.emit('transfer:progress', { id, bytes: -(head?.size ?? 0) });
            await progress.reset();
            await file.truncate(0);
          }
        }
        // Large files are flushed to disk before the rename. Small ones are not: an fsync each costs
        // seconds per thousand files, and the rename already keeps a crashed process from leaving a
        // partial file at the target (none of aws, s5cmd or rclone fsync at all).
        if (downloaded.size > ctx.partSize) await file.datasync();
        await file.close();
        await beforePlacing();
        await rename(temporary, target);
        outcome = 'renamed';
        // The download is in place and proven: a record that cannot be removed is a warning, not a failure.
        await progress.discard().catch((error: unknown) => ctx.events.emit('warning', { message: describeError(error), ref }));
        const result = { ...downloaded, path: target };
        ctx.events.emit('transfer:done', { id, ref, path: target, size: downloaded.size, result });
        return result;
      } catch (error) {
        // Interrupted, or out of retries mid-way: keep what arrived for the next run to resume. A proof
        // that failed, a changed object, or a disk that takes no more (the space is given back) leaves nothing.
        const code = errorCodeOf(error) ?? '';
        const resumeLater = claim.fixed && progress.hasRanges() && !(error instanceof ContentMismatch) && code !== 'PreconditionFailed' && !LOCAL_WRITE_FAILURES.has(code);
        outcome = resumeLater ? 'keep' : 'discard';
        throw error;
      } finally {
        if (outcome !== 'renamed') {
          await file.close().catch(() => undefined);
          if (outcome === 'discard') {
            // The reason the download failed is what is reported, not what could not be cleared after it.
            await removeOwnName(temporary).catch(() => undefined);
            await progress.discard().catch(() => undefined);
          }
        }
      }
    } finally {
      forgetTemporary();
      await claim.release();
    }
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref, path: target, error });
    throw error;
  }
}

/** Runs `create` with a path to `path` that a folder swapped for a link cannot redirect (or `path` itself). */
type CreatingBeside = <T>(path: string, create: (reachable: string) => Promise<T>) => Promise<T>;

/** Leftovers of gone runs that could not be removed (a folder planted at such a name): one line each. */
function warnOfLeftovers(ctx: TransferContext, ref: ObjectRef, stuck: string[]): void {
  for (const message of stuck) ctx.events.emit('warning', { message, ref });
}

/** A file system that takes no more: what a download had written is removed, not kept to resume. */
const LOCAL_WRITE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO']);

/**
 * Opens a download's temporary file so that nothing planted at its name is written through: a file
 * to resume must be a regular file of our own; anything else there is removed (the name is ours: we
 * hold its lock, or it carries our pid) and a new file is created exclusively, never through a link.
 */
async function openTemporaryFile(path: string, resume: boolean): Promise<{ file: FileHandle; resumed: boolean }> {
  if (resume) {
    const file = await openOwnFile(path);
    if (file) return { file, resumed: true };
  }
  await removeOwnName(path);
  return { file: await createNewFile(path), resumed: false };
}

/**
 * Objects up to this size are received into memory, proven, and only then written to disk. At the
 * default concurrency that is at most 32 MiB in flight.
 */
const IN_MEMORY_DOWNLOAD_MAX = 1024 * 1024;

/**
 * A small object (the size known from a listing): one GET into memory, checked against its MD5, then
 * written to a temporary file of its own and renamed into place. Nothing reaches the disk unless it
 * verified. Returns undefined when the object turns out to need the general path (larger
 * than the listing said, or a multipart ETag to prove part by part).
 */
async function downloadInMemory(
  ctx: TransferContext,
  ref: ObjectRef,
  target: string,
  id: number,
  size: number,
  beforePlacing: () => Promise<void>,
  creatingBeside: CreatingBeside,
): Promise<DownloadedObject | undefined> {
  ctx.events.emit('transfer:start', { id, direction: 'download', ref, path: target, size });
  try {
    await ensureDirectory(dirname(target));
    warnOfLeftovers(ctx, ref, await removeLeftoversOfGoneRuns(target));
    for (let attempt = 1; ; attempt += 1) {
      const fetched = await limitedRequest(ctx, `GET ${ref.key}`, async () => {
        // Read whole, without a stream: a body over the limit (the object grew since it was listed)
        // is cut there and read to its end, and the general path takes over.
        const response = await ctx.direct.getWholeObject(ref, IN_MEMORY_DOWNLOAD_MAX, ctx.signal).catch(missingAsFailure(ref));
        const head = headFromHeaders(ref, response.headers);
        const proof = contentProofOf(head);
        if (head.size > IN_MEMORY_DOWNLOAD_MAX || isPartProof(proof)) return undefined;
        if (response.body.length !== head.size) throw bodyEndedEarly(ref, response.body.length, head.size);
        ctx.events.emit('transfer:progress', { id, bytes: head.size });
        return { head, proof, content: response.body };
      });
      if (!fetched) return undefined;
      const { head, proof, content } = fetched;
      const received: ReceivedHashes = { crc32: crc32Of(content), md5: proof.kind === 'md5' ? md5Of(content).toString('hex') : undefined, partMd5s: [] };
      let verifiedBy: DownloadedObject['verifiedBy'];
      try {
        verifiedBy = checkProof(head, proof, received);
      } catch (error) {
        // Bytes damaged on the way: one fresh download before giving up.
        if (!(error instanceof ContentMismatch) || attempt >= 2) throw error;
        ctx.events.emit('warning', { message: `${error.message}; downloading it once more`, ref });
        ctx.events.emit('transfer:progress', { id, bytes: -head.size });
        continue;
      }
      // Written on the thread pool, not here: creating a file can cost the kernel a millisecond (ext4
      // steps over inodes freed moments ago, as after a cleanup), time the next requests go on in.
      const temporary = privateTemporaryPath(target);
      const forgetTemporary = removeOnExit(temporary);
      try {
        await creatingBeside(temporary, (reachable) =>
          writeNewFile(reachable, content).catch(async (error: NodeJS.ErrnoException) => {
            // Our pid's name already there: left by a process that had this pid before.
            if (error.code !== 'EEXIST') throw error;
            await rm(reachable, { force: true });
            await writeNewFile(reachable, content);
          }),
        );
        await beforePlacing();
        await rename(temporary, target);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      } finally {
        forgetTemporary();
      }
      const result = { bucket: ref.bucket, key: ref.key, size: head.size, etag: head.etag, ...hashFields(received), verifiedBy, path: target };
      ctx.events.emit('transfer:done', { id, ref, path: target, size: head.size, result });
      return result;
    }
  } catch (error) {
    ctx.events.emit('transfer:failed', { id, ref, path: target, error });
    throw error;
  }
}

/** Folders made (or found) during this run: a tree of thousands of files needs each made once. */
const madeDirectories = new Set<string>();

async function ensureDirectory(path: string): Promise<void> {
  if (madeDirectories.has(path)) return;
  await mkdir(path, { recursive: true }).catch((error: unknown) => {
    // A file where a folder of the path must be: said as such, not as mkdir's raw EEXIST/ENOTDIR.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw failure(`cannot write under ${path}: a part of that path is a file, not a directory`);
    throw error;
  });
  madeDirectories.add(path);
}

/**
 * Which ranges of a download are already in its temporary file, kept in a small JSON file beside it
 * and written after each range lands. It is trusted only for the same object (ETag and size) cut the
 * same way; the bytes themselves are proven again at the end like any others.
 */
class RangeProgress {
  private state: { etag: string; size: number; chunk: number; done: Array<LandedRange> } | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Whether a record may be on disk: a small object fetched in one GET never has one to remove. */
  private used = false;

  /** `resumable` is called once the first range is recorded: from then on the file is worth keeping. */
  constructor(
    private readonly path: string,
    private readonly resumable: () => void,
  ) {}

  async load(head: ObjectHead, chunk: number): Promise<boolean> {
    this.used = true;
    try {
      // Never through a link, never a pipe: a planted record is no record.
      const saved = JSON.parse((await readRegularFile(this.path))?.text ?? '') as typeof this.state;
      if (saved && saved.etag === head.etag && saved.size === head.size && saved.chunk === chunk && Array.isArray(saved.done)) {
        this.state = saved;
        return true;
      }
    } catch {
      // nothing to resume
    }
    this.state = { etag: head.etag ?? '', size: head.size, chunk, done: [] };
    return false;
  }

  done(): ReadonlyArray<LandedRange> {
    return this.state?.done ?? [];
  }

  /** Forgets recorded ranges other than `indexes` (those whose bytes were found changed). */
  keepOnly(indexes: ReadonlySet<number>): void {
    if (this.state) this.state.done = this.state.done.filter((range) => indexes.has(range.index));
  }

  hasRanges(): boolean {
    return (this.state?.done.length ?? 0) > 0;
  }

  record(range: LandedRange): Promise<void> {
    if (!this.state) return Promise.resolve();
    this.used = true;
    this.state.done.push(range);
    const text = JSON.stringify(this.state);
    // Written aside and renamed over, so a kill -9 mid-write leaves the previous record, never half of one.
    this.writing = this.writing
      .then(async () => {
        const forgetAside = removeOnExit(`${this.path}.new`);
        try {
          await replaceFile(this.path, `${this.path}.new`, text);
        } finally {
          forgetAside();
        }
        this.resumable();
      })
      .catch(() => undefined);
    return this.writing;
  }

  async reset(): Promise<void> {
    if (this.state) this.state.done = [];
    await this.discard();
  }

  async discard(): Promise<void> {
    // Each rm of a missing file is a failed lstat and a thrown error inside Node: for 5,000 small
    // files that was a fifth of the main thread's time.
    if (!this.used) return;
    await this.writing;
    await removeOwnName(this.path);
    await removeOwnName(`${this.path}.new`);
  }
}

/** A range of a download in its temporary file, and the CRC32 of its bytes as they landed. */
interface LandedRange {
  index: number;
  start: number;
  end: number;
  /** Absent in a record an earlier version wrote: the range is then read back to hash it. */
  crc32?: number;
}

/** What was computed of the bytes received: the CRC32 always, MD5s where the proof needs them. */
interface ReceivedHashes {
  crc32: number;
  md5: string | undefined;
  partMd5s: Buffer[];
  /** Each segment's CRC32, in order: the parts' when a composite CRC32 is to be recomputed. */
  partCrc32s?: number[];
}

function hashFields(received: ReceivedHashes): { crc32: string; md5?: string } {
  return { crc32: crc32ToBase64(received.crc32), ...(received.md5 !== undefined ? { md5: received.md5 } : {}) };
}

/** A whole-object GET on the direct path, its body as a stream, with what its headers tell; a missing object is a failure naming it. */
async function getObjectStream(ctx: TransferContext, ref: ObjectRef): Promise<{ head: ObjectHead; body: Readable }> {
  const response = await ctx.direct.getObject(ref, ctx.signal).catch(missingAsFailure(ref));
  return { head: headFromHeaders(ref, response.headers), body: response.body };
}

/** A body shorter than asked (the connection ended early): transient, fetched again. */
function bodyEndedEarly(ref: ObjectRef, at: number, expected: number): TransientError {
  return new TransientError(`${formatS3Url(ref)}: the body ended at byte ${at}, expected ${expected}`);
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
async function fetchWholeIntoFile(ctx: TransferContext, ref: ObjectRef, file: FileHandle, path: string, id: number): Promise<Omit<DownloadedObject, 'path'>> {
  const fetched = await limitedRequest(ctx, `GET ${ref.key}`, async (attempt): Promise<{ done: Omit<DownloadedObject, 'path'> } | { partsNeeded: ObjectHead }> => {
    if (attempt > 1) await file.truncate(0);
    const { head, body } = await getObjectStream(ctx, ref);
    const proof = contentProofOf(head);
    const hash = proof.kind === 'md5' ? newMd5() : undefined;
    let crc32 = 0;
    await receiveWholeBody(ctx, head, body, id, async (chunk, offset) => {
      await writeFully(file, chunk, offset);
      crc32 = crc32Of(chunk, crc32);
      hash?.update(chunk);
    });
    if (proof.kind === 'multipart-etag') {
      ctx.events.emit('transfer:progress', { id, bytes: -head.size });
      return { partsNeeded: head };
    }
    const received: ReceivedHashes = { crc32, md5: hash?.digest('hex'), partMd5s: [] };
    return { done: { bucket: ref.bucket, key: ref.key, size: head.size, etag: head.etag, ...hashFields(received), verifiedBy: checkProof(head, proof, received) } };
  });
  if ('done' in fetched) return fetched.done;
  // A multipart ETag with no stored MD5 (another tool's upload): fetch it part by part to check it.
  await file.truncate(0);
  return fetchIntoFile(ctx, fetched.partsNeeded, file, path, id);
}

/**
 * A large object into the file: a multipart ETag to prove is fetched part by part (each answer says
 * where its part lies); anything else in ranges. A server that ignores partNumber gets ranges.
 */
async function fetchIntoFile(
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
  // Each range's CRC32 is computed here as its bytes arrive (zlib's, a few GiB/s), and the ranges'
  // CRC32s combined at the end. Where the proof is an MD5, it runs on the hashing thread, reading the
  // file back in order as ranges land, while this thread keeps the sockets moving; per-range MD5s
  // only when a multipart ETag must be recomputed.
  const hashing = proof.kind === 'crc32' || proof.kind === 'composite-crc32' ? undefined : backgroundHasher.track(path, proof.kind === 'multipart-etag');
  const flusher = new EarlyFlusher(file);
  const resumed = new Set<number>();
  // Where each segment turned out to lie (parts must follow one another from the first byte to the
  // last), and the CRC32 of its bytes.
  const landed: LandedRange[] = [];
  // A recorded range is reused only if its bytes are still in the file: each is read back and
  // CRC32'd (a few GiB/s), and one whose CRC32 differs from its record (the file changed, emptied or
  // cut short since) is fetched again. A record without a CRC32 is proven by the end check alone.
  for (const range of progress?.done() ?? []) {
    if (range.index >= segments.length) continue;
    const onDisk = await crc32OfFile(path, range);
    if (range.crc32 !== undefined && range.crc32 !== onDisk) continue;
    resumed.add(range.index);
    landed[range.index] = { ...range, crc32: onDisk };
    hashing?.written(range.start, range.end);
    ctx.events.emit('transfer:progress', { id, bytes: range.end - range.start });
  }
  progress?.keepOnly(resumed);
  const abort = childAbort(ctx.signal);
  const describe = (segment: Segment) => (segment.kind === 'part' ? `part ${segment.partNumber}` : `bytes ${segment.start}-${segment.end - 1}`);

  // As for uploads: a large object keeps at most `concurrency` ranges in the shared queue at once.
  const objectWindow = pLimit(Math.min(ctx.limiter.concurrency, PART_BUFFERS_IN_FLIGHT));
  try {
    await settleAll(
      ctx,
      segments.map((segment, index) =>
        resumed.has(index)
          ? Promise.resolve()
          : objectWindow(() =>
              limitedRequest(
                ctx,
                `GET ${head.ref.key} ${describe(segment)}`,
                async () => {
                  const writer = new BatchedWriter(file);
                  let received = 0;
                  let crc32 = 0;
                  try {
                    const fetched = await fetchSegment(ctx, head, segment, abort.signal, async (offset, chunk) => {
                      crc32 = crc32Of(chunk, crc32);
                      await writer.write(offset, chunk);
                      received += chunk.length;
                      ctx.events.emit('transfer:progress', { id, bytes: chunk.length });
                    });
                    await writer.flush();
                    const range = { index, ...fetched, crc32 };
                    landed[index] = range;
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

/**
 * Starts flushing a large download to disk while it is still arriving, a few hundred MiB at a time,
 * so that the flush before the rename finds little left to write instead of the whole file.
 */
class EarlyFlusher {
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly file: FileHandle) {}

  written(bytes: number): void {
    this.unflushed += bytes;
    if (this.flushing || this.unflushed < EARLY_FLUSH_BYTES) return;
    this.unflushed = 0;
    this.flushing = this.file.datasync().then(
      () => {
        this.flushing = undefined;
      },
      (error: unknown) => {
        this.failure = error;
        this.flushing = undefined;
      },
    );
  }

  /** Once no flush is running; a flush that failed fails the download. */
  async settled(): Promise<void> {
    await this.flushing;
    if (this.failure) throw this.failure;
  }
}

const EARLY_FLUSH_BYTES = 256 * 1024 * 1024;

/**
 * Gathers a range's socket chunks (tens of KiB each) into writes of about a MiB, written with writev
 * at their offset: far fewer system calls, and no copying.
 */
class BatchedWriter {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private position = 0;

  constructor(private readonly file: FileHandle) {}

  async write(offset: number, chunk: Buffer): Promise<void> {
    if (this.bytes === 0) this.position = offset;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= 1 << 20) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const [chunks, bytes, position] = [this.chunks, this.bytes, this.position];
    this.chunks = [];
    this.bytes = 0;
    const { bytesWritten } = await this.file.writev(chunks, position);
    if (bytesWritten < bytes) await writeFully(this.file, Buffer.concat(chunks).subarray(bytesWritten), position + bytesWritten);
  }
}

/**
 * Compares what arrived with what the object promises; a mismatch is a failure naming the object and
 * saying what became of the bytes (`outcome`: nothing written to a file, or already on standard output).
 */
function checkProof(
  head: ObjectHead,
  proof: ContentProof,
  received: ReceivedHashes,
  outcome: { said: string; hint: string } = { said: 'nothing was written', hint: 'run the download again' },
): DownloadedObject['verifiedBy'] {
  const mismatch = (what: string) => new ContentMismatch(`${formatS3Url(head.ref)} did not verify: ${what}; ${outcome.said}`, outcome.hint);
  if (proof.kind === 'crc32') {
    const crc32 = crc32ToBase64(received.crc32);
    if (crc32 !== proof.crc32) throw mismatch(`received CRC32 ${crc32}, expected ${proof.crc32} (the object's full-object CRC32)`);
    return 'crc32';
  }
  if (proof.kind === 'composite-crc32') {
    const computed = compositeCrc32(received.partCrc32s ?? []);
    if (computed !== proof.crc32) throw mismatch(`received parts give composite CRC32 ${computed}, expected ${proof.crc32}`);
    return 'crc32-composite';
  }
  if (proof.kind === 'md5') {
    if (received.md5 !== proof.md5) throw mismatch(`received MD5 ${received.md5 ?? '(none)'}, expected ${proof.md5}`);
    return proof.source === 'metadata' ? 'metadata-md5' : 'etag';
  }
  if (proof.kind === 'multipart-etag') {
    const computed = multipartEtag(received.partMd5s);
    if (computed !== proof.etag) throw mismatch(`received parts give ETag ${computed}, expected ${proof.etag}`);
    return 'multipart-etag';
  }
  return 'unverifiable';
}

/**
 * Streams one segment to `sink`, checking it is exactly as long as asked. The response must still be
 * the object HEAD saw (If-Match on its ETag): a changed object fails instead of mixing two versions.
 * The answer must say it is the piece asked for before any byte of it is handed on: a range at its
 * offsets, a part with a Content-Range that can be that part. A body not read is closed at once.
 */
async function fetchSegment(
  ctx: TransferContext,
  head: ObjectHead,
  segment: Segment,
  signal: AbortSignal,
  sink: (offset: number, chunk: Buffer) => Promise<void>,
  resumeFrom = 0,
): Promise<{ start: number; end: number }> {
  const response = await ctx.direct.getObject(head.ref, signal, {
    ...(head.etag ? { ifMatch: head.etag } : {}),
    ...(segment.kind === 'part' ? { partNumber: segment.partNumber } : { range: `bytes=${segment.start + resumeFrom}-${segment.end - 1}` }),
  });
  try {
    const { start, end } = segmentBounds(head, segment, response.status, headerText(response.headers, 'content-range'), Number(headerText(response.headers, 'content-length')), resumeFrom);
    let offset = start + (segment.kind === 'part' ? 0 : resumeFrom);
    const expectedEnd = end;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      if (offset + chunk.length > expectedEnd) throw new TransientError(`${formatS3Url(head.ref)}: the server sent more bytes than asked`);
      await sink(offset, chunk);
      offset += chunk.length;
    }
    if (offset !== expectedEnd) throw bodyEndedEarly(head.ref, offset, expectedEnd);
    return { start, end };
  } finally {
    // Read to its end, or left: either way nobody reads it any more.
    response.body.destroy();
  }
}

/**
 * Where the answer's bytes belong, from its status and Content-Range, or an error before any byte is
 * written. A range must come back as asked (206 with that Content-Range; 200 only when the whole
 * object was asked). A part must come back with a Content-Range inside this object, the first at 0,
 * the last at the end, at `at` where that is known; a whole object for one of several parts, or a
 * range that cannot be that part, means the server ignores partNumber.
 */
function segmentBounds(
  head: ObjectHead,
  segment: Segment,
  status: number,
  contentRange: string | undefined,
  contentLength: number,
  resumeFrom: number,
): { start: number; end: number } {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
  const range = match ? { start: Number(match[1]), end: Number(match[2]) + 1, total: match[3] === '*' ? undefined : Number(match[3]) } : undefined;
  const whole = status === 200 && !range && contentLength === head.size;
  if (segment.kind === 'range') {
    const from = segment.start + resumeFrom;
    if (range ? range.start === from && range.end === segment.end && (range.total ?? head.size) === head.size : whole && from === 0 && segment.end === head.size) {
      return { start: segment.start, end: segment.end };
    }
    // Nothing written yet: an answer damaged on the way (a flipped Content-Range) is asked for again.
    throw new TransientError(`${formatS3Url(head.ref)}: the server did not answer with the bytes ${from}-${segment.end - 1} asked for (${contentRange ? `Content-Range ${contentRange}` : `HTTP ${status}`})`);
  }
  const { partNumber, partCount } = segment;
  if (partCount === 1 && (whole || (range && range.start === 0 && range.end === head.size))) return { start: 0, end: head.size };
  const last = partNumber === partCount;
  const plausible =
    range !== undefined &&
    (range.total ?? head.size) === head.size &&
    range.start < range.end &&
    range.end <= head.size &&
    range.end - range.start === contentLength &&
    (partNumber === 1 ? range.start === 0 : range.start > 0) &&
    (last ? range.end === head.size : range.end < head.size) &&
    (segment.at === undefined || range.start === segment.at);
  if (plausible) return { start: range.start, end: range.end };
  throw new PartNumberIgnored(`${formatS3Url(head.ref)}: the server did not answer with part ${partNumber} (${contentRange ? `Content-Range ${contentRange}` : `HTTP ${status}`})`);
}

async function writeFully(file: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const { bytesWritten } = await file.write(chunk, written, chunk.length - written, position + written);
    written += bytesWritten;
  }
}

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
      streamed = await streamSegments(ctx, head, segments, out, id, (bytes) => (position += bytes), proof.kind !== 'crc32' && proof.kind !== 'composite-crc32');
    } catch (error) {
      if (!(error instanceof PartNumberIgnored) || !isPartProof(proof)) throw error;
      if (position > 0) throw failure(`${formatS3Url(ref)}: the server stopped answering part by part after ${position} bytes had been written to standard output`);
      ({ segments, proof } = await rangesAlongParts(ctx, head, proof));
      streamed = await streamSegments(ctx, head, segments, out, id, () => undefined, proof.kind === 'multipart-etag');
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

/** The segments one after another to `out`, CRC32'd as a whole and, when asked, MD5'd each on its own and all together. */
async function streamSegments(
  ctx: TransferContext,
  head: ObjectHead,
  segments: Segment[],
  out: Writable,
  id: number,
  onWritten: (bytes: number) => void,
  withMd5: boolean,
): Promise<ReceivedHashes> {
  const whole = withMd5 ? newMd5() : undefined;
  const partMd5s: Buffer[] = [];
  const partCrc32s: number[] = [];
  let crc32 = 0;
  let position = 0;
  for (const planned of segments) {
    // A part must begin where the one before it ended.
    const segment: Segment = planned.kind === 'part' ? { ...planned, at: position } : planned;
    const partHash = withMd5 ? newMd5() : undefined;
    let partCrc32 = 0;
    let delivered = 0;
    await ctx.limiter.run(() =>
      retrying(ctx, `GET ${head.ref.key}`, async () => {
        if (segment.kind === 'part' && delivered > 0) {
          throw failure(`${formatS3Url(head.ref)}: part ${segment.partNumber} broke off after ${delivered} bytes had been written to standard output`);
        }
        await fetchSegment(
          ctx,
          head,
          segment,
          ctx.signal ?? new AbortController().signal,
          async (_offset, chunk) => {
            crc32 = crc32Of(chunk, crc32);
            partCrc32 = crc32Of(chunk, partCrc32);
            whole?.update(chunk);
            partHash?.update(chunk);
            delivered += chunk.length;
            onWritten(chunk.length);
            ctx.events.emit('transfer:progress', { id, bytes: chunk.length });
            if (!out.write(chunk)) await once(out, 'drain');
          },
          delivered,
        );
      }),
    );
    position += delivered;
    if (partHash) partMd5s.push(partHash.digest());
    partCrc32s.push(partCrc32);
  }
  return { crc32, md5: whole?.digest('hex'), partMd5s, partCrc32s };
}
