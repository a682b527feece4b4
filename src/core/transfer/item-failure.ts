import { DatalakeError, describeError, failure, isDatalakeError } from '../errors.js';
import { explainError, isFatalForRun, jsonErrorCode } from '../s3/explain-error.js';

/**
 * The failures this rule already found to end the run: met again (a queued request refused with one
 * once the run has ended, see `RequestLimiter.end`), they still end it, unrecorded.
 */
const endingTheRun = new WeakSet<object>();

/** What the rule needs of the run an item belongs to. */
export interface ItemRun {
  /** The interrupt's signal: once aborted, every failure is the interrupt's. */
  stopping?: AbortSignal | undefined;
  /** The bucket the item goes to or comes from: its errors name that one. */
  bucket: string;
  /** The custom endpoint in use, named in the errors that concern it. */
  endpoint?: string | undefined;
  /** Told when the run ends: requests still waiting for a slot are not sent (limiter.ts). */
  limiter?: { end(reason: unknown): void } | undefined;
}

/**
 * One item of a run over many failed (a file of put -r or sync, an object of get -r or cp -r): the one place
 * that decides whether the run ends there or records the item and goes on, as rsync and rclone do.
 * Thrown, ending the run: the interrupt's reason when the run is stopping, and, explained, a failure
 * every other item would meet too (`isFatalForRun`: the credentials, the bucket, the endpoint).
 * Returned, explained, for the caller to record: any other failure.
 */
export function failureToRecord(error: unknown, run: ItemRun): DatalakeError {
  if (run.stopping?.aborted) throw run.stopping.reason;
  if (endingTheRun.has(error as object)) throw error;
  const explained = explainError(error, { bucket: run.bucket, endpoint: run.endpoint });
  if (isFatalForRun(error)) {
    endingTheRun.add(explained);
    run.limiter?.end(explained);
    throw explained;
  }
  return asItemFailure(explained);
}

/**
 * Bad input found for one item (a key its destination cannot take) fails that item, and the run
 * exits 1 as for any failed item: recorded with the code of a failure, never `usage`, which goes
 * with exit 2 only.
 */
function asItemFailure(explained: DatalakeError): DatalakeError {
  if (explained.kind !== 'usage') return explained;
  return failure(explained.message, { ...(explained.hint === undefined ? {} : { hint: explained.hint }), code: explained.jsonCode ?? 'failed' });
}

/**
 * A failure that leaves its item changed, neither as it was nor as asked: a move whose copy is proven
 * but whose source could not be deleted, the object now there twice. `state` says so; `reason` is what
 * failed (the delete's error), explained where the item is recorded (`recordFailure`).
 */
export class LeftBehind extends DatalakeError {
  constructor(
    readonly state: string,
    readonly reason: unknown,
    hint: string,
  ) {
    super('failed', `${state}: ${describeError(reason)}`, { hint, cause: reason });
    this.name = 'LeftBehind';
  }

  /** The item's failure: its state, and why, explained as the run explains it. */
  because(reason: DatalakeError): DatalakeError {
    return failure(`${this.state}: ${describeError(reason)}`, { hint: this.hint, cause: this.reason, code: jsonErrorCode(reason) });
  }
}

/**
 * `failureToRecord` for a caller that records items (the CLI's `attempt`): `record` gets the item's
 * failure when it is to be recorded. An item left behind (`LeftBehind`) is recorded even when its
 * reason ends the run — the user must know of it — and the run then ends as it would have.
 */
export function recordFailure(error: unknown, run: ItemRun, record: (failure: DatalakeError) => void): void {
  if (!(error instanceof LeftBehind)) {
    record(failureToRecord(error, run));
    return;
  }
  let reason: DatalakeError;
  try {
    reason = failureToRecord(error.reason, run);
  } catch (ending) {
    record(error.because(isDatalakeError(ending) ? ending : explainError(ending, { bucket: run.bucket, endpoint: run.endpoint })));
    throw ending;
  }
  record(error.because(reason));
}
