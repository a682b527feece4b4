import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DatalakeError } from '../errors.js';
import { commonJsExports } from './sdk.js';

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
 * It also keeps the run's clock offset, learnt from the servers' `Date` headers as the AWS SDK learns
 * it, so that a machine whose clock is off still signs requests S3 accepts.
 */

export type ResponseHeaders = Record<string, string>;

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
  /** Connections per origin: the run's concurrency. */
  connections: number;
  /** PEM certificates to trust instead of Node's own (AWS_CA_BUNDLE or the profile's ca_bundle). */
  ca?: string | undefined;
  /** The longest any one request may take, its body included (`--timeout`). */
  timeoutMs: number;
  /** Limits a test may shorten; the defaults are below. */
  firstAnswerTimeoutMs?: number;
  stallTimeoutMs?: number;
}

export const CONNECT_TIMEOUT_MS = 10_000;
/** An endpoint that accepted no connection or gave no answer within this is reported at once. */
export const FIRST_ANSWER_TIMEOUT_MS = 20_000;
/** A request that sends or receives nothing for this long is stalled: retried. */
export const STALL_TIMEOUT_MS = 60_000;
/** A clock this far from the server's is corrected (S3 refuses signatures more than 15 minutes off). */
const CLOCK_SKEW_MS = 5 * 60_000;

/** Errors whose code means the certificate the endpoint showed is not trusted. */
const CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'INVALID_CA',
]);
/** A connection lost before any byte of the answer: on a connection kept alive, the server had closed it. */
const CONNECTION_LOST_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** The endpoint cannot be used at all (never answers, speaks plain http, shows a certificate not trusted): ends the run. */
export class EndpointError extends DatalakeError {
  constructor(
    readonly code: 'EndpointUnanswered' | 'ProxyUnanswered' | 'ProxyRefused' | 'ProxyUnreachable' | 'PlainHttpEndpoint' | 'UntrustedCertificate',
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super('failed', message, options);
    this.name = 'EndpointError';
  }
}

interface Dispatchers {
  http: Dispatcher;
  https: Dispatcher;
}

export class Transport {
  private loading: Promise<Dispatchers> | undefined;
  private dispatchers: Dispatchers | undefined;
  /** Origins that have answered in this run: only they get the stall limit instead of the first-answer one. */
  private readonly answered = new Set<string>();
  /** Server time minus this machine's, once a server's `Date` showed the two more than five minutes apart. */
  clockOffsetMs = 0;

  constructor(private readonly options: TransportOptions) {}

  /** The answer's headers as soon as they arrive, its body as a stream. */
  async request(request: TransportRequest): Promise<TransportResponse> {
    const dispatchers = await (this.loading ??= this.load());
    const dispatcher = request.origin.startsWith('https:') ? dispatchers.https : dispatchers.http;
    const answeredBefore = this.answered.has(request.origin);
    const firstAnswerMs = this.options.firstAnswerTimeoutMs ?? FIRST_ANSWER_TIMEOUT_MS;
    // A --timeout shorter than these ends the request first (the Deadline), and says so.
    const waitMs = answeredBefore ? (this.options.stallTimeoutMs ?? STALL_TIMEOUT_MS) : firstAnswerMs;
    const deadline = new Deadline(this.options.timeoutMs, request.origin, request.signal);
    // The no-answer limit counts idle time, not time since the request went out: it restarts with
    // every piece of the body handed to the socket, so a slow uplink is never mistaken for an
    // endpoint that does not answer. undici's own headersTimeout would count from dispatch.
    deadline.watchIdle(waitMs, answeredBefore);
    const send = () =>
      dispatcher.request({
        origin: request.origin,
        path: request.path,
        method: request.method,
        headers: withLength(request.headers, request.body),
        body: bodyReportingProgress(request.body, () => deadline.touch()),
        signal: deadline.signal,
        headersTimeout: 0,
        bodyTimeout: waitMs,
      });
    let answer: Dispatcher.ResponseData;
    try {
      answer = await this.sendOverLostConnections(send, request, deadline);
    } catch (error) {
      deadline.clear();
      throw this.explain(error, request.origin, answeredBefore, deadline, firstAnswerMs);
    }
    deadline.stopWatchingIdle();
    this.answered.add(request.origin);
    const body = answer.body as unknown as Readable;
    body.once('close', () => deadline.clear());
    body.once('end', () => deadline.clear());
    const headers = flattenHeaders(answer.headers);
    return { status: answer.statusCode, headers, body, clockSkewCorrected: this.learnClock(headers) };
  }

