/**
 * A worker thread that hashes files, so that MD5 (the one CPU-heavy step of a verified transfer) runs
 * beside the network I/O instead of in front of it.
 *
 *  - `track`: a file being written by parallel ranges. Told which ranges are written, it reads them
 *    back in order (from the page cache) and computes the whole-content MD5 and, when asked, one MD5 per
 *    range (to recompute a multipart ETag).
 *  - `parts`: the MD5 and CRC32 of each part of a file, read once (a resumed upload proving the parts
 *    already on the server).
 *  - `memory`: the MD5 and CRC32 of a part about to be sent, read in place from shared memory, while
 *    the main thread keeps the other parts' sockets moving.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32Of } from './checksums.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';

type Request =
  | { id: number; op: 'track'; path: string; perRange: boolean }
  | { id: number; op: 'written'; start: number; end: number }
  | { id: number; op: 'finish'; size: number }
  | { id: number; op: 'drop' }
  | { id: number; op: 'parts'; path: string; size: number; partSize: number }
  | { id: number; op: 'memory'; memory: SharedArrayBuffer; offset: number; length: number };

interface Tracker {
  fd: number;
  perRange: boolean;
  cursor: number;
  whole: Hash;
  pending: Array<{ start: number; end: number }>;
  ranges: Array<{ start: number; end: number; md5: string }>;
}

const trackers = new Map<number, Tracker>();
const buffer = Buffer.allocUnsafe(4 << 20);

function advance(tracker: Tracker): void {
  tracker.pending.sort((a, b) => a.start - b.start);
  while (tracker.pending.length > 0 && tracker.pending[0]!.start === tracker.cursor) {
    const range = tracker.pending.shift()!;
    const rangeHash = tracker.perRange ? createHash('md5') : undefined;
    for (let offset = range.start; offset < range.end; ) {
      const read = readSync(tracker.fd, buffer, 0, Math.min(buffer.length, range.end - offset), offset);
      if (read === 0) throw new Error(`short read at ${offset}`);
      const bytes = buffer.subarray(0, read);
      tracker.whole.update(bytes);
      rangeHash?.update(bytes);
      offset += read;
    }
    tracker.cursor = range.end;
    if (rangeHash) tracker.ranges.push({ start: range.start, end: range.end, md5: rangeHash.digest('hex') });
  }
}

/**
 * Read buffers of `parts` requests, two per request, kept for the next: the requests at once are
 * bounded by the caller (the process's files hashed at once), so this holds no more than that many.
 */
const freeBufferPairs: Buffer[][] = [];

/**
 * The MD5 (hex) and CRC32 of each part, the file read once: 4 MiB chunks into two buffers of its own in turn, the next
 * read under way while this one is hashed (the tracker's buffer is left alone: both may run at once).
 */
async function partHashes(path: string, size: number, partSize: number): Promise<{ md5s: string[]; crc32s: number[] }> {
  const buffers = freeBufferPairs.pop() ?? [Buffer.allocUnsafeSlow(buffer.length), Buffer.allocUnsafeSlow(buffer.length)];
  const file = await open(path, 'r').catch((error: unknown) => {
    freeBufferPairs.push(buffers);
    throw error;
  });
  try {
    const parts: string[] = [];
    const crc32s: number[] = [];
    let crc = 0;
    let turn = 0;
    let position = 0;
    let partEnd = Math.min(partSize, size);
    let part = createHash('md5');
    // Reads never cross a part boundary, so each chunk belongs to one part.
    const readNext = () => file.read(buffers[turn]!, 0, Math.min(buffers[turn]!.length, partEnd - position), position);
    let reading = size > 0 ? readNext() : undefined;
    while (reading) {
      const { bytesRead, buffer: filled } = await reading;
      if (bytesRead === 0) throw new Error(`short read at ${position}`);
      position += bytesRead;
      const partDone = position === partEnd;
      const previousPart = part;
      if (partDone) {
        partEnd = Math.min(partEnd + partSize, size);
        part = createHash('md5');
      }
      turn = 1 - turn;
      reading = position < size ? readNext() : undefined;
      previousPart.update(filled.subarray(0, bytesRead));
      crc = crc32Of(filled.subarray(0, bytesRead), crc);
      if (partDone) {
        parts.push(previousPart.digest('hex'));
        crc32s.push(crc);
        crc = 0;
      }
    }
    return { md5s: parts, crc32s };
  } finally {
    await file.close();
    freeBufferPairs.push(buffers);
  }
}

parentPort!.on('message', (request: Request) => {
  try {
    switch (request.op) {
      case 'track':
        trackers.set(request.id, { fd: openSync(request.path, 'r'), perRange: request.perRange, cursor: 0, whole: createHash('md5'), pending: [], ranges: [] });
        break;
      case 'written': {
        const tracker = trackers.get(request.id)!;
        tracker.pending.push({ start: request.start, end: request.end });
        advance(tracker);
        break;
      }
      case 'finish': {
        const tracker = trackers.get(request.id)!;
        trackers.delete(request.id);
        closeSync(tracker.fd);
        if (tracker.cursor !== request.size) throw new Error(`hashed ${tracker.cursor} of ${request.size} bytes`);
        parentPort!.postMessage({ id: request.id, md5: tracker.whole.digest('hex'), ranges: tracker.ranges });
        break;
      }
      case 'drop': {
        const tracker = trackers.get(request.id);
        trackers.delete(request.id);
        if (tracker) closeSync(tracker.fd);
        break;
      }
      case 'memory': {
        const bytes = Buffer.from(request.memory, request.offset, request.length);
        parentPort!.postMessage({ id: request.id, md5: createHash('md5').update(bytes).digest('hex'), crc32: crc32Of(bytes) });
        break;
      }
      case 'parts':
        partHashes(request.path, request.size, request.partSize).then(
          (hashes) => parentPort!.postMessage({ id: request.id, ...hashes }),
          (error: Error) => parentPort!.postMessage({ id: request.id, error: error.message }),
        );
        break;
    }
  } catch (error) {
    const tracker = trackers.get(request.id);
    if (tracker) {
      closeSync(tracker.fd);
      trackers.delete(request.id);
    }
    parentPort!.postMessage({ id: request.id, error: (error as Error).message });
  }
});
