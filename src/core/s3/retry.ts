import { DatalakeError, failure } from '../errors.js';
import { DEFAULT_RETRIES } from '../config/config.js';

/**
 * The one retry policy: every request `datalake` sends goes through `withRetries`. The SDK's own
 * retries are switched off (maxAttempts 1) so that there is exactly one policy to reason about.
 * What is sent again outside a retry of this policy, each for a reason of its own:
 * - transport.ts sends a request once more, at once, when the kept-alive connection it went out on
 *   turns out to have been closed by the server before anything of the answer was read (kept-alive.ts
 *   tells that case apart): the request never reached the server, so it is not an attempt;
 * - this file signs a request again after learning the clock's offset from a RequestTimeTooSkewed
 *   answer (the same attempt, dated right);
 * - transfer/download-proof.ts (`fetchAgainOnMismatch`) downloads an object once more when its bytes
 *   do not match its proof: the requests succeeded, the content did not;
 * - lake/delta/commit.ts retries a commit whose version another writer took, with the next version,
 *   through a policy of this file's shape that retries nothing else.
 */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: DEFAULT_RETRIES, baseDelayMs: 200, maxDelayMs: 20_000 };

/**
 * A failure worth another attempt that is not an HTTP or network error: a part whose ETag does not
 * match the MD5 of what was sent, or a body that ended short.
 */
export class TransientError extends Error {
  override readonly name: string = 'TransientError';
}

export type ErrorClass = 'transient' | 'throttled' | 'permanent';

export interface RetryNotice {
  operation: string;
  /** The attempt that failed, 1-based. */
  attempt: number;
  delayMs: number;
  error: unknown;
  errorClass: ErrorClass;
}

export interface RetryHooks {
  onRetry?: (notice: RetryNotice) => void;
  /** Called with every throttling answer (SlowDown, 429, 503), so concurrency can back off. */
  onThrottle?: () => void;
  signal?: AbortSignal | undefined;
  /**
   * Codes that are transient for this one request though permanent for others: a request whose body
   * is built again for each attempt names the codes that say its body arrived damaged (MalformedXML).
   */
  alsoTransient?: ReadonlySet<string> | undefined;
}

const TRANSIENT_CODES = new Set([
  'SlowDown', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'Throttling',
  'ThrottlingException', 'RequestLimitExceeded', 'BadDigest', 'XAmzContentChecksumMismatch', 'IncompleteBody', 'XAmzContentSHA256Mismatch',
  'XMinioServerNotInitialized', 'TimeoutError', 'RequestTimeoutException',
]);
const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'ServiceUnavailable']);
/** Network failures, Node's and undici's (transport.ts): a connection lost or stalled, a body cut short. */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_CLOSED', 'RequestStalled',
]);

export function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { Code?: unknown; code?: unknown; name?: unknown };
  for (const value of [record.Code, record.code, record.name]) {
    if (typeof value === 'string' && value !== 'Error' && value !== 'UnknownError') return value;
  }
  return undefined;
}

export function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Transient errors are worth another attempt; permanent ones fail at once with a clear line. */
export function classifyError(error: unknown, alsoTransient?: ReadonlySet<string>): ErrorClass {
  if (error instanceof TransientError) return 'transient';
  if (alsoTransient?.has(errorCodeOf(error) ?? '')) return 'transient';
  if (error instanceof DatalakeError) return 'permanent';
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) return 'permanent';
  // An answer whose Date showed the clock off, now corrected: signed again it passes (as the SDK retries it).
  if (clockSkewCorrected(error)) return 'transient';
  const code = errorCodeOf(error);
  const status = httpStatusOf(error);
  // 501: the endpoint does not implement this at all; asking again will not change that.
  if (status === 501 || code === 'NotImplemented') return 'permanent';
  if (code !== undefined && THROTTLE_CODES.has(code)) return 'throttled';
  if (status === 429 || status === 503) return 'throttled';
  if (code !== undefined && TRANSIENT_CODES.has(code)) return 'transient';
  if (status !== undefined && status >= 500) return 'transient';
  if (status !== undefined && status >= 400) return 'permanent';
  if (code === 'AbortError' || code === 'ABORT_ERR') return 'permanent';
  if (code !== undefined && TRANSIENT_NETWORK_CODES.has(code)) return 'transient';
  // undici's HTTP parser (llhttp) could not read the answer: damaged on the way, as a cut body is.
  if (code?.startsWith('HPE_') || code === 'HTTPParserError') return 'transient';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'CredentialsProviderError') return 'permanent';
  // A response cut short before its status line, or a body stream that broke mid-way.
  const message = error instanceof Error ? error.message : '';
  if (/socket hang up|aborted|premature|terminated|ECONNRESET|timeout/i.test(message)) return 'transient';
  return 'permanent';
}

/** The answer's Date showed this machine's clock off, and the run's clock was corrected by it. */
export function clockSkewCorrected(error: unknown): boolean {
  return (error as { $metadata?: { clockSkewCorrected?: unknown } } | null)?.$metadata?.clockSkewCorrected === true;
}

/** Exponential backoff with full jitter: a random wait in [0, min(cap, base·2^(attempt−1))). */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

export async function withRetries<T>(
  operation: string,
  attemptOnce: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  // A request refused because this machine's clock is off, once the answer's Date has corrected the
  // run's clock, is signed again at once — as the AWS SDK does — whatever --retries says: the
  // correction is not a policy retry. Once per operation.
  let clockCorrected = false;
  for (let attempt = 1; ; attempt += 1) {
    throwIfAborted(hooks.signal);
    try {
      return await attemptOnce(attempt);
    } catch (error) {
      if (hooks.signal?.aborted) throw hooks.signal.reason ?? error;
      if (!clockCorrected && clockSkewCorrected(error)) {
        clockCorrected = true;
        attempt -= 1;
        continue;
      }
      const errorClass = classifyError(error, hooks.alsoTransient);
      if (errorClass === 'throttled') hooks.onThrottle?.();
      if (errorClass === 'permanent' || attempt > policy.retries) throw error;
      const delayMs = backoffDelay(policy, attempt);
      hooks.onRetry?.({ operation, attempt, delayMs, error, errorClass });
      await sleep(delayMs, hooks.signal);
    }
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? failure('interrupted');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
