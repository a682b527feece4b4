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
  const system = describeSystemError(error);
  if (system !== undefined) return system;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const name = error.name && error.name !== 'Error' ? error.name : typeof code === 'string' ? code : '';
    const message = error.message || name || 'unknown error';
    return name && !message.includes(name) ? `${name}: ${message}` : message;
  }
  return String(error);
}

/** What a system call failed to do, said of the path it names (`cannot open '/data/u1'`); a call not listed is named as it is. */
const SYSTEM_CALL_VERBS: Record<string, string> = {
  open: 'open',
  opendir: 'read the folder',
  scandir: 'read the folder',
  mkdir: 'create the folder',
  rmdir: 'remove the folder',
  rm: 'remove',
  unlink: 'remove',
  rename: 'rename',
  link: 'link',
  symlink: 'make the link',
  copyfile: 'copy',
  stat: 'look at',
  lstat: 'look at',
  statfs: 'look at',
  access: 'access',
  realpath: 'resolve',
  readlink: 'read the link',
  read: 'read',
  write: 'write',
  chmod: 'change the mode of',
  utime: 'set the times of',
  fsync: 'flush',
};

/**
 * A system error of Node (its `code`, `syscall` and `path`) as one line that says what could not be
 * done, where and why: `cannot open '/data/u1': permission denied (EACCES)`, `cannot rename 'a' to 'b':
 * no such file or directory (ENOENT)`, rather than Node's `EACCES: permission denied, open '/data/u1'`.
 * The working folder removed under the process: `the current folder no longer exists (ENOENT)`.
 * Undefined for anything else (a socket's error names no path, and is told as it is).
 */
export function describeSystemError(error: unknown): string | undefined {
  if (!isSystemError(error)) return undefined;
  if (error.syscall === 'uv_cwd') return error.code === 'ENOENT' ? `the current folder no longer exists (${error.code})` : `cannot tell the current folder: ${systemReason(error)}`;
  if (typeof error.path !== 'string') return undefined;
  const dest = (error as { dest?: unknown }).dest;
  const verb = SYSTEM_CALL_VERBS[error.syscall] ?? error.syscall;
  return `cannot ${verb} '${error.path}'${typeof dest === 'string' ? ` to '${dest}'` : ''}: ${systemReason(error)}`;
}

/** Why a system call failed, in words, with its code: `permission denied (EACCES)`, `no such file or directory (ENOENT)`. */
export function systemReason(error: NodeJS.ErrnoException): string {
  const code = error.code;
  if (code === undefined) return error.message || 'unknown error';
  if (code === 'EACCES' || code === 'EPERM') return `permission denied (${code})`;
  // Node words it as libuv does: `ENOENT: no such file or directory, open '/x'`.
  const words = /^[A-Z0-9_]+: (.+?), [a-z_]+(?: '|$)/.exec(error.message)?.[1];
  return words ? `${words} (${code})` : code;
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string; syscall: string } {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return error instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && typeof syscall === 'string';
}
