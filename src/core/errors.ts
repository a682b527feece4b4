/**
 * Errors are values with a kind and a message written for the user. The CLI edge maps the kind to an
 * exit code in one place; the core never prints and never exits.
 */
export type ErrorKind =
  /** Bad input or configuration found before any transfer: exit 2. */
  | 'usage'
  /** An operation failed after retries, or an object did not verify: exit 1. */
  | 'failed'
  /** Stopped by a signal: exit 130 (SIGINT) or 143 (SIGTERM). */
  | 'interrupted';

export class DatalakeError extends Error {
  readonly kind: ErrorKind;
  /** Extra words on what to do next, appended to the one-line message. */
  readonly hint: string | undefined;
  /** The code `--json` reports (NoSuchBucket, NoSuchKey…), when the cause's own does not say it (see s3/explain-error.ts). */
  readonly jsonCode: string | undefined;

  constructor(kind: ErrorKind, message: string, options: { hint?: string; cause?: unknown; code?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DatalakeError';
    this.kind = kind;
    this.hint = options.hint;
    this.jsonCode = options.code;
  }
}

/** Bytes that do not match their proof (MD5, ETag): never left behind, and worth one fresh attempt. */
export class ContentMismatch extends DatalakeError {
  constructor(message: string, hint?: string) {
    super('failed', message, hint === undefined ? {} : { hint });
    this.name = 'ContentMismatch';
  }
}

/** `--no-clobber`: something appeared at the target while the object was on its way; it is left alone. */
export class TargetExists extends DatalakeError {
  constructor(readonly path: string) {
    super('failed', `'${path}' exists`, { code: 'EEXIST' });
    this.name = 'TargetExists';
  }
}

export function usageError(message: string, hint?: string): DatalakeError {
  return new DatalakeError('usage', message, hint === undefined ? {} : { hint });
}

export function failure(message: string, options: { hint?: string; cause?: unknown; code?: string } = {}): DatalakeError {
  return new DatalakeError('failed', message, options);
}

export function isDatalakeError(error: unknown): error is DatalakeError {
  return error instanceof DatalakeError;
}

/** A short reason for any thrown value, for summaries and `failed[].error`. */
export function describeError(error: unknown): string {
  if (error instanceof DatalakeError) return error.hint ? `${error.message} (${error.hint})` : error.message;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const name = error.name && error.name !== 'Error' ? error.name : typeof code === 'string' ? code : '';
    const message = error.message || name || 'unknown error';
    return name && !message.includes(name) ? `${name}: ${message}` : message;
  }
  return String(error);
}
