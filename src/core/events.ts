import { EventEmitter } from 'node:events';
import type { RetryNotice } from './s3/retry.js';
import type { ObjectRef } from './config/address.js';

/** One object moved and proven: what `--json` reports for it. */
export interface TransferResult {
  bucket: string;
  key: string;
  size: number;
  etag: string | undefined;
  /** The full-object CRC32, base64, as S3 shows it. */
  crc32?: string | undefined;
  /** Hex MD5 of the whole content, where it was computed. */
  md5?: string | undefined;
  /** The local path, or `-` for standard input or output. */
  path: string;
  [detail: string]: unknown;
}

/**
 * What the engine tells its subscribers (progress bars, logs, the `--json` summary). The engine emits
 * and never renders.
 */
export interface TransferEventMap {
  /** A copy (`cp`, `mv`) is server-side: its `ref` is the destination, its `path` the source's s3:// address. */
  'transfer:start': [{ id: number; direction: 'upload' | 'download' | 'copy'; ref: ObjectRef; path: string; size: number | undefined }];
  'transfer:progress': [{ id: number; bytes: number }];
  /** A large upload reads its file for its checksums before the first part leaves, then sends. */
  'transfer:phase': [{ id: number; phase: 'checksumming' | 'sending' }];
  'transfer:done': [{ id: number; ref: ObjectRef; path: string; size: number; partsReused?: number; result: TransferResult }];
  'transfer:failed': [{ id: number; ref: ObjectRef; path: string; error: unknown }];
  /**
   * A multi-file command's plan as it is read, ahead of its transfers: `files` more to move, of `bytes`.
   * A progress bar's total comes from the plan, not from the transfers started so far.
   */
  'plan:add': [{ files: number; bytes: number }];
  /** Planned transfers that will not happen after all (the destination has them already). */
  'plan:drop': [{ files: number; bytes: number }];
  /** The plan is whole: nothing more will be added. */
  'plan:complete': [];
  retry: [RetryNotice];
  warning: [{ message: string; ref?: ObjectRef }];
  debug: [{ message: string; [field: string]: unknown }];
}

export class TransferEvents extends EventEmitter<TransferEventMap> {
  private nextId = 1;

  newTransferId(): number {
    return this.nextId++;
  }
}
