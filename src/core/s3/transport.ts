import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { loadDispatchers, type Dispatchers } from './agents.js';
import { Deadline, Deadlines, FIRST_ANSWER_TIMEOUT_MS, STALL_TIMEOUT_MS } from './deadlines.js';
import { lostKeptAliveConnection, watchKeptAliveConnections } from './kept-alive.js';
import { explainFailure } from './transport-errors.js';
import { flattenHeaders, WholeAnswer, type CollectedAnswer, type ResponseHeaders } from './whole-answer.js';

export { CONNECT_TIMEOUT_MS, FIRST_ANSWER_TIMEOUT_MS, STALL_TIMEOUT_MS } from './deadlines.js';
export { EndpointError } from './transport-errors.js';
export type { ResponseHeaders } from './whole-answer.js';

/**
 * Every request datalake sends — the direct path's (requests.ts) and the SDK client's (through
 * sdk-http-handler.ts) — goes out here, on undici (Node's own HTTP client): one `EnvHttpProxyAgent`
 * per run, so `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` are honoured as curl and the AWS CLI honour
 * them, with the run's CA bundle, keep-alive connections (as many per origin as the run's
 * concurrency) and its time limits. undici is loaded with the first request: `--help` or a
 * bad-input run never pays for it.
 *
 * Time limits:
 * - an endpoint that has not answered once in this run gets FIRST_ANSWER_TIMEOUT_MS (or the
 *   `--timeout`, if shorter) of silence; past that the run ends with one line naming it
 *   (EndpointUnanswered), never retried. Silence is idle time: every piece of the body sent restarts
 *   the clock, so a slow upload is not mistaken for an endpoint that never answers;
 * - after that, a request that sends or receives nothing for STALL_TIMEOUT_MS fails as a transient
 *   error, retried by the one retry policy (retry.ts);
 * - no request, its answer's body included, lasts longer than the run's `--timeout`.
 *
 * The limits are watched by one coarse timer (deadlines.ts); agents.ts sets up undici's agents and
 * proxies, transport-errors.ts says what a failure means, kept-alive.ts which failures were a
 * kept-alive connection the server had closed, whole-answer.ts reads a short answer.
 *
 * It also keeps the run's clock offset, learnt from the servers' `Date` headers as the AWS SDK learns
 * it, so that a machine whose clock is off still signs requests S3 accepts.
 */

export type Method = 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST';

export interface TransportRequest {
  method: Method;
  /** `http://host:port` or `https://host:port`. */
  origin: string;
  /** Path and query, already encoded. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer | Uint8Array | string | Readable | undefined;
  signal?: AbortSignal | undefined;
}

export interface TransportResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: ResponseHeaders;
  /** The body as it arrives; read it to the end, or destroy it. */
  body: Readable;
  /** This answer's `Date` showed the run's clock more than five minutes off, and the offset was corrected. */
  clockSkewCorrected: boolean;
}

/** An answer read to its end, or to its limit. */
export interface WholeResponse {
  status: number;
  headers: ResponseHeaders;
  /** The body, at most the request's limit. */
  body: Buffer;
  /** Bytes received: more than `body.length` when the body passed the limit (reading stopped there). */
  bodyLength: number;
  clockSkewCorrected: boolean;
}

export interface TransportOptions {
  /** Connections per origin: as many as the run's requests at once (limiter.ts, both lanes). */
  connections: number;
  /** PEM certificates to trust instead of Node's own (AWS_CA_BUNDLE or the profile's ca_bundle). */
  ca?: string | undefined;
  /** The longest any one request may take, its body included (`--timeout`). */
  timeoutMs: number;
  /** Limits a test may shorten; the defaults are below. */
  firstAnswerTimeoutMs?: number;
  stallTimeoutMs?: number;
}

/** A clock this far from the server's is corrected (S3 refuses signatures more than 15 minutes off). */
const CLOCK_SKEW_MS = 5 * 60_000;

/** One request on its way: its dispatcher, its limits, and whether its endpoint had answered before. */
interface Sending {
  dispatcher: Dispatcher;
  deadline: Deadline;
  answeredBefore: boolean;
  waitMs: number;
}

export class Transport {
  private loading: Promise<Dispatchers> | undefined;
  private dispatchers: Dispatchers | undefined;
  /** Origins that have answered in this run: only they get the stall limit instead of the first-answer one. */
  private readonly answered = new Set<string>();
  private readonly deadlines: Deadlines;
  private readonly firstAnswerMs: number;
  private readonly stallMs: number;
  /** Server time minus this machine's, once a server's `Date` showed the two more than five minutes apart. */
  clockOffsetMs = 0;
  /** The last `Date` found within five minutes of the run's clock (after any correction). */
  private lastDateInLine: string | undefined;

