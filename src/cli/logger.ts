import type { Logger } from 'pino';
import type { TransferEvents } from '../core/events.js';
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeError, usageError } from '../core/errors.js';
import { errorCodeOf, httpStatusOf } from '../core/s3/retry.js';
import { escapeJsonText } from './output.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Anything that could carry a secret is censored wherever it appears in a log record, at every level.
 * Records are built from our own fields (never raw SDK requests), and this is the second line.
 */
const REDACT_PATHS = [
  'accessKeyId', 'secretAccessKey', 'sessionToken', 'authorization', 'Authorization', 'credentials', 'password',
  '*.accessKeyId', '*.secretAccessKey', '*.sessionToken', '*.authorization', '*.Authorization', '*.credentials',
  '*.headers', '*.*.headers', 'err.$response', 'err.$metadata.extendedRequestId',
  '*.SSECustomerKey', '*.x-amz-security-token', '*.x-amz-server-side-encryption-customer-key',
];

/**
 * pino JSON lines: to `--log-file` (level info unless `--log-level` says otherwise), or to stderr when
 * only `--log-level` is given. No logger at all otherwise, and pino is not even loaded.
 */
export async function createLogger(options: { level?: string | undefined; file?: string | undefined }): Promise<Logger | undefined> {
  if (options.level === undefined && options.file === undefined) return undefined;
  // CommonJS: the function itself is the module's default export, bundled or not.
  const { default: pino } = await import('pino');
  const level = options.level ?? 'info';
  if (options.file) openLogFile(options.file);
  const destination = options.file ? pino.destination({ dest: options.file, append: true, sync: true }) : pino.destination({ fd: 2, sync: true });
  // pino escapes C0 controls in names as JSON does; DEL, C1 and bidirectional controls as the --json output does.
  const escaped = { write: (line: string) => destination.write(escapeJsonText(line)) };
  return pino({ level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, escaped);
}

/**
 * Makes sure `--log-file` can be appended to, creating its missing folders one at a time: a path that
 * cannot be a file is bad input (exit 2), said in one line before anything is transferred. (Node's
 * recursive mkdir never returns for a path under /proc, so the folders are not made in one call.)
 */
function openLogFile(file: string): void {
  const missing: string[] = [];
  for (let folder = dirname(resolve(file)); !exists(folder); folder = dirname(folder)) {
    missing.unshift(folder);
    if (dirname(folder) === folder) break;
  }
  try {
    for (const folder of missing) mkdirSync(folder);
    closeSync(openSync(file, 'a'));
  } catch (error) {
    throw usageError(`cannot write --log-file '${file}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Log lines are a subscriber to the engine's events, like progress bars and the summary. Failures
 * are not events of the engine's: Output logs each failed item and the run's failure.
 */
export function logTransferEvents(events: TransferEvents, logger: Logger): void {
  events.on('transfer:start', (e) => logger.debug({ transfer: e.id, direction: e.direction, bucket: e.ref.bucket, key: e.ref.key, path: e.path, size: e.size }, 'transfer started'));
  events.on('transfer:done', (e) =>
    logger.info({ transfer: e.id, bucket: e.ref.bucket, key: e.ref.key, path: e.path, size: e.size, ...(e.partsReused ? { partsReused: e.partsReused } : {}) }, 'transfer done'),
  );
  // What a transfer met, as it met it. Whether that fails its item (recorded, the run goes on) or the
  // whole run (no such bucket, refused credentials) is decided after, and logged where it is told
  // (Output.failed, Output.logRunFailure): at error level the log says what the run says.
  events.on('transfer:failed', (e) => logger.debug({ transfer: e.id, bucket: e.ref.bucket, key: e.ref.key, path: e.path, error: describeError(e.error) }, 'transfer error'));
  events.on('retry', (notice) =>
    logger.warn(
      {
        operation: notice.operation,
        attempt: notice.attempt,
        delayMs: notice.delayMs,
        errorClass: notice.errorClass,
        code: errorCodeOf(notice.error),
        status: httpStatusOf(notice.error),
        error: describeError(notice.error),
      },
      'retrying',
    ),
  );
  events.on('warning', (e) => logger.warn({ ...(e.ref ? { bucket: e.ref.bucket, key: e.ref.key } : {}) }, e.message));
  events.on('debug', ({ message, ...fields }) => logger.debug(fields, message));
}