  /**
   * A kept-alive connection the server closed as the request went out: nothing reached it, and it is
   * sent again, as the AWS SDK's agents do — on another connection, which may be another such one
   * (a server that closes its idle connections closes them all), so up to one resend per connection.
   * A connection that had read nothing before (a new one) was not kept alive: its loss is the retry
   * policy's. A streamed body cannot be sent twice.
   */
  private async sendOverLostConnections(send: () => Promise<Dispatcher.ResponseData>, request: TransportRequest, deadline: Deadline): Promise<Dispatcher.ResponseData> {
    for (let resends = 0; ; resends += 1) {
      try {
        return await send();
      } catch (error) {
        const streamed = typeof (request.body as Readable | undefined)?.pipe === 'function';
        if (!lostKeptAliveConnection(error) || streamed || deadline.signal.aborted || resends >= this.options.connections) throw error;
      }
    }
  }

  /** The whole answer. Reading stops once the body passes `limit` bytes: the rest is never received. */
  async requestWhole(request: TransportRequest, limit: number): Promise<WholeResponse> {
    const response = await this.request(request);
    const chunks: Buffer[] = [];
    let kept = 0;
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const body = response.body;
      body.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (kept < limit) {
          const piece = chunk.length <= limit - kept ? chunk : chunk.subarray(0, limit - kept);
          chunks.push(piece);
          kept += piece.length;
        }
        if (received > limit) {
          body.destroy();
          resolve();
        }
      });
      body.once('end', resolve);
      body.once('error', (error) => (received > limit ? resolve() : reject(error)));
    });
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    return { status: response.status, headers: response.headers, body, bodyLength: received, clockSkewCorrected: response.clockSkewCorrected };
  }

  /** Closes the connections; requests still in flight fail. */
  close(): void {
    for (const dispatcher of [this.dispatchers?.http, this.dispatchers?.https]) void dispatcher?.destroy().catch(() => undefined);
  }

  /**
   * One agent per scheme: `HTTPS_PROXY` carries https requests and `HTTP_PROXY` plain-http ones, each
   * alone, as curl and the AWS CLI read them (undici alone would send https through `HTTP_PROXY` when
   * `HTTPS_PROXY` is unset).
   */
  private async load(): Promise<Dispatchers> {
    const { EnvHttpProxyAgent, Pool } = await import('undici').then(commonJsExports<typeof import('undici')>);
    const tls = { ca: this.options.ca, timeout: CONNECT_TIMEOUT_MS };
    const proxyAnswerMs = Math.min(this.options.firstAnswerTimeoutMs ?? FIRST_ANSWER_TIMEOUT_MS, this.options.timeoutMs);
    const options = {
      connections: this.options.connections,
      keepAliveTimeout: 10_000,
      // Direct connections take `connect`, those tunnelled through a proxy `requestTls`.
      connect: tls,
      requestTls: tls,
      // Plain-http requests go to an HTTP proxy as absolute URLs (`GET http://…`), as curl sends them.
      proxyTunnel: false,
      // The proxy's answer to CONNECT: a request waiting for its tunnel is deaf to its abort signal, so
      // the proxy's connection gets the limits itself (otherwise undici's default, 300 s).
      proxyTls: { timeout: CONNECT_TIMEOUT_MS },
      clientFactory: (origin: URL, options: object) => new Pool(origin, { ...options, headersTimeout: proxyAnswerMs }),
    } as ConstructorParameters<typeof EnvHttpProxyAgent>[0];
    // An empty proxy is none: it stops undici from falling back to the other scheme's variable.
    this.dispatchers = { http: new EnvHttpProxyAgent({ ...options, httpsProxy: '' }), https: new EnvHttpProxyAgent({ ...options, httpProxy: '' }) };
    return this.dispatchers;
  }

  /** Corrects the run's clock from an answer's `Date` as the AWS SDK does; true if it moved. */
  private learnClock(headers: ResponseHeaders): boolean {
    const date = headers.date;
    // An answer from a cache (`Age`) may carry an old date.
    if (date === undefined || headers.age !== undefined) return false;
    const serverTime = Date.parse(date);
    if (Number.isNaN(serverTime) || Math.abs(Date.now() + this.clockOffsetMs - serverTime) < CLOCK_SKEW_MS) return false;
    this.clockOffsetMs = serverTime - Date.now();
    return true;
  }

  /** The error a failed request ends with: one that says what is wrong with the endpoint where that is the cause. */
  private explain(error: unknown, origin: string, answeredBefore: boolean, deadline: Deadline, firstAnswerMs: number): unknown {
    if (deadline.expired && !answeredBefore) {
      return new EndpointError('EndpointUnanswered', `no answer from ${origin} within the --timeout of ${deadline.limitMs / 1000} s`, { cause: error });
    }
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : String(error);
    const proxy = proxyUrlFor(origin);
    const tunnelRefused = /^Proxy response \((\d+)\) !== 200/.exec(message);
    if (proxy && tunnelRefused) {
      const variable = origin.startsWith('https:') ? 'HTTPS_PROXY' : 'HTTP_PROXY';
      const status = Number(tunnelRefused[1]);
      const why = status === 401 || status === 403 || status === 407 ? `: check the proxy credentials in ${variable}` : '';
      return new EndpointError('ProxyRefused', `the proxy ${proxy.origin} refused the request (HTTP ${status}${why})`, { cause: error });
    }
    const failedAt = error as { port?: unknown; hostname?: unknown } | null;
    const proxyPort = proxy ? Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80)) : undefined;
    if (proxy && ((code === 'ECONNREFUSED' && failedAt?.port === proxyPort) || ((code === 'ENOTFOUND' || code === 'EAI_AGAIN') && failedAt?.hostname === proxy.hostname))) {
      return new EndpointError('ProxyUnreachable', `cannot connect to the proxy ${proxy.origin}: ${code}`, { hint: 'check HTTPS_PROXY and HTTP_PROXY', cause: error });
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      // Requests themselves run without undici's headersTimeout: only the proxy's CONNECT has one.
      const proxyMs = Math.min(this.options.firstAnswerTimeoutMs ?? FIRST_ANSWER_TIMEOUT_MS, this.options.timeoutMs);
      return new EndpointError('ProxyUnanswered', `no answer from the proxy ${proxyFor(origin)} within ${proxyMs / 1000} s`, { hint: 'check HTTPS_PROXY and HTTP_PROXY', cause: error });
    }
    if (code === 'RequestStalled' && !answeredBefore) {
      return new EndpointError('EndpointUnanswered', `no answer from ${origin} within ${firstAnswerMs / 1000} s`, { hint: 'check the endpoint, and the proxy if one is set', cause: error });
    }
    if (origin.startsWith('https:') && (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(message))) {
      return new EndpointError('PlainHttpEndpoint', `the endpoint speaks plain http: use ${origin.replace(/^https:/, 'http:')}`, { cause: error });
    }
    if (typeof code === 'string' && CERTIFICATE_CODES.has(code)) {
      return new EndpointError('UntrustedCertificate', `the certificate of ${origin} is not trusted: ${message}`, { hint: certificateHint(code), cause: error });
    }
    if (!answeredBefore && (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')) {
      const what = code === 'UND_ERR_CONNECT_TIMEOUT' ? 'could not connect to' : 'no answer from';
      const within = code === 'UND_ERR_CONNECT_TIMEOUT' ? CONNECT_TIMEOUT_MS : firstAnswerMs;
      return new EndpointError('EndpointUnanswered', `${what} ${origin} within ${within / 1000} s`, { hint: 'check the endpoint, and the proxy if one is set', cause: error });
    }
    return error;
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

/** What to do about a certificate refused for this reason: only an unknown authority is a matter of the CA bundle. */
function certificateHint(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'the certificate does not name this host: use the host name it was issued for in the endpoint';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return "the certificate is outside its validity dates: renew it on the server, or check this machine's clock";
  if (code === 'CERT_REVOKED') return 'the certificate was revoked: the server needs a new one';
  return "set AWS_CA_BUNDLE, or the profile's ca_bundle, to the certificate of the authority that signed it";
}

/** The proxy undici sends requests to `origin` through, as EnvHttpProxyAgent picks it (NO_PROXY aside). */
function proxyUrlFor(origin: string): URL | undefined {
  const env = process.env;
  const proxy = origin.startsWith('https:') ? (env.https_proxy ?? env.HTTPS_PROXY) : (env.http_proxy ?? env.HTTP_PROXY);
  try {
    return proxy ? new URL(proxy) : undefined;
  } catch {
    return undefined;
  }
}

/** That proxy's origin, which never carries its password. */
function proxyFor(origin: string): string {
  return proxyUrlFor(origin)?.origin ?? 'in HTTPS_PROXY/HTTP_PROXY';
}

function lostKeptAliveConnection(error: unknown): boolean {
  const record = error as { code?: unknown; socket?: { bytesRead?: number } } | null;
  return typeof record?.code === 'string' && CONNECTION_LOST_CODES.has(record.code) && (record.socket?.bytesRead ?? 0) > 0;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): ResponseHeaders {
  const flat: ResponseHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * One request's time limit (`--timeout`), tied to the caller's signal; cleared when its answer is read.
 * Past it the request, or the reading of its body, fails with a transient RequestTimeout naming the limit.
 */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly unlink: () => void;
  private idleTimer: NodeJS.Timeout | undefined;
  expired = false;
  readonly signal: AbortSignal;

  constructor(
    readonly limitMs: number,
    private readonly origin: string,
    parent: AbortSignal | undefined,
  ) {
    this.signal = this.controller.signal;
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(Object.assign(new Error(`no complete answer from ${origin} within the --timeout of ${limitMs / 1000} s`), { code: 'RequestTimeout' }));
    }, limitMs);
    this.timer.unref();
    if (parent?.aborted) this.controller.abort(parent.reason);
    const onAbort = () => this.controller.abort(parent?.reason);
    parent?.addEventListener('abort', onAbort, { once: true });
    this.unlink = () => parent?.removeEventListener('abort', onAbort);
  }

  /**
   * Fails the request with a RequestStalled naming the endpoint once nothing has moved for `idleMs`:
   * restarted by `touch` (a piece of the body sent), stopped when the answer's headers arrive (undici's
   * bodyTimeout watches its body).
   */
  watchIdle(idleMs: number, answeredBefore: boolean): void {
    this.idleTimer = setTimeout(() => {
      const what = answeredBefore ? `${this.origin} sent and received nothing for ${idleMs / 1000} s` : `no answer from ${this.origin} within ${idleMs / 1000} s`;
      this.controller.abort(Object.assign(new Error(what), { code: 'RequestStalled' }));
    }, idleMs);
    this.idleTimer.unref();
  }

  touch(): void {
    this.idleTimer?.refresh();
  }

  stopWatchingIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.stopWatchingIdle();
    this.unlink();
  }
}