  constructor(private readonly options: TransportOptions) {
    this.firstAnswerMs = options.firstAnswerTimeoutMs ?? FIRST_ANSWER_TIMEOUT_MS;
    this.stallMs = options.stallTimeoutMs ?? STALL_TIMEOUT_MS;
    this.deadlines = new Deadlines(Deadlines.tickFor(options.timeoutMs, this.firstAnswerMs, this.stallMs));
  }

  /** The answer's headers as soon as they arrive, its body as a stream. */
  async request(request: TransportRequest): Promise<TransportResponse> {
    const sending = await this.start(request);
    const { dispatcher, deadline, waitMs } = sending;
    const signal = deadline.signal();
    const send = () =>
      dispatcher.request({
        origin: request.origin,
        path: request.path,
        method: request.method,
        headers: withLength(request.headers, request.body),
        body: bodyReportingProgress(request.body, () => deadline.touch()),
        signal,
        headersTimeout: 0,
        bodyTimeout: waitMs,
      });
    let answer: Dispatcher.ResponseData;
    try {
      answer = await this.sendOverLostConnections(send, request, deadline);
    } catch (error) {
      throw this.failed(error, request, sending);
    }
    const headers = flattenHeaders(answer.headers);
    const clockSkewCorrected = this.answeredWith(request.origin, deadline, headers);
    const body = answer.body as unknown as Readable;
    body.once('close', () => deadline.clear());
    body.once('end', () => deadline.clear());
    return { status: answer.statusCode, headers, body, clockSkewCorrected };
  }

  /**
   * The whole answer. Reading stops once the body passes `limit` bytes: the rest is never received.
   * Read by undici's dispatcher with a small handler (whole-answer.ts), never as a stream.
   */
  async requestWhole(request: TransportRequest, limit: number): Promise<WholeResponse> {
    const sending = await this.start(request);
    const { dispatcher, deadline, waitMs } = sending;
    let clockSkewCorrected = false;
    let bodyDone!: Promise<CollectedAnswer>;
    const send = () =>
      new Promise<void>((headersArrived, failedBeforeHeaders) => {
        bodyDone = new Promise<CollectedAnswer>((resolve, reject) => {
          const onAnswer = (answer: WholeAnswer) => {
            clockSkewCorrected = this.answeredWith(request.origin, deadline, answer.headers);
            headersArrived();
          };
          const onError = (error: unknown, afterHeaders: boolean) => {
            if (afterHeaders) reject(error);
            else failedBeforeHeaders(error);
          };
          const handler = new WholeAnswer(limit, deadline, onAnswer, resolve, onError);
          const options = { origin: request.origin, path: request.path, method: request.method, headers: withLength(request.headers, request.body), headersTimeout: 0, bodyTimeout: waitMs };
          dispatcher.dispatch({ ...options, body: bodyReportingProgress(request.body, () => deadline.touch()) } as Dispatcher.DispatchOptions, handler);
        });
        // Settled through the promise above; one that fails before the headers fails `send` instead.
        bodyDone.catch(() => undefined);
      });
    try {
      await this.sendOverLostConnections(send, request, deadline);
    } catch (error) {
      throw this.failed(error, request, sending);
    }
    let answer: CollectedAnswer;
    try {
      answer = await bodyDone;
    } catch (error) {
      deadline.clear();
      throw error;
    }
    return { ...answer, clockSkewCorrected };
  }

  /** The dispatcher and limits of a request about to go out. */
  private async start(request: TransportRequest): Promise<Sending> {
    const dispatchers = this.dispatchers ?? (await (this.loading ??= this.load()));
    const dispatcher = request.origin.startsWith('https:') ? dispatchers.https : dispatchers.http;
    const answeredBefore = this.answered.has(request.origin);
    // A --timeout shorter than these ends the request first (the Deadline), and says so.
    const waitMs = answeredBefore ? this.stallMs : this.firstAnswerMs;
    const deadline = new Deadline(this.deadlines, this.options.timeoutMs, request.origin, request.signal);
    // The no-answer limit counts idle time, not time since the request went out: it restarts with
    // every piece of the body handed to the socket, so a slow uplink is never mistaken for an
    // endpoint that does not answer. undici's own headersTimeout would count from dispatch.
    deadline.watchIdle(waitMs, answeredBefore);
    return { dispatcher, deadline, answeredBefore, waitMs };
  }

  /** The answer's headers are in: the endpoint has answered, and its Date may correct the clock. */
  private answeredWith(origin: string, deadline: Deadline, headers: ResponseHeaders): boolean {
    deadline.stopWatchingIdle();
    this.answered.add(origin);
    return this.learnClock(headers);
  }

