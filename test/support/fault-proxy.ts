/**
 * A fault-injection proxy between datalake and MinIO. Every request is forwarded unchanged (the Host
 * header too, so SigV4 signatures still verify) unless a rule matches it; then the rule's fault is
 * applied: an S3 error answer, a connection reset, a truncated or corrupted response body or header,
 * an answer lost after the server acted on the request, a corrupted request body, added latency, a
 * request held until the test releases it (`hold`: so a test knows a process is mid-transfer, and
 * decides when it goes on), or an answer rewritten whole with a Content-Length that matches the
 * damage (text replaced, or the body cut short), so nothing at the HTTP level gives it away, or an
 * answer whose body never ends. Rules
 * match by method and a pattern on path and query, can skip the first N matches, stop after `times`
 * faults, and fire at a seeded `rate`. `crash` is the server dying at once, as under `kill -9`.
 * Without a fault the proxy adds no reset of its own: an answer the server gives before the request's
 * body is all in (a refusal from the headers) reaches the client whole, and its connection is closed
 * only once the body has arrived.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { finished } from 'node:stream';

export type Fault =
  | { kind: 'status'; status: number; code: string }
  | { kind: 'reset' }
  | { kind: 'truncate-response'; afterBytes: number }
  | { kind: 'flip-response-byte'; offset: number }
  | { kind: 'flip-request-byte'; offset: number }
  | { kind: 'delay'; ms: number }
  /** Bit 0 of the first byte of the body's first match of `pattern` flipped (the body is held whole). */
  | { kind: 'flip-response-text'; pattern: RegExp }
  /** Bit 0 of the character at `index` of one response header's value flipped. */
  | { kind: 'flip-response-header'; header: string; index: number }
  /** The request reaches the server and its whole answer is read, then the client's connection is reset. */
  | { kind: 'lose-response' }
  /** Parked until `release(gate)`; later matches pass at once. */
  | { kind: 'hold'; gate: string }
  /** The answer's body with the `occurrence`-th (1-based, default 1) `from` replaced by `to`; Content-Length fixed. */
  | { kind: 'rewrite-response'; from: string; to: string; occurrence?: number }
  /** The answer's body cut to its first `keepFraction` (0…1), sent with a Content-Length that matches the cut. */
  | { kind: 'shorten-response'; keepFraction: number }
  /** The answer forwarded with one header set to another value (a server that says something else). */
  | { kind: 'set-response-header'; name: string; value: string }
  /** The answer forwarded with several headers set (names lower case), as one rule. */
  | { kind: 'set-response-headers'; headers: Record<string, string> }
  /** The answer's status and headers (without Content-Length), its body, then spaces without end, for as long as the client reads. */
  | { kind: 'endless-response' };

export interface FaultRule {
  method?: string;
  /** Tested against `path?query` of the request. */
  match?: RegExp;
  /** Let this many matching requests through before faulting. */
  skip?: number;
  /** Fault at most this many requests (default: all that match). */
  times?: number;
  /** Fault each matching request with this probability (seeded, repeatable). */
  rate?: number;
  fault: Fault;
}

export interface ProxyLog {
  method: string;
  url: string;
  fault: Fault['kind'] | undefined;
}

export class FaultProxy {
  readonly log: ProxyLog[] = [];
  /** Bytes written into endless answers so far: how much a client read before it stopped. */
  endlessBytes = 0;
  private rules: Array<FaultRule & { seen: number; applied: number }> = [];
  private server: http.Server | undefined;
  private random = seeded(42);
  /**
   * Connections to the server kept alive, but let go after a second idle: long before any server's own
   * idle timeout, so a request is never sent on a connection the server is closing at that moment (the
   * client would see a reset, send again, and the log would hold one request twice).
   */
  private readonly agent = new http.Agent({ keepAlive: true, timeout: 1000 });
  private readonly parked = new Map<string, Array<() => void>>();
  private readonly openGates = new Set<string>();

