/** The remote side of a sync: the objects under its prefix, as a sorted listing of relative names. */
import type { ObjectRef } from '../config/address.js';
import type { TransferContext } from '../s3/context.js';
import { listObjects } from '../s3/list.js';
import { isTemporaryDownloadName } from '../transfer/temporary-names.js';
import type { RemoteFile } from './compare.js';

/** The objects under a prefix as a sorted listing of relative names; "folder" markers are left out. */
export async function* listRemoteFiles(ctx: TransferContext, prefix: ObjectRef): AsyncGenerator<RemoteFile> {
  for await (const entry of listObjects(ctx, prefix, { recursive: true })) {
    if (entry.kind !== 'object' || entry.object.key.endsWith('/')) continue;
    const name = entry.object.key.slice(prefix.key.length);
    if (name === '') continue;
    yield { name, ref: { bucket: prefix.bucket, key: entry.object.key }, size: entry.object.size, etag: entry.object.etag, lastModified: entry.object.lastModified };
  }
}

/**
 * Keys with a segment named as a download in progress (`.x.datalake-part`) left out, each such name
 * told once: `.x.datalake-part` or `.d.datalake-part/`. For an upload sync, whose walk hides such
 * local names: their remote namesakes are neither compared nor deleted as strays. (A download sync
 * keeps them: each fails on its own, as get -r fails it, transfer/get-plan.ts's localPathFor.)
 */
export async function* withoutTemporaryNames(entries: AsyncIterable<RemoteFile>, onTemporaryName: (name: string) => void): AsyncGenerator<RemoteFile> {
  for await (const entry of entries) {
    const segments = entry.name.split('/');
    const index = segments.findIndex((segment) => isTemporaryDownloadName(segment));
    if (index === -1) yield entry;
    else onTemporaryName(segments.slice(0, index + 1).join('/') + (index < segments.length - 1 ? '/' : ''));
  }
}
