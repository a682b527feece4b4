import { formatS3Url, type ObjectRef } from '../config/address.js';
import { DamagedAnswer } from './answers.js';
import { normalizeEtag } from '../integrity/checksums.js';
import { controlRequest, type TransferContext } from './context.js';

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
 *
 * A page is taken only if it is about what was asked: every name under the prefix, and every name after
 * the last one of the page before (S3 lists in strictly ascending order). Anything else — a key from
 * elsewhere, a page that repeats or goes back (a continuation token that loops) — is a damaged answer:
 * asked again, and after the retries the run fails. Callers act on these names (`rm -r` deletes them,
 * `sync` maps them to local paths), so a name from outside the prefix must never reach them.
 */
export async function* listObjects(ctx: TransferContext, where: ObjectRef, options: { recursive: boolean }): AsyncGenerator<ListEntry> {
  let continuationToken: string | undefined;
  let last: string | undefined;
  do {
    const token = continuationToken;
    const after = last;
    const { page, entries } = await controlRequest(ctx, `LIST ${where.key}`, async () => {
      const page = await ctx.direct.listObjectsV2(where.bucket, { prefix: where.key || undefined, delimiter: options.recursive ? undefined : '/', continuationToken: token }, ctx.signal);
      // Within one page, keys and prefixes are each sorted; merge them so the caller sees one order.
      const objects = page.contents.map((item): ListEntry => ({ kind: 'object', object: { ...item, etag: normalizeEtag(item.etag) } }));
      const prefixes = page.commonPrefixes.map((prefix): ListEntry => ({ kind: 'prefix', prefix }));
      const entries = [...objects, ...prefixes].sort((a, b) => compareKeys(entryKey(a), entryKey(b)));
      checkPage(where, entries, after);
      return { page, entries };
    });
    yield* entries;
    if (entries.length > 0) last = entryKey(entries[entries.length - 1]!);
    continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
    // An interrupt asks for no new page: the run ends with what it has read (its caller says so).
    if (continuationToken && ctx.stopping?.aborted) throw ctx.stopping.reason;
  } while (continuationToken);
}

function checkPage(where: ObjectRef, entries: ListEntry[], after: string | undefined): void {
  let previous = after;
  for (const entry of entries) {
    const name = entryKey(entry);
    const source = `ListObjectsV2 ${formatS3Url(where)}`;
    if (!name.startsWith(where.key)) throw new DamagedAnswer(`damaged answer to ${source}: '${name}' is not under the prefix asked for`);
    if (previous !== undefined && compareKeys(name, previous) <= 0) {
      throw new DamagedAnswer(`damaged answer to ${source}: '${name}' comes after '${previous}' (listings are in ascending order, each name once)`);
    }
    previous = name;
  }
}

function entryKey(entry: ListEntry): string {
  return entry.kind === 'object' ? entry.object.key : entry.prefix;
}

/** S3's order: by the UTF-8 bytes of the key. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
