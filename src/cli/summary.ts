import type { TransferEvents, TransferResult } from '../core/events.js';

export interface FailedItem {
  key?: string;
  path?: string;
  error: string;
  /** The error's code, as a fatal error's `--json` document gives it (jsonErrorCode). */
  code?: string;
}

/**
 * The `--json` document of a transfer command: the objects come from the engine's `transfer:done`
 * events, like progress and log lines; failures are recorded where the command catches them.
 */
export class TransferSummary {
  readonly objects: TransferResult[] = [];
  readonly failed: FailedItem[] = [];
  /** Left alone by --no-clobber: the destination was already there. */
  readonly skipped: Array<{ key: string; path: string; reason: string }> = [];

  constructor(events: TransferEvents) {
    events.on('transfer:done', (event) => this.objects.push(event.result));
  }

  get bytes(): number {
    return this.objects.reduce((sum, object) => sum + object.size, 0);
  }

  toJson(): { objects: TransferResult[]; failed: FailedItem[]; skipped?: Array<{ key: string; path: string; reason: string }> } {
    return { objects: this.objects, failed: this.failed, ...(this.skipped.length > 0 ? { skipped: this.skipped } : {}) };
  }
}
