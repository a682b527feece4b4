import { usageError } from '../errors.js';

/** The parts of presigning that need no SDK: limits, the result's shape, and ready command lines. */

/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** `presign --expires` when none is given. */
export const DEFAULT_PRESIGN_EXPIRES = '1h';
/** `presign --method POST --max-size` when none is given: the largest single PUT S3 takes. */
export const DEFAULT_PRESIGN_MAX_SIZE = '5GiB';

export function checkExpiry(seconds: number, text: string): number {
  if (seconds <= 0) throw usageError(`invalid --expires '${text}': it must be more than zero`);
  if (seconds > MAX_PRESIGN_SECONDS) throw usageError(`invalid --expires '${text}': over 7 days, the longest a SigV4 presigned URL lives`);
  return seconds;
}

export interface PresignedRequest {
  url: string;
  method: 'GET' | 'PUT' | 'POST';
  expiresAt: string;
  /** POST only: the form fields to send with the file. */
  fields?: Record<string, string>;
  /** PUT only: headers the uploader must send as signed. */
  headers?: Record<string, string>;
}

/** Single-quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A ready command line that uses the presigned request. */
export function curlCommand(request: PresignedRequest, file = 'FILE'): string {
  if (request.method === 'GET') return `curl -fSL -o ${shellQuote(basename(request.url))} ${shellQuote(request.url)}`;
  if (request.method === 'PUT') {
    const headers = Object.entries(request.headers ?? {}).map(([name, value]) => ` -H ${shellQuote(`${name}: ${value}`)}`).join('');
    return `curl -fS -X PUT -T ${file}${headers} ${shellQuote(request.url)}`;
  }
  const fields = Object.entries(request.fields ?? {}).map(([name, value]) => ` -F ${shellQuote(`${name}=${value}`)}`).join('');
  return `curl -fS${fields} -F file=@${file} ${shellQuote(request.url)}`;
}

function basename(url: string): string {
  const path = new URL(url).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) || 'download';
}
