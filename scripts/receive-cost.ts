/**
 * What receiving a large object costs in Node with undici alone, without datalake around it: the
 * floor of a `get`'s client CPU on this machine. Eight connections fetch 8 MiB ranges of the object,
 * each chunk CRC32'd (zlib.crc32, as datalake proves a download), in one of three ways:
 *   stream  — undici's request() and `for await` over the body (a Readable), bytes dropped;
 *   handler — undici's dispatch() with a handler that takes each chunk as it is parsed, bytes dropped;
 *   file    — as stream, and written at their offset into a file in batches of about 1 MiB (writev),
 *             then flushed (fdatasync), as a download's temporary file is.
 * Usage: npx tsx scripts/receive-cost.ts URL SIZE [stream|handler|file]
 * (URL: a presigned GET of the object, e.g. from `datalake presign s3://bucket/key`; SIZE in bytes).
 */
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Agent } from 'undici';

const [address, sizeText, mode = 'stream'] = process.argv.slice(2);
if (!address || !sizeText) throw new Error('usage: receive-cost.ts URL SIZE [stream|handler|file]');
const url = new URL(address);
const size = Number(sizeText);
const RANGE = 8 * 1024 * 1024;
const agent = new Agent({ connections: 8 });
const ranges: Array<[number, number]> = [];
for (let start = 0; start < size; start += RANGE) ranges.push([start, Math.min(size, start + RANGE) - 1]);
const target = join(tmpdir(), `receive-cost-${process.pid}`);
const file = mode === 'file' ? await open(target, 'w') : undefined;
const request = (first: number, last: number) => ({ origin: url.origin, path: url.pathname + url.search, method: 'GET' as const, headers: { range: `bytes=${first}-${last}` } });

async function viaStream([first, last]: [number, number]): Promise<void> {
  const answer = await agent.request(request(first, last));
  let crc = 0;
  let batch: Buffer[] = [];
  let batched = 0;
  let position = first;
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    crc = crc32(chunk, crc);
    if (!file) continue;
    batch.push(chunk);
    batched += chunk.length;
    if (batched >= 1 << 20) {
      await file.writev(batch, position);
      position += batched;
      batch = [];
      batched = 0;
    }
  }
  if (file && batched > 0) await file.writev(batch, position);
}

function viaHandler([first, last]: [number, number]): Promise<void> {
  return new Promise((resolve, reject) => {
    let crc = 0;
    agent.dispatch(request(first, last), {
      onConnect: () => undefined,
      onHeaders: () => true,
      onData: (chunk: Buffer) => {
        crc = crc32(chunk, crc);
        return true;
      },
      onComplete: () => resolve(),
      onError: reject,
    } as never);
  });
}

const fetchRange = mode === 'handler' ? viaHandler : viaStream;
const before = process.cpuUsage();
const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < ranges.length) await fetchRange(ranges[next++]!);
  }),
);
await file?.datasync();
const used = process.cpuUsage(before);
const seconds = (performance.now() - started) / 1000;
const gib = size / 2 ** 30;
console.log(`${mode}: ${seconds.toFixed(2)} s, client CPU ${((used.user + used.system) / 1e6 / gib).toFixed(2)} s per GiB (user ${(used.user / 1e6 / gib).toFixed(2)}, system ${(used.system / 1e6 / gib).toFixed(2)})`);
await file?.close();
await rm(target, { force: true });
await agent.close();
