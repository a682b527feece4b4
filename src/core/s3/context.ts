import { setMaxListeners } from 'node:events';
import type { LazyS3Client } from './connection.js';
import type { TransferEvents } from '../events.js';
import type { S3Requests } from './requests.js';
import type { RequestLimiter } from './limiter.js';
import type { BufferPool } from '../transfer/buffer-pool.js';
import type { UploadJournal } from '../transfer/upload-journal.js';
import { withRetries, type RetryPolicy } from './retry.js';

/** What every core operation needs: one client, one limiter, one retry policy, one event bus. */
export interface TransferContext {
  client: LazyS3Client;
  /** The requests of a transfer (PUT, GET, HEAD, multipart, listing) without the SDK's per-request cost. */
  direct: S3Requests;
  limiter: RequestLimiter;
  retryPolicy: RetryPolicy;
  events: TransferEvents;
  /** Part buffers for uploads, reused across parts and files. */
  buffers: BufferPool;
  /** Multipart part size and ranged-download chunk size. */
  partSize: number;
  /** Aborted when in-flight requests must stop at once (a second signal, or the grace period is over). */
  signal?: AbortSignal | undefined;
  /** Aborted on the first SIGINT/SIGTERM: no new request starts; those in flight may finish. */
  stopping?: AbortSignal | undefined;
  /** Where multipart uploads in progress are recorded, so a re-run resumes them; none, none resumed. */
  journal?: UploadJournal | undefined;
}

/** What a request's retries report to: the run's events, and the limiter (throttling halves it). */
function retrying<T>(ctx: TransferContext, operation: string, attempt: (attemptNumber: number) => Promise<T>, signal: AbortSignal | undefined, alsoTransient?: ReadonlySet<string>): Promise<T> {
  return withRetries(operation, attempt, ctx.retryPolicy, {
    onRetry: (notice) => ctx.events.emit('retry', notice),
    onThrottle: () => ctx.limiter.throttle(),
    signal,
    alsoTransient,
  });
}

/**
 * Runs one data request — bytes moved, or a bulk command's one question per item — in the limiter's
 * data lane, retried by the policy (its retries and waits inside the one slot). Never from inside
 * another data request: see limiter.ts.
 */
export function dataRequest<T>(ctx: TransferContext, operation: string, attempt: (attemptNumber: number) => Promise<T>, signal = ctx.signal): Promise<T> {
  return ctx.limiter.data(() => retrying(ctx, operation, attempt, signal));
}

/**
 * Runs one control request — a listing page, a HEAD, Create/Complete/Abort, a proof, bucket setup —
 * in the limiter's control lane, retried by the policy. It may be made while holding a data slot.
 * `alsoTransient`: codes retried for this request only (see RetryHooks).
 */
export function controlRequest<T>(
  ctx: TransferContext,
  operation: string,
  attempt: (attemptNumber: number) => Promise<T>,
  signal = ctx.signal,
  alsoTransient?: ReadonlySet<string>,
): Promise<T> {
  return ctx.limiter.control(() => retrying(ctx, operation, attempt, signal, alsoTransient));
}

/** Which lane a request helper (a HEAD, say) sends in: control unless its caller says data. */
export type Lane = 'data' | 'control';

/** Runs one request in the lane given. */
export function laneRequest<T>(ctx: TransferContext, lane: Lane, operation: string, attempt: (attemptNumber: number) => Promise<T>): Promise<T> {
  return lane === 'data' ? dataRequest(ctx, operation, attempt) : controlRequest(ctx, operation, attempt);
}

/**
 * An abort signal for one transfer: it fires when the run's signal does, or when the transfer gives
 * up on its own (its first part that fails for good cancels the others). AbortSignal.any leaves no
 * listener behind on the run's signal once the transfer is over.
 */
export function childAbort(parent: AbortSignal | undefined): { signal: AbortSignal; abort(reason?: unknown): void } {
  const controller = new AbortController();
  const signal = parent ? AbortSignal.any([parent, controller.signal]) : controller.signal;
  // Each request of the transfer listens on it: more than ten at once is normal.
  setMaxListeners(0, signal);
  return {
    signal,
    abort: (reason) => controller.abort(reason),
  };
}

/**
 * Waits for every task of one transfer to settle, then fails with the first real error. Used instead
 * of Promise.all so that no part is still reading or writing the file when the transfer gives up, and
 * so that parts in flight at an interrupt finish (and count) before the command stops.
 */
export async function settleAll<T>(ctx: TransferContext, tasks: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(tasks);
  const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected').map((result) => result.reason as unknown);
  if (failures.length === 0) return results.map((result) => (result as PromiseFulfilledResult<T>).value);
  if (ctx.stopping?.aborted) throw ctx.stopping.reason;
  if (ctx.signal?.aborted) throw ctx.signal.reason;
  // The first failure that is not just another task cancelled because of it.
  throw failures.find((error) => (error as { name?: string })?.name !== 'AbortError') ?? failures[0];
}
