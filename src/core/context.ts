import type { S3Client } from '@aws-sdk/client-s3';
import type { TransferEvents } from './events.js';
import type { RequestLimiter } from './limiter.js';
import type { BufferPool } from './buffer-pool.js';
import { withRetries, type RetryPolicy } from './retry.js';

/** What every core operation needs: one client, one limiter, one retry policy, one event bus. */
export interface TransferContext {
  client: S3Client;
  limiter: RequestLimiter;
  retryPolicy: RetryPolicy;
  events: TransferEvents;
  /** Part buffers for uploads, reused across parts and files. */
  buffers: BufferPool;
  /** Multipart part size and ranged-download chunk size. */
  partSize: number;
  /** Aborted on SIGINT/SIGTERM: no new request starts, in-flight ones are cancelled. */
  signal?: AbortSignal | undefined;
}

/** Runs one request under the retry policy, outside the limiter (for control requests). */
export function retrying<T>(ctx: TransferContext, operation: string, attempt: (attemptNumber: number) => Promise<T>, signal = ctx.signal): Promise<T> {
  return withRetries(operation, attempt, ctx.retryPolicy, {
    onRetry: (notice) => ctx.events.emit('retry', notice),
    onThrottle: () => ctx.limiter.throttle(),
    signal,
  });
}

/** Runs one data request: bounded by the limiter, retried by the policy. */
export function limitedRequest<T>(ctx: TransferContext, operation: string, attempt: (attemptNumber: number) => Promise<T>, signal = ctx.signal): Promise<T> {
  return ctx.limiter.run(() => retrying(ctx, operation, attempt, signal));
}

/**
 * An abort signal for one transfer: it fires when the run's signal does, or when the transfer gives
 * up on its own (its first part that fails for good cancels the others). AbortSignal.any leaves no
 * listener behind on the run's signal once the transfer is over.
 */
export function childAbort(parent: AbortSignal | undefined): { signal: AbortSignal; abort(reason?: unknown): void } {
  const controller = new AbortController();
  return {
    signal: parent ? AbortSignal.any([parent, controller.signal]) : controller.signal,
    abort: (reason) => controller.abort(reason),
  };
}
