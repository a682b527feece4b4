import type { DatalakeError } from '../errors.js';
import { explainError, isFatalForRun } from '../s3/explain-error.js';

/**
 * The failures this rule already found to end the run: decided again (the CLI's `attempt` around a
 * core call that decided first, as `mv` deleting its source does), they still end it.
 */
const endingTheRun = new WeakSet<object>();

/**
 * One item of a run over many failed (a file of put -r or sync, an object of get -r or cp -r): the one place
 * that decides whether the run ends there or records the item and goes on, as rsync and rclone do.
 * Thrown, ending the run: the interrupt's reason when the run is stopping, and, explained, a failure
 * every other item would meet too (`isFatalForRun`: the credentials, the bucket, the endpoint).
 * Returned, explained, for the caller to record: any other failure.
 */
export function failureToRecord(error: unknown, run: { stopping?: AbortSignal | undefined; bucket: string; endpoint?: string | undefined }): DatalakeError {
  if (run.stopping?.aborted) throw run.stopping.reason;
  if (endingTheRun.has(error as object)) throw error;
  const explained = explainError(error, { bucket: run.bucket, endpoint: run.endpoint });
  if (isFatalForRun(error)) {
    endingTheRun.add(explained);
    throw explained;
  }
  return explained;
}