  private failed(error: unknown, request: TransportRequest, sending: Sending): unknown {
    const { deadline, answeredBefore } = sending;
    deadline.clear();
    const proxyAnswerMs = Math.min(this.firstAnswerMs, this.options.timeoutMs);
    return explainFailure(error, { origin: request.origin, answeredBefore, expired: deadline.expired, limitMs: deadline.limitMs, firstAnswerMs: this.firstAnswerMs, proxyAnswerMs });
  }

  /**
   * A kept-alive connection the server closed as the request went out: nothing reached it, and it is
   * sent again, as the AWS SDK's agents do — on another connection, which may be another such one
   * (a server that closes its idle connections closes them all), so up to one resend per connection.
   * Which losses are that (kept-alive.ts): the connection had completed an earlier exchange, and
   * nothing of this answer arrived. A new connection, one that had begun to answer, and a write that
   * failed (the server may have answered and closed, as S3 refuses an upload from its headers) are
   * the retry policy's. A streamed body cannot be sent twice.
   *
   * Why here, below the retry policy (retry.ts), and not a classification in it: the request never
   * reached the server, so it is not an attempt. Resent at once it costs no backoff wait, no retry
   * notice and none of `--retries` (with `--retries 0`, a server closing idle connections must not
   * fail a run), and it stays inside the request's one limiter slot and its deadline; the policy
   * sees only what the server, or the network after sending began, did to the request.
   */
  private async sendOverLostConnections<T>(send: () => Promise<T>, request: TransportRequest, deadline: Deadline): Promise<T> {
    for (let resends = 0; ; resends += 1) {
      try {
        return await send();
      } catch (error) {
        const streamed = typeof (request.body as Readable | undefined)?.pipe === 'function';
        if (!lostKeptAliveConnection(error) || streamed || deadline.aborted || resends >= this.options.connections) throw error;
      }
    }
  }

  /** Closes the connections; requests still in flight fail. */
  close(): void {
    for (const dispatcher of [this.dispatchers?.http, this.dispatchers?.https]) void dispatcher?.destroy().catch(() => undefined);
  }

  private async load(): Promise<Dispatchers> {
    watchKeptAliveConnections();
    const proxyAnswerMs = Math.min(this.firstAnswerMs, this.options.timeoutMs);
    this.dispatchers = await loadDispatchers({ connections: this.options.connections, ca: this.options.ca, proxyAnswerMs });
    return this.dispatchers;
  }

  /** Corrects the run's clock from an answer's `Date` as the AWS SDK does; true if it moved. */
  private learnClock(headers: ResponseHeaders): boolean {
    const date = headers.date;
    // An answer from a cache (`Age`) may carry an old date.
    if (date === undefined || headers.age !== undefined) return false;
    // `Date` has one-second resolution: most answers repeat the last one's, already found in line.
    if (date === this.lastDateInLine) return false;
    const serverTime = Date.parse(date);
    if (Number.isNaN(serverTime)) return false;
    if (Math.abs(Date.now() + this.clockOffsetMs - serverTime) < CLOCK_SKEW_MS) {
      this.lastDateInLine = date;
      return false;
    }
    this.clockOffsetMs = serverTime - Date.now();
    this.lastDateInLine = date;
    return true;
  }
}

/** Pieces a body in memory is handed to the socket in: each one handed over is progress. */
const BODY_PIECE_BYTES = 256 * 1024;

/**
 * The body as undici should send it, calling `progress` each time undici takes the next piece — which
 * it does once the previous one has left for the socket — and once the whole body is handed over.
 */
function bodyReportingProgress(body: TransportRequest['body'], progress: () => void): Dispatcher.RequestOptions['body'] {
  if (body === undefined || typeof body === 'string') return body ?? null;
  if (body instanceof Uint8Array) {
    if (body.length <= BODY_PIECE_BYTES) return body;
    return (function* pieces() {
      for (let at = 0; at < body.length; at += BODY_PIECE_BYTES) {
        progress();
        yield body.subarray(at, at + BODY_PIECE_BYTES);
      }
      progress();
    })() as unknown as Readable;
  }
  return (async function* pieces() {
    for await (const chunk of body) {
      progress();
      yield chunk as Buffer;
    }
    progress();
  })() as unknown as Readable;
}

/** A body in memory sent in pieces still goes with its length, as undici sends a whole one (not chunked). */
function withLength(headers: Record<string, string>, body: TransportRequest['body']): Record<string, string> {
  if (!(body instanceof Uint8Array) || body.length <= BODY_PIECE_BYTES) return headers;
  for (const name in headers) if (name.toLowerCase() === 'content-length') return headers;
  return { ...headers, 'content-length': String(body.length) };
}
