import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';

/**
 * A small HTTP/1.1 client: keep-alive connections to one origin, one request at a time on each, the
 * request line, headers and a small body written in one call, the answer parsed by hand. It carries
 * the requests that move the bytes (see direct-requests.ts): node:http spends about 0.3 ms of CPU
 * per request in its ClientRequest, agent and parser machinery, this about a tenth of that, and on a
 * 2-core machine that shares its CPU with the server that is the difference in files per second.
 * Small answers are handed over whole; large bodies as a stream. It speaks only what S3 answers
 * with: a Content-Length or chunked body, or one that ends with the connection.
 */

export type ResponseHeaders = Record<string, string>;

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: ResponseHeaders;
  /** The body as it arrives; read it to the end, or destroy it. */
  body: Readable;
}

/** An answer read to its end: for the small ones (a PUT's, an error's, a list page), no stream is needed. */
export interface WholeResponse {
  status: number;
  headers: ResponseHeaders;
  /** The body, cut at the request's limit (the rest is read and dropped). */
  body: Buffer;
  /** The body's length as it arrived: more than `body.length` when the limit cut it. */
  bodyLength: number;
}

export interface HttpRequest {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST';
  /** Path and query, already encoded. */
  path: string;
  /** Must include `host`. */
  headers: Record<string, string>;
  body?: Buffer | undefined;
  signal?: AbortSignal | undefined;
}

export interface PoolOptions {
  /** A connection that sends or receives nothing for this long while busy fails with ETIMEDOUT. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** Certificate authorities to trust instead of Node's (a test's own, say). */
  ca?: string | Buffer | undefined;
  /** `requestWhole` keeps at most this many bytes of a body. */
  wholeBodyLimit?: number | undefined;
}

/** Headers larger than this are not an S3 answer. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Bodies up to this size are copied behind the headers and sent in one write. */
const COALESCE_LIMIT = 64 * 1024;
/** Each connection's buffer for that one write: the largest coalesced body and room for its headers. */
const SCRATCH_SIZE = COALESCE_LIMIT + 16 * 1024;
const DEFAULT_WHOLE_BODY_LIMIT = 4 * 1024 * 1024;
/** Each plain connection reads into one buffer this large. */
const READ_BUFFER_SIZE = 1024 * 1024;

/** Keep-alive connections to one origin (`http://host:port` or `https://host:port`). */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly secure: boolean;
  private readonly host: string;
  private readonly port: number;

  constructor(
    origin: URL,
    private readonly options: PoolOptions,
  ) {
    this.secure = origin.protocol === 'https:';
    this.host = origin.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(origin.port || (this.secure ? 443 : 80));
  }

  /** The answer's headers as soon as they arrive, its body as a stream. */
  request(request: HttpRequest): Promise<HttpResponse> {
    return this.send(request, undefined) as Promise<HttpResponse>;
  }

  /**
   * The whole answer, once it has all arrived: the connection is back in the pool by then. At most
   * `bodyLimit` bytes of the body are kept (the pool's `wholeBodyLimit` unless given).
   */
  requestWhole(request: HttpRequest, bodyLimit?: number): Promise<WholeResponse> {
    return this.send(request, bodyLimit ?? this.options.wholeBodyLimit ?? DEFAULT_WHOLE_BODY_LIMIT) as Promise<WholeResponse>;
  }

  /** `wholeLimit` undefined: the body as a stream; else collected, up to that many bytes. */
  private async send(request: HttpRequest, wholeLimit: number | undefined): Promise<HttpResponse | WholeResponse> {
    const head = serializeHead(request);
    if (request.signal?.aborted) throw abortError(request.signal);
    const reused = this.takeIdle();
    if (reused) {
      try {
        return await reused.exchange(request, head, wholeLimit);
      } catch (error) {
        // The server closed a kept-alive connection as the request went out; nothing reached it.
        if (!reused.answered && isConnectionLoss(error) && !request.signal?.aborted) return this.connect().exchange(request, head, wholeLimit);
        throw error;
      }
    }
    return this.connect().exchange(request, head, wholeLimit);
  }

  /** Closes the idle connections; those in use close when their answer is read. */
  close(): void {
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  private takeIdle(): Connection | undefined {
    for (;;) {
      const connection = this.idle.pop();
      if (!connection || connection.usable) return connection;
    }
  }

  private connect(): Connection {
    const onIdle = (connection: Connection) => this.idle.push(connection);
    if (this.secure) {
      const socket = tls.connect({
        host: this.host,
        port: this.port,
        ALPNProtocols: ['http/1.1'],
        ...(net.isIP(this.host) ? {} : { servername: this.host }),
        ...(this.options.ca ? { ca: this.options.ca } : {}),
      });
      socket.setNoDelay(true);
      return new Connection(socket, this.options, onIdle, false);
    }
    // Plain TCP reads straight into one buffer per connection: no stream machinery and no new
    // buffer per read. The connection copies out only the bytes it keeps.
    let connection: Connection | undefined;
    const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    const socket = net.connect({
      host: this.host,
      port: this.port,
      onread: {
        buffer: readBuffer,
        callback: (length) => {
          connection!.onData(readBuffer.subarray(0, length), true);
          return true; // a body reader that wants no more pauses the socket itself
        },
      },
    });
    socket.setNoDelay(true);
    connection = new Connection(socket, this.options, onIdle, true);
    return connection;
  }
}

