import type { ObjectRef } from '../config/address.js';
import { crc32cAvailable, crc32OfFile, crc32ToBase64, crcsOfFile, isPlainMd5Etag, md5FromMetadata, md5OfFile, multipartEtagOfFile, multipartEtagPartCount } from '../integrity/checksums.js';
import { etagReflectsContent } from '../integrity/content-proof.js';
import type { TransferContext } from '../s3/context.js';
import { headObject } from '../s3/objects.js';
import { evenPartSizesGuess, listedPartSizes, partSizesByHead, type MultipartObject } from '../transfer/part-layout.js';
import type { CachedHash } from './hash-cache.js';
import type { LocalFile } from '../transfer/local-tree.js';

/** An object as a listing shows it, named relative to the synced prefix. */
export interface RemoteFile {
  name: string;
  ref: ObjectRef;
  size: number;
  etag: string | undefined;
  lastModified: Date | undefined;
}

export type Reason = 'new' | 'size differs' | 'content differs' | 'same content' | 'same size' | 'only on destination' | 'unreadable' | 'temporary name';

export interface ContentCheck {
  same: boolean;
  /** What is now known of the local file's content, and the ETags proven to match it, for the hash cache. */
  md5?: string | undefined;
  crc32?: string | undefined;
  etags: string[];
  /** Not the same as far as anyone can tell: the server would not say how the object was cut. */
  unproven?: boolean;
  /** The proof that decided (`crc32`, `etag`, `metadata-md5`, `multipart-etag`, `crc32+…`, `hash-cache`, `none`). */
  by: string;
}

/**
 * "Same bytes?" for a local file and an object of the same size, as cheaply as the object allows:
 *   cache says this ETag was proven before       → same, no I/O
 *   the ETag is a plain MD5 (and not SSE-KMS/C)   → compare with the local MD5, whatever else it says
 *   the object keeps a full-object CRC32          → one HEAD, compare with the local CRC32 (cheap); where
 *                                                   it is equal, also its stored MD5 when the local MD5
 *                                                   is cached, and with `everyProof` (verify) its stored
 *                                                   MD5 or multipart ETag whatever the cost
 *   the object stores its MD5 in metadata          → compare with the local MD5
 *   a multipart ETag and neither                   → recompute it locally with each part's real size
 *   an opaque ETag (SSE-KMS/SSE-C) and neither     → not provably the same: transfer
 * The local hashes come from the hash cache when the file is unchanged since it was last hashed, and
 * each is computed only when the object offers that proof.
 */
export async function compareContent(
  ctx: TransferContext,
  local: LocalFile,
  remote: RemoteFile,
  cached: CachedHash | undefined,
  options: { everyProof?: boolean } = {},
): Promise<ContentCheck> {
  const etag = remote.etag ?? '';
  const knownEtags = cached?.etags ?? [];
  const known = { md5: cached?.md5, crc32: cached?.crc32 };
  if (cached && etag && knownEtags.includes(etag)) return { same: true, ...known, etags: knownEtags, by: 'hash-cache' };

  const localMd5 = async () => (known.md5 ??= (await md5OfFile(local.path)).toString('hex'));
  const localCrc32 = async () => (known.crc32 ??= crc32ToBase64(await crc32OfFile(local.path)));
  const proven = (same: boolean, by: string): ContentCheck => ({ same, by, ...known, etags: same && etag ? [...new Set([...knownEtags, etag])].slice(-4) : knownEtags });

  if (isPlainMd5Etag(etag) && etag === (await localMd5())) return proven(true, 'etag');

  // One HEAD per compared file: in the data lane, with the transfers.
  const head = await headObject(ctx, remote.ref, 'data');
  // A plain-MD5 ETag that reflects the content decides (it is the server's own hash of the bytes);
  // a stored MD5 that contradicts it proves nothing.
  if (isPlainMd5Etag(etag) && etagReflectsContent(head)) return proven(false, 'etag');
  const stored = md5FromMetadata(head.metadata);
  if (head.crc32 !== undefined) {
    if (head.crc32 !== (await localCrc32())) return proven(false, 'crc32');
    // An equal CRC32 rules out any accidental change, not a crafted collision. The MD5 proof the
    // object also carries is checked where it costs no read (the local MD5 cached) or where asked.
    if (stored && (known.md5 !== undefined || options.everyProof)) return proven(stored === (await localMd5()), 'crc32+metadata-md5');
    const partCount = multipartEtagPartCount(etag);
    if (options.everyProof && partCount !== undefined && etagReflectsContent(head)) {
      const same = await sameAsMultipartObject(ctx, local, { ref: remote.ref, size: remote.size, etag, partCount });
      if (same !== undefined) return proven(same, 'crc32+multipart-etag');
    }
    return proven(true, 'crc32');
  }
  if (head.crc32c !== undefined && crc32cAvailable()) {
    // Another tool's full-object CRC32C (the hash cache keeps CRC32s only: the file is read for it).
    const localCrc32c = crc32ToBase64((await crcsOfFile(local.path, undefined, true)).crc32c!);
    if (head.crc32c !== localCrc32c) return proven(false, 'crc32c');
    if (stored && (known.md5 !== undefined || options.everyProof)) return proven(stored === (await localMd5()), 'crc32c+metadata-md5');
    return proven(true, 'crc32c');
  }
  if (stored) return proven(stored === (await localMd5()), 'metadata-md5');
  if (!etagReflectsContent(head)) return proven(false, 'none');
  const partCount = multipartEtagPartCount(etag);
  if (partCount === undefined || remote.size !== local.size) return proven(false, 'none');
  const same = await sameAsMultipartObject(ctx, local, { ref: remote.ref, size: remote.size, etag, partCount });
  return same === undefined ? { ...proven(false, 'none'), unproven: true } : proven(same, 'multipart-etag');
}

/**
 * Whether the file, cut as the object was cut, gives the object's multipart ETag. The sizes the
 * server lists settle it in one request. Else an even cut guessed from part 1: a match proves it
 * (the ETag covers every part's MD5). Else every part's size by HEAD, and the file hashed again
 * only if those differ from the guess.
 */
async function sameAsMultipartObject(ctx: TransferContext, local: LocalFile, object: MultipartObject): Promise<boolean | undefined> {
  const listed = await listedPartSizes(ctx, object);
  if (listed) return (await multipartEtagOfFile(local.path, listed)) === object.etag;
  const guess = await evenPartSizesGuess(ctx, object);
  if (guess && (await multipartEtagOfFile(local.path, guess)) === object.etag) return true;
  const real = await partSizesByHead(ctx, object);
  if (!real) return undefined;
  if (guess && real.every((size, index) => size === guess[index])) return false;
  return (await multipartEtagOfFile(local.path, real)) === object.etag;
}
