import { DatalakeError, describeError, describeSystemError, failure } from '../errors.js';
import { clockSkewCorrected, errorCodeOf, httpStatusOf } from './retry.js';
import { failedRequestOf } from './transport-errors.js';

/**
 * Turns what the SDK or the network threw into one line a user can act on. Secrets never appear:
 * messages are built from codes and names, not from request dumps.
 */
export function explainError(error: unknown, context: { bucket?: string | undefined; endpoint?: string | undefined } = {}): DatalakeError {
  if (error instanceof DatalakeError) return error;
  const code = errorCodeOf(error);
  const status = httpStatusOf(error);
  // The bucket the server names in its answer (NoSuchBucket carries it), else the one the caller meant.
  const named = typeof (error as { BucketName?: unknown })?.BucketName === 'string' ? (error as { BucketName: string }).BucketName : context.bucket;
  const bucket = named ? ` '${named}'` : '';
  const where = context.endpoint ?? 'the S3 endpoint';
  // Which server refused: the custom endpoint when there is one (a wrong secret for MinIO, or the right one sent elsewhere).
  const server = context.endpoint ? `the server at ${context.endpoint}` : 'the server';
  // S3 refuses a signature dated more than 15 minutes from its clock; a HEAD's 403 carries no code, but
  // its Date showed the clock off (and the one correction did not help).
  if (code === 'RequestTimeTooSkewed' || (status === 403 && clockSkewCorrected(error))) {
    return failure('the clock of this machine is off by more than 15 minutes (RequestTimeTooSkewed)', { hint: "set this machine's clock (NTP)", cause: error });
  }
  // The working folder removed under the shell: found as the run starts (Node asks for it once), before any transfer.
  if ((error as { syscall?: unknown } | null)?.syscall === 'uv_cwd') {
    return new DatalakeError('usage', describeSystemError(error) ?? describeError(error), { hint: 'change to a folder that exists and run the command again', cause: error });
  }
  switch (code) {
    case 'NoSuchBucket':
      return failure(`no such bucket${bucket}`, { hint: 'create it with `datalake init`', cause: error });
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return failure(`access denied${bucket}`, { hint: 'check the credentials in use and the bucket policy', cause: error });
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'InvalidToken':
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
      return failure(`${server} rejected the credentials (${code})`, {
        hint: 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile',
        cause: error,
      });
    case 'CredentialsProviderError':
      return failure('no AWS credentials found', { hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or --profile', cause: error });
    case 'ECONNREFUSED':
      return failure(`cannot connect to ${where}: connection refused`, { hint: 'is the server running? check --endpoint / AWS_ENDPOINT_URL', cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return failure(`cannot resolve the host of ${where}`, { hint: 'check --endpoint / AWS_ENDPOINT_URL and the network', cause: error });
    case 'ENOSPC':
    case 'EDQUOT':
      return failure(`no space left on the local disk${code === 'EDQUOT' ? ' (quota)' : ''}`, { hint: 'free some space and run the command again', cause: error });
    case 'NotAnS3Answer':
      return failure((error as Error).message, { hint: 'check that --endpoint / AWS_ENDPOINT_URL names an S3 service', cause: error });
    case 'DamagedAnswer':
      // What was damaged is in the message; every retry of it came back damaged too.
      return failure((error as Error).message, { hint: 'asked again after each retry, damaged each time; run the command again', cause: error });
    case 'PreconditionFailed':
      return failure('the object changed on the server during the transfer', { hint: 'run the command again', cause: error });
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
      return failure(`the bucket${bucket} is in another region`, { hint: 'pass --region or set AWS_REGION', cause: error });
    default:
      break;
  }
  // A request that failed below HTTP (no answer, or its body broke off): which request, and where to.
  const request = failedRequestOf(error);
  if (request && status === undefined) return failure(`${request.request} at ${request.origin} failed: ${describeError(error)}`, { cause: error });
  // A HEAD's 403 has no body to tell a wrong secret from a policy's refusal: both are said.
  if (status === 403) {
    return failure(`${server} refused the request${bucket} (HTTP 403, no reason given): the credentials were rejected or are not allowed this`, {
      hint: 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, and the bucket policy',
      cause: error,
      code: 'AccessDenied',
    });
  }
  if (status === 404 && bucket) return failure(`not found${bucket} (HTTP 404)`, { cause: error });
  return failure(describeError(error), { cause: error });
}

/** Errors that will fail every other object the same way: stop the run at the first of them. */
export function isFatalForRun(error: unknown): boolean {
  const code = errorCodeOf(error);
  return (
    code !== undefined &&
    [
      'NoSuchBucket', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'CredentialsProviderError',
      'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'PermanentRedirect', 'AuthorizationHeaderMalformed', 'AllAccessDisabled',
      // The transport's EndpointError: the endpoint (or the proxy) never answers, speaks plain http, or shows an untrusted certificate.
      'EndpointUnanswered', 'ProxyUnanswered', 'ProxyRefused', 'ProxyUnreachable', 'PlainHttpEndpoint', 'UntrustedCertificate',
    ].includes(code)
  );
}

/**
 * The one code `--json` reports for an error, wherever it is printed (a fatal error's document, a
 * failed item): the code the error was given, else the server's or the system's, else its kind.
 */
export function jsonErrorCode(error: DatalakeError): string {
  const own = error.jsonCode ?? (error as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  const cause = error.cause;
  const code = cause === undefined || cause instanceof DatalakeError ? undefined : errorCodeOf(cause);
  if (cause instanceof DatalakeError) return jsonErrorCode(cause);
  return code ?? error.kind;
}
