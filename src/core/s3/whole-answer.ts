import type { Dispatcher } from 'undici';
import type { Deadline } from './deadlines.js';

/** Lower-case names; repeated headers joined with ", ". */
export type ResponseHeaders = Record<string, string>;

/** An answer read whole by `WholeAnswer`: its body is at most the limit; `bodyLength` counts every byte received. */
export interface CollectedAnswer {
  status: number;
  headers: ResponseHeaders;
  body: Buffer;
  bodyLength: number;
}

/**
 * An answer read to its end, or to its limit, straight from undici's dispatcher (`dispatch` with this
 * handler) rather than through its `request()`: no async resource, no stream and no promise per
 * answer, headers read once into the shape the callers use. A small PUT's or GET's answer is a
 * handful of headers and at most a few KiB. Reading stops once the body passes the limit: the
 * connection is dropped, the rest never received.
 *
 * `headers` settles with the answer's headers (or the error before them, which the sender explains
 * or sends again); `done` with the whole answer, or the error that cut its body short.
 */
export class WholeAnswer implements Dispatcher.DispatchHandler {
  status = 0;
  headers: ResponseHeaders = {};
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private received = 0;
  private answered = false;
  private settled = false;
  private abortRequest: ((error: Error) => void) | undefined;

  constructor(
    private readonly limit: number,
    private readonly deadline: Deadline,
    private readonly onAnswer: (answer: WholeAnswer) => void,
    private readonly resolve: (answer: CollectedAnswer) => void,
    private readonly reject: (error: unknown, afterHeaders: boolean) => void,
  ) {
    // As undici's request() does: a request not yet on a connection is stopped once it gets one.
    deadline.abortWith((reason) => this.abortRequest?.(reason as Error));
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abortRequest = abort;
    if (this.deadline.aborted) abort(this.deadline.reason as Error);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], _resume: () => void): boolean {
    this.status = statusCode;
    this.headers = flattenRawHeaders(rawHeaders);
    this.answered = true;
    this.onAnswer(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.received += chunk.length;
    if (this.kept < this.limit) {
      const piece = chunk.length <= this.limit - this.kept ? chunk : chunk.subarray(0, this.limit - this.kept);
      this.chunks.push(piece);
      this.kept += piece.length;
    }
    if (this.received > this.limit) {
      this.finish();
      this.abortRequest?.(new Error('answer past its limit: not read further'));
      return false;
    }
    return true;
  }

  onComplete(): void {
    this.finish();
  }

  onError(error: Error): void {
    if (this.received > this.limit) this.finish();
    else this.fail(error);
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.deadline.clear();
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.resolve({ status: this.status, headers: this.headers, body, bodyLength: this.received });
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error, this.answered);
  }
}

/** undici's raw headers (name, value, name, value…) as one record: lower-case names, values as latin1 as undici reads them. */
export function flattenRawHeaders(raw: ReadonlyArray<Buffer | string>): ResponseHeaders {
  const flat: ResponseHeaders = {};
  for (let at = 0; at + 1 < raw.length; at += 2) {
    const name = raw[at]!.toString('latin1').toLowerCase();
    const value = raw[at + 1]!.toString('latin1');
    const before = flat[name];
    // Own values are strings; what the prototype holds (`constructor`…) is not.
    flat[name] = typeof before === 'string' ? `${before}, ${value}` : value;
  }
  return flat;
}

/** undici's parsed headers as one record: repeated headers joined with ", ". */
export function flattenHeaders(headers: Record<string, string | string[] | undefined>): ResponseHeaders {
  const flat: ResponseHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
