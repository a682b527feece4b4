import type { ObjectRef } from './address.js';
import { normalizeEtag } from './checksums.js';
import { retrying, type TransferContext } from './context.js';

export interface ListedObject {
  key: string;
  size: number;
  lastModified: Date | undefined;
  etag: string | undefined;
  storageClass: string | undefined;
}

export type ListEntry = { kind: 'object'; object: ListedObject } | { kind: 'prefix'; prefix: string };

/**
 * Every object (and, with a delimiter, every common prefix) under a prefix, page after page, in the
 * order S3 returns them: sorted by key (UTF-8 bytes). Sent on the direct path (ListObjectsV2).
 */
export async function* listObjects(ctx: TransferContext, where: ObjectRef, options: { recursive: boolean }): AsyncGenerator<ListEntry> {
  let continuationToken: string | undefined;
  do {
    const token = continuationToken;
    const page = await retrying(ctx, `LIST ${where.key}`, () =>
      ctx.direct.listObjectsV2(where.bucket, { prefix: where.key || undefined, delimiter: options.recursive ? undefined : '/', continuationToken: token }, ctx.signal),
    );
    // Within one page, keys and prefixes are each sorted; merge them so the caller sees one order.
    const objects = page.contents.map((item): ListEntry => ({ kind: 'object', object: { ...item, etag: normalizeEtag(item.etag) } }));
    const prefixes = page.commonPrefixes.map((prefix): ListEntry => ({ kind: 'prefix', prefix }));
    const entries = [...objects, ...prefixes].sort((a, b) => compareKeys(entryKey(a), entryKey(b)));
    yield* entries;
    continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (continuationToken);
}

function entryKey(entry: ListEntry): string {
  return entry.kind === 'object' ? entry.object.key : entry.prefix;
}

/** S3's order: by the UTF-8 bytes of the key. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