type BodyFraming = { kind: 'none' } | { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'until-close' };

/** One socket; one exchange at a time. */
class Connection {
  /** Whether any byte of the current answer arrived (a request that got none may be sent again). */
  answered = false;
  private closed = false;
  private busy = false;
  private connected = false;
  private pending: Buffer | undefined;
  private current: Exchange | undefined;
  private scratch: Buffer | undefined;
  private scratchInUse = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: PoolOptions,
    private readonly onIdle: (connection: Connection) => void,
    readsIntoOwnBuffer: boolean,
  ) {
    if (!readsIntoOwnBuffer) socket.on('data', (chunk: Buffer) => this.onData(chunk, false));
    socket.on('end', () => this.onClose(undefined));
    socket.on('error', (error) => this.onClose(error));
    socket.on('close', () => this.onClose(undefined));
    socket.on('timeout', () => {
      const what = this.connected ? `no answer for ${options.idleTimeoutMs / 1000} s` : `could not connect within ${options.connectTimeoutMs / 1000} s`;
      socket.destroy(Object.assign(new Error(what), { code: 'ETIMEDOUT' }));
    });
    // Set once: Node restarts the timer on every read and write. An idle connection left in the pool
    // that long is closed too, as servers close theirs.
    socket.setTimeout(options.connectTimeoutMs);
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      socket.setTimeout(options.idleTimeoutMs);
    });
  }

  get usable(): boolean {
    return !this.closed && !this.busy;
  }

  exchange(request: HttpRequest, head: string, wholeLimit: number | undefined): Promise<HttpResponse | WholeResponse> {
    return new Promise<HttpResponse | WholeResponse>((resolve, reject) => {
      this.busy = true;
      this.answered = false;
      this.pending = undefined;
      const exchange = new Exchange(request.method, this.socket, resolve, reject, wholeLimit);
      this.current = exchange;
      if (request.signal) exchange.watch(request.signal, (error) => this.fail(error));
      this.socket.ref();
      const body = request.body;
      if (!body || body.length === 0) this.socket.write(head, 'latin1');
      else if (body.length <= COALESCE_LIMIT) this.writeCoalesced(head, body);
      else {
        this.socket.cork();
        this.socket.write(head, 'latin1');
        this.socket.write(body);
        this.socket.uncork();
      }
    });
  }

  /**
   * Headers and a small body in one write, through this connection's own buffer while no earlier
   * write still holds it (the socket keeps a buffer until it is written): no allocation per request.
   */
  private writeCoalesced(head: string, body: Buffer): void {
    const length = head.length + body.length;
    const reuse = !this.scratchInUse && length <= SCRATCH_SIZE;
    const message = reuse ? (this.scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE)).subarray(0, length) : Buffer.allocUnsafe(length);
    message.write(head, 0, 'latin1');
    body.copy(message, head.length);
    if (!reuse) {
      this.socket.write(message);
      return;
    }
    this.scratchInUse = true;
    this.socket.write(message, () => {
      this.scratchInUse = false;
    });
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** Bytes read from the socket; `reused` when `chunk` is the read buffer, overwritten by the next read. */
  onData(chunk: Buffer, reused: boolean): void {
    const exchange = this.current;
    if (!exchange) {
      // Bytes nobody asked for: the connection cannot be trusted any more.
      this.destroy();
      return;
    }
    this.answered = true;
    let data = chunk;
    if (exchange.phase === 'head') {
      data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      this.pending = undefined;
      let parsed: ReturnType<typeof parseHead>;
      try {
        parsed = parseHead(data, exchange.method);
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      if (!parsed) {
        if (data.length > MAX_HEAD_BYTES) this.fail(protocolError('response headers too large'));
        else this.pending = reused && data === chunk ? Buffer.from(data) : data;
        return;
      }
      exchange.begin(parsed);
      data = data.subarray(parsed.headLength);
    }
    try {
      if (exchange.feed(data, reused)) this.finish(exchange);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** The answer is complete: the connection goes back to the pool, or is closed if it may not be reused. */
  private finish(exchange: Exchange): void {
    this.current = undefined;
    this.busy = false;
    exchange.done();
    if (exchange.keepAlive && !this.closed) {
      // The body's last push may have paused the socket; its reader will not ask again.
      this.socket.resume();
      this.socket.unref();
      this.onIdle(this);
    } else this.destroy();
  }

  private fail(error: Error): void {
    const exchange = this.current;
    this.current = undefined;
    this.destroy();
    exchange?.fail(error);
  }

  private onClose(error: Error | undefined): void {
    const exchange = this.current;
    if (exchange && !error && exchange.endsWithClose()) {
      this.current = undefined;
      this.closed = true;
      this.socket.destroy();
      exchange.done();
      return;
    }
    this.closed = true;
    if (exchange) this.fail(error ?? connectionLost(exchange.phase === 'head' ? 'socket hang up' : 'the connection closed in the middle of the body'));
    else this.socket.destroy();
  }
}

/**
 * One request's answer: its headers first, then its body pushed into a Readable as it arrives, or,
 * with a `wholeLimit`, collected and handed over with the headers once complete.
 */
class Exchange {
  phase: 'head' | 'body' = 'head';
  keepAlive = true;
  private framing: BodyFraming = { kind: 'none' };
  private body: Readable | undefined;
  private head: ParsedHead | undefined;
  private collected: Buffer[] = [];
  private collectedLength = 0;
  private receivedLength = 0;
  private chunk = { size: -1, trailer: false, pendingLine: '' };
  private unwatch: (() => void) | undefined;
  private settled = false;

  constructor(
    readonly method: string,
    private readonly socket: net.Socket,
    private readonly resolve: (response: HttpResponse | WholeResponse) => void,
    private readonly reject: (error: Error) => void,
    private readonly wholeLimit: number | undefined,
  ) {}

  watch(signal: AbortSignal, onAbort: (error: Error) => void): void {
    this.unwatch = abortWatch.watch(signal, onAbort);
  }

  begin(parsed: ParsedHead): void {
    this.phase = 'body';
    this.keepAlive = parsed.keepAlive;
    this.framing = parsed.framing;
    if (this.wholeLimit !== undefined) {
      this.head = parsed;
      return;
    }
    const body = new Readable({ read: () => this.socket.resume() });
    this.body = body;
    // A broken body's error reaches whoever reads it (their iterator or pipeline fails with it). One
    // nobody reads any more (its reader gave up on the answer's headers) must not become an
    // unhandled 'error' event that ends the process.
    body.on('error', () => undefined);
    // A consumer that stops reading early leaves the connection mid-answer: it cannot be reused.
    body.once('close', () => {
      if (this.phase === 'body' && !this.settled) this.socket.destroy();
    });
    this.resolve({ status: parsed.status, headers: parsed.headers, body });
  }

  endsWithClose(): boolean {
    return this.phase === 'body' && this.framing.kind === 'until-close';
  }

  /** Takes body bytes (copied if `reused`: the caller's buffer is read into again); true once the body is complete. */
  feed(data: Buffer, reused = false): boolean {
    const framing = this.framing;
    if (framing.kind === 'none') {
      if (data.length > 0) throw protocolError('bytes after a body-less answer');
      return true;
    }
    if (framing.kind === 'until-close') {
      if (data.length > 0) this.push(data, reused);
      return false;
    }
    if (framing.kind === 'length') {
      if (data.length > framing.remaining) throw protocolError('more bytes than Content-Length');
      if (data.length > 0) this.push(data, reused);
      framing.remaining -= data.length;
      return framing.remaining === 0;
    }
    return this.feedChunked(data, reused);
  }

  private feedChunked(data: Buffer, reused: boolean): boolean {
    const state = this.chunk;
    let offset = 0;
    while (offset < data.length) {
      if (state.size > 0) {
        const take = Math.min(state.size, data.length - offset);
        this.push(data.subarray(offset, offset + take), reused);
        offset += take;
        state.size -= take;
        if (state.size === 0) state.size = -2; // the CRLF after the chunk's data
        continue;
      }
      const lineEnd = data.indexOf(10, offset);
      if (lineEnd < 0) {
        state.pendingLine += data.toString('latin1', offset);
        if (state.pendingLine.length > 4096) throw protocolError('chunk line too long');
        return false;
      }
      const line = (state.pendingLine + data.toString('latin1', offset, lineEnd)).replace(/\r$/, '');
      state.pendingLine = '';
      offset = lineEnd + 1;
      if (state.size === -2) {
        if (line !== '') throw protocolError('chunk not followed by CRLF');
        state.size = -1;
      } else if (state.trailer) {
        if (line === '') {
          if (offset !== data.length) throw protocolError('bytes after the chunked body');
          return true;
        }
      } else {
        const size = Number.parseInt(line.split(';', 1)[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw protocolError('bad chunk size');
        if (size === 0) state.trailer = true;
        else state.size = size;
      }
    }
    return false;
  }

  done(): void {
    this.settled = true;
    this.unwatch?.();
    if (this.head) {
      const body = this.collected.length === 1 ? this.collected[0]! : Buffer.concat(this.collected);
      this.resolve({ status: this.head.status, headers: this.head.headers, body, bodyLength: this.receivedLength });
    } else this.body?.push(null);
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.unwatch?.();
    if (this.body) this.body.destroy(error);
    else this.reject(error);
  }

  /** Keeps body bytes, copied first when `reused` (the read buffer they sit in is read into again). */
  private push(data: Buffer, reused: boolean): void {
    if (this.wholeLimit !== undefined) {
      // Past the limit bytes are read and dropped, never copied.
      const kept = data.subarray(0, Math.max(0, this.wholeLimit - this.collectedLength));
      if (kept.length > 0) this.collected.push(reused ? Buffer.from(kept) : kept);
      this.collectedLength += kept.length;
      this.receivedLength += data.length;
    } else if (!this.body!.push(reused ? Buffer.from(data) : data)) this.socket.pause();
  }
}

/**
 * One 'abort' listener per signal, however many requests carry it: the run's signal is on every
 * request, and adding and removing an EventTarget listener each time costs more than the request's
 * own bookkeeping.
 */
class AbortWatch {
  private readonly watchers = new WeakMap<AbortSignal, Set<(error: Error) => void>>();

  /** Calls `onAbort` if the signal aborts; the returned function stops watching. */
  watch(signal: AbortSignal, onAbort: (error: Error) => void): () => void {
    let watchers = this.watchers.get(signal);
    if (!watchers) {
      const created = new Set<(error: Error) => void>();
      signal.addEventListener(
        'abort',
        () => {
          const error = abortError(signal);
          for (const watcher of [...created]) watcher(error);
          created.clear();
        },
        { once: true },
      );
      this.watchers.set(signal, created);
      watchers = created;
    }
    const set = watchers;
    set.add(onAbort);
    return () => set.delete(onAbort);
  }
}

const abortWatch = new AbortWatch();

interface ParsedHead {
  status: number;
  headers: ResponseHeaders;
  keepAlive: boolean;
  framing: BodyFraming;
  headLength: number;
}

/** The status line and headers at the start of `data`, or undefined if they are not all there yet. */
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');

export function parseHead(data: Buffer, method: string): ParsedHead | undefined {
  let start = 0;
  for (;;) {
    const end = data.indexOf(END_OF_HEAD, start);
    if (end < 0) return undefined;
    const lines = data.toString('latin1', start, end).split('\r\n');
    const statusLine = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
    if (!statusLine) throw protocolError(`not an HTTP/1.1 answer: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
    const status = Number(statusLine[2]);
    // An interim answer (100 Continue): the real one follows.
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    const headers: ResponseHeaders = {};
    for (let i = 1; i < lines.length; i += 1) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw protocolError('bad header line');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const connection = (headers.connection ?? '').toLowerCase();
    const keepAlive = statusLine[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    let framing: BodyFraming;
    if (method === 'HEAD' || status === 204 || status === 304) framing = { kind: 'none' };
    else if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) framing = { kind: 'chunked' };
    else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (!Number.isSafeInteger(length) || length < 0) throw protocolError('bad Content-Length');
      framing = length === 0 ? { kind: 'none' } : { kind: 'length', remaining: length };
    } else framing = { kind: 'until-close' };
    return { status, headers, keepAlive: keepAlive && framing.kind !== 'until-close', framing, headLength: end + 4 };
  }
}

/** The request line and headers; a header with a line break or a control character is refused. */
export function serializeHead(request: HttpRequest): string {
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  for (const name in request.headers) {
    const value = request.headers[name]!;
    if (!(validHeaderNames.has(name) || checkHeaderName(name)) || FORBIDDEN_IN_VALUE.test(value)) {
      throw new TypeError(`invalid characters in HTTP header ${JSON.stringify(name)}`);
    }
    head += `${name}: ${value}\r\n`;
  }
  if (request.body && request.body.length > 0 && request.headers['content-length'] === undefined) head += `content-length: ${request.body.length}\r\n`;
  return `${head}\r\n`;
}

const FORBIDDEN_IN_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** The few header names a run sends, each checked once. */
const validHeaderNames = new Set<string>();

function checkHeaderName(name: string): boolean {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return false;
  if (validHeaderNames.size < 256) validHeaderNames.add(name);
  return true;
}

function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function connectionLost(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}

function protocolError(message: string): Error {
  return Object.assign(new Error(`malformed HTTP answer: ${message}`), { code: 'ECONNRESET' });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return Object.assign(new Error(reason instanceof Error ? reason.message : 'the request was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: reason });
}