  constructor(private readonly upstream: string) {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  setRules(rules: FaultRule[], seed = 42): void {
    this.releaseAll();
    this.openGates.clear();
    this.rules = rules.map((rule) => ({ ...rule, seen: 0, applied: 0 }));
    this.random = seeded(seed);
    this.log.length = 0;
  }

  /** How many requests wait at `gate` now. */
  held(gate: string): number {
    return this.parked.get(gate)?.length ?? 0;
  }

  /** Lets the requests held at `gate` go on, and every later one that would be held there. */
  release(gate: string): void {
    this.openGates.add(gate);
    const waiting = this.parked.get(gate) ?? [];
    this.parked.delete(gate);
    for (const forward of waiting) forward();
  }

  private releaseAll(): void {
    for (const gate of [...this.parked.keys()]) this.release(gate);
  }

  faults(kind?: Fault['kind']): number {
    return this.log.filter((entry) => entry.fault !== undefined && (kind === undefined || entry.fault === kind)).length;
  }

  /**
   * The server gone at once, as a `kill -9` leaves it: requests held are dropped unanswered (never
   * forwarded), every connection is cut, and new ones are refused (ECONNREFUSED).
   */
  async crash(): Promise<void> {
    this.parked.clear();
    this.agent.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  async stop(): Promise<void> {
    this.releaseAll();
    this.agent.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pick(req: http.IncomingMessage): Fault | undefined {
    for (const rule of this.rules) {
      if (rule.method && rule.method !== req.method) continue;
      if (rule.match && !rule.match.test(req.url ?? '')) continue;
      rule.seen += 1;
      if (rule.seen <= (rule.skip ?? 0)) continue;
      if (rule.times !== undefined && rule.applied >= rule.times) continue;
      if (rule.rate !== undefined && this.random() >= rule.rate) continue;
      rule.applied += 1;
      return rule.fault;
    }
    return undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const fault = this.pick(req);
    const entry: ProxyLog = { method: req.method ?? '', url: req.url ?? '', fault: fault?.kind };
    this.log.push(entry);
    if (fault?.kind === 'status') {
      // Answered once the whole request has arrived, as S3 does: an answer sent while the client is
      // still writing its body would reach it as a reset or a 503 depending on timing.
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the fault proxy</Message><RequestId>fault</RequestId></Error>`;
      req.on('end', () => {
        res.writeHead(fault.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
        res.end(body);
      });
      req.resume();
      return;
    }
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    // A fault that finds nothing to change (a rewrite with no match, a byte past the body's end) is not counted.
    const forward = () => this.forward(req, res, fault, () => (entry.fault = undefined));
    if (fault?.kind === 'delay') setTimeout(forward, fault.ms);
    else if (fault?.kind === 'hold' && !this.openGates.has(fault.gate)) {
      const waiting = this.parked.get(fault.gate) ?? [];
      waiting.push(forward);
      this.parked.set(fault.gate, waiting);
    } else forward();
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, fault: Fault | undefined, unchanged: () => void): void {
    const target = new URL(this.upstream);
    // Whether the server's answer has started: from then on it is the result of the request, whatever
    // becomes of the rest of the request's body (below).
    let answered = false;
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: this.agent },
      (response) => {
        answered = true;
        if (fault?.kind === 'lose-response') {
          response.resume();
          response.on('end', () => req.socket.destroy());
          response.on('error', () => req.socket.destroy());
          return;
        }
        if (fault?.kind === 'flip-response-text') {
          this.flipText(req, response, res, fault.pattern);
          return;
        }
        if (fault?.kind === 'endless-response') {
          this.endless(response, res);
          return;
        }
        if (fault?.kind === 'flip-response-header') flipHeader(response.headers, fault.header, fault.index);
        if (fault?.kind === 'rewrite-response' || fault?.kind === 'shorten-response') {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const original = Buffer.concat(chunks);
            const body = damagedBody(original, fault);
            if (body.equals(original)) unchanged();
            const headers = { ...response.headers, 'content-length': String(body.length) };
            delete headers['transfer-encoding'];
            res.writeHead(response.statusCode ?? 502, headers);
            res.write(body);
            endOnceRequestIn(req, res);
          });
          response.on('error', () => res.socket?.destroy());
          return;
        }
        const headers =
          fault?.kind === 'set-response-header' ? { ...response.headers, [fault.name.toLowerCase()]: fault.value }
          : fault?.kind === 'set-response-headers' ? { ...response.headers, ...fault.headers }
          : response.headers;
        res.writeHead(response.statusCode ?? 502, headers);
        let sent = 0;
        response.on('data', (chunk: Buffer) => {
          let data = chunk;
          if (fault?.kind === 'flip-response-byte' && fault.offset >= sent && fault.offset < sent + chunk.length) {
            data = Buffer.from(chunk);
            data[fault.offset - sent] = data[fault.offset - sent]! ^ 0x01;
          }
          if (fault?.kind === 'truncate-response' && sent + data.length > fault.afterBytes) {
            res.write(data.subarray(0, Math.max(0, fault.afterBytes - sent)));
            res.socket?.destroy();
            response.destroy();
            return;
          }
          sent += data.length;
          res.write(data);
        });
        response.on('end', () => {
          // A body too short to hold the damaged byte, or to be cut, went through untouched.
          if ((fault?.kind === 'flip-response-byte' && sent <= fault.offset) || fault?.kind === 'truncate-response') unchanged();
          endOnceRequestIn(req, res);
        });
        response.on('error', () => res.socket?.destroy());
      },
    );
    // Before its answer, a server that resets the connection resets the client's. After it, an error
    // here is the server refusing the rest of a body it answered from the headers: MinIO answers wrong
    // credentials at once and, if the body is still coming, resets the connection 0.5 s later. The
    // answer goes through whole all the same; a break in the answer itself is the response's 'error'.
    upstream.on('error', () => {
      if (!answered) res.socket?.destroy();
    });
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (fault?.kind === 'flip-request-byte' && fault.offset >= received && fault.offset < received + chunk.length) {
        data = Buffer.from(chunk);
        data[fault.offset - received] = data[fault.offset - received]! ^ 0x01;
      }
      received += chunk.length;
      upstream.write(data);
    });
    req.on('end', () => {
      if (fault?.kind === 'flip-request-byte' && received <= fault.offset) unchanged();
      upstream.end();
    });
    req.on('error', () => upstream.destroy());
  }

  private endless(response: http.IncomingMessage, res: http.ServerResponse): void {
    const headers = { ...response.headers };
    delete headers['content-length'];
    res.writeHead(response.statusCode ?? 502, headers);
    const padding = Buffer.alloc(64 * 1024, ' ');
    const pump = () => {
      while (!res.destroyed) {
        this.endlessBytes += padding.length;
        if (!res.write(padding)) return;
      }
    };
    response.on('data', (chunk: Buffer) => {
      this.endlessBytes += chunk.length;
      res.write(chunk);
    });
    response.on('end', () => {
      res.on('drain', pump);
      pump();
    });
    response.on('error', () => res.socket?.destroy());
  }

  private flipText(req: http.IncomingMessage, response: http.IncomingMessage, res: http.ServerResponse, pattern: RegExp): void {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', () => res.socket?.destroy());
    response.on('end', () => {
      const body = Buffer.concat(chunks);
      const match = pattern.exec(body.toString('latin1'));
      if (match) body[match.index] = body[match.index]! ^ 0x01;
      res.writeHead(response.statusCode ?? 502, response.headers);
      res.write(body);
      endOnceRequestIn(req, res);
    });
  }
}

/**
 * Ends a forwarded answer once the client's request has arrived whole, or the client has gone. An
 * answer that came before the body was all in (a refusal from the headers) says `Connection: close`,
 * and node:http closes the connection as soon as the answer ends: with the client's body still
 * arriving, that close is a reset, which can reach the client before it has read the answer (its
 * next write fails first). A server gives the client time to read its answer (MinIO waits 0.5 s
 * before it closes); the proxy reads the rest of the body, so it adds no reset of its own.
 */
function endOnceRequestIn(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.complete || req.destroyed) res.end();
  else finished(req, () => res.end());
}

function flipHeader(headers: http.IncomingHttpHeaders, name: string, index: number): void {
  const value = headers[name];
  if (typeof value !== 'string' || index >= value.length) return;
  headers[name] = value.slice(0, index) + String.fromCharCode(value.charCodeAt(index) ^ 0x01) + value.slice(index + 1);
}

/** A whole answer damaged as the fault says; the same bytes when there is nothing to damage. */
function damagedBody(body: Buffer, fault: Extract<Fault, { kind: 'rewrite-response' | 'shorten-response' }>): Buffer {
  if (fault.kind === 'shorten-response') return body.subarray(0, Math.floor(body.length * fault.keepFraction));
  const text = body.toString('latin1');
  let at = -1;
  for (let seen = 0; seen < (fault.occurrence ?? 1); seen += 1) {
    at = text.indexOf(fault.from, at + 1);
    if (at < 0) return body;
  }
  return Buffer.from(text.slice(0, at) + fault.to + text.slice(at + fault.from.length), 'latin1');
}

/** mulberry32: a small seeded generator, so a rate-based fault run (or any seeded test) repeats exactly. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
