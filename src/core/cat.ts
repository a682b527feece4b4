import type { Writable } from 'node:stream';
import { formatS3Url, type ObjectRef } from './address.js';
import type { TransferContext } from './context.js';
import { downloadToStream, type DownloadedObject } from './download.js';
import { ContentMismatch } from './errors.js';

/**
 * `datalake cat`: the object streamed to `out` in order and checked at the end, as `get OBJECT -`.
 * Bytes on a pipe cannot be taken back: a mismatch found at the end says how many were already
 * written, so the reader knows to discard them, instead of the file download's "nothing was written".
 */
export async function catObject(ctx: TransferContext, ref: ObjectRef, out: Writable): Promise<DownloadedObject> {
  let written = 0;
  const count = (event: { bytes: number }) => (written += event.bytes);
  ctx.events.on('transfer:progress', count);
  try {
    return await downloadToStream(ctx, ref, out);
  } catch (error) {
    if (!(error instanceof ContentMismatch)) throw error;
    const reason = /did not verify: (.*?)(?:; nothing was written)?$/.exec(error.message)?.[1] ?? error.message;
    throw new ContentMismatch(
      `${formatS3Url(ref)} did not verify: ${reason}; the ${written} bytes already written to standard output could not be recalled`,
      'discard that output; run `datalake verify` on the object, and fetch it again',
    );
  } finally {
    ctx.events.off('transfer:progress', count);
  }
}
