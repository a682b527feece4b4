/**
 * Every exit code datalake ends with is decided here, from what a command threw (SPEC: 0 done,
 * 1 something failed, 2 bad input or usage, 130/143 stopped by SIGINT/SIGTERM). Commands never set
 * `process.exitCode`: one whose items failed one by one throws `ItemsFailed` once its summary is out.
 */
import { DatalakeError, type ErrorKind } from '../core/errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** The code of a run stopped by a signal: 128 + the signal's number, as shells report it. */
export function exitCodeForSignal(signal: NodeJS.Signals | undefined): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

/**
 * A command whose failed items were each named as they failed and whose summary (line or JSON
 * document) is already out: the run ends with exit 1 and nothing more is printed.
 */
export class ItemsFailed extends DatalakeError {
  constructor(readonly count: number) {
    super('failed', `${count} item${count === 1 ? '' : 's'} failed`);
    this.name = 'ItemsFailed';
  }
}

/** Ends the command with exit 1 when any of its items failed. */
export function failIfAny(failedCount: number): void {
  if (failedCount > 0) throw new ItemsFailed(failedCount);
}

export function exitCodeForKind(kind: ErrorKind, signal: NodeJS.Signals | undefined): number {
  switch (kind) {
    case 'usage':
      return EXIT_USAGE;
    case 'interrupted':
      return exitCodeForSignal(signal);
    case 'failed':
      return EXIT_FAILED;
  }
}
