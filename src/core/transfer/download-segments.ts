/**
 * One GET of a piece of an object (a byte range, or a part by number) and where its bytes belong:
 * the answer is checked to be the piece asked for before any byte is handed on. Also the plans of
 * pieces (ranges, parts, ranges along the parts' real bounds) shared by file and stream downloads.
 */
import { formatS3Url, type ObjectRef } from '../config/address.js';
import { headerText } from '../s3/requests.js';
import type { ContentProof } from '../integrity/content-proof.js';
import type { TransferContext } from '../s3/context.js';
import { DatalakeError } from '../errors.js';
import type { ObjectHead } from '../s3/objects.js';
import { TransientError } from '../s3/retry.js';
import { splitIntoParts } from './parts.js';
import { partSizesOf } from './part-layout.js';
import type { PartProof } from './download-proof.js';

/**
 * A piece of the object to fetch: a byte range, or one part by number (for a multipart ETag check),
 * of `partCount`, starting at `at` where that is already known.
 */
export type Segment = { kind: 'range'; start: number; end: number } | { kind: 'part'; partNumber: number; partCount: number; at?: number };

/**
 * The server answered a GET with partNumber=N with something other than that part (moto sends the
 * whole object): nothing of it is written, and the object is fetched by byte ranges instead.
 */
export class PartNumberIgnored extends DatalakeError {
  constructor(message: string) {
    super('failed', message);
    this.name = 'PartNumberIgnored';
  }
}

/** Every part by number: the answers tell where each lies and how long it is. */
export function partSegments(partCount: number): Segment[] {
  return Array.from({ length: partCount }, (_, index) => ({ kind: 'part', partNumber: index + 1, partCount }));
}

/** Byte ranges of `chunk` bytes over the whole object. */
export function rangeSegments(size: number, chunk: number): Segment[] {
  return splitIntoParts(size, chunk).map((part) => ({ kind: 'range', start: part.start, end: part.end }));
}

/**
 * For a server that ignores partNumber: byte ranges along the parts' real bounds where the server
 * tells their sizes (GetObjectAttributes, HEAD partNumber=N), so the multipart ETag is still
 * recomputed, part by part. Where it tells nothing, plain ranges, and the ETag cannot be checked.
 */
export async function rangesAlongParts(ctx: TransferContext, head: ObjectHead, proof: PartProof): Promise<{ segments: Segment[]; proof: ContentProof }> {
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

/** A body shorter than asked (the connection ended early): transient, fetched again. */
export function bodyEndedEarly(ref: ObjectRef, at: number, expected: number): TransientError {
  return new TransientError(`${formatS3Url(ref)}: the body ended at byte ${at}, expected ${expected}`);
}

/**
 * Streams one segment to `sink`, checking it is exactly as long as asked. The response must still be
 * the object HEAD saw (If-Match on its ETag): a changed object fails instead of mixing two versions.
 * The answer must say it is the piece asked for before any byte of it is handed on: a range at its
 * offsets, a part with a Content-Range that can be that part. A body not read is closed at once.
 */
export async function fetchSegment(
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
