import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../src/core/s3/retry.js';
import { isFatalForRun } from '../../src/core/s3/explain-error.js';
import { Transport, type TransportOptions, type TransportRequest, type TransportResponse } from '../../src/core/s3/transport.js';

/**
 * The transport every request goes out on (undici): what it guarantees beyond undici's own tests —
 * connections kept alive and reused, a connection the server closed while idle resent once, a whole
 * answer read no further than its limit, time limits that say which endpoint failed, TLS with a given
 * CA, messages for a plain-http endpoint and an untrusted certificate.
 */

/** A plain node:http server whose answers each test picks by path; it counts the connections it accepts. */
let server: http.Server;
let origin: URL;
let connections = 0;
let endlessBytes = 0;
/** Settles when the client of the endless body has gone. */
let endlessGone: Promise<unknown> = Promise.resolve();
const received: Array<{ method: string; url: string; body: Buffer; headers: http.IncomingHttpHeaders }> = [];

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ method: request.method ?? '', url: request.url ?? '', body, headers: request.headers });
      const path = request.url ?? '';
      if (path.startsWith('/echo')) {
        response.writeHead(200, { 'content-length': body.length, etag: '"abc"' });
        response.end(body);
      } else if (path.startsWith('/big/')) {
        const size = Number(path.slice('/big/'.length));
        response.writeHead(200, { 'content-length': size });
        response.end(Buffer.alloc(size, 7));
      } else if (path === '/chunked') {
        response.writeHead(200, { 'x-amz-meta-a': 'one' });
        response.write('hello, ');
        setTimeout(() => response.end('chunked world'), 5);
      } else if (path === '/close') {
        response.writeHead(200, { connection: 'close', 'content-length': 2 });
        response.end('ok');
      } else if (path === '/error') {
        const xml = '<Error><Code>SlowDown</Code><Message>slow</Message></Error>';
        response.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
        response.end(xml);
      } else if (path === '/hang') {
        // never answers
      } else if (path === '/endless') {
        // A body that never ends: written as fast as the client reads, until it goes away.
        response.writeHead(200, { 'content-type': 'application/xml' });
        const chunk = Buffer.alloc(64 * 1024, ' ');
        const pump = () => {
          while (!response.destroyed) {
            endlessBytes += chunk.length;
            if (!response.write(chunk)) return;
          }
        };
        response.on('drain', pump);
        endlessGone = new Promise((resolve) => response.on('close', resolve));
        pump();
      } else {
        response.writeHead(404, { 'content-length': 0 });
        response.end();
      }
    });
  });
  server.on('connection', () => (connections += 1));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const pool = (options: Partial<TransportOptions> = {}) => new Transport({ connections: 16, timeoutMs: 10_000, ...options });
const at = (target: URL, method: TransportRequest['method'], path: string, body?: Buffer, signal?: AbortSignal): TransportRequest => ({
  method,
  origin: target.origin,
  path,
  headers: { host: target.host },
  body,
  signal,
});
const request = (target: Transport, method: 'GET' | 'PUT', path: string, body?: Buffer, signal?: AbortSignal) => target.request(at(origin, method, path, body, signal));
const whole = (target: Transport, method: 'GET' | 'PUT', path: string, body?: Buffer, limit = 8 * 1024 * 1024) => target.requestWhole(at(origin, method, path, body), limit);
/** Starts a hand-written server on a free port of the loopback; its origin. */
async function listening(raw: net.Server): Promise<URL> {
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`);
}
/**
 * A hand-written server that answers `GET /whole` with a kept-alive 200 and hands any other request
 * (its first bytes, as text) to `other`; it counts its connections.
 */
function wholeOrElse(other: (socket: net.Socket, text: string) => void): { server: net.Server; connections: () => number } {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    socket.on('error', () => undefined);
    socket.on('data', (data) => {
      const text = data.toString('latin1');
      if (text.startsWith('GET /whole')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=60\r\n\r\nok');
      else other(socket, text);
    });
  });
  return { server, connections: () => connections };
}
/** A first request, so that counting starts on a pool that has connected (undici opens a second connection for a request that comes while its first is still connecting). */
const warm = async (target: Transport) => void (await readAll(await request(target, 'GET', '/big/1')));

async function readAll(response: TransportResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('Transport', () => {
  it('sends a body and reads a Content-Length answer, reusing one connection for requests in turn', async () => {
    const target = pool();
    await warm(target);
    const before = connections;
    for (const size of [0, 10, 70_000, 3]) {
      const body = Buffer.alloc(size, size % 251);
      const response = await request(target, 'PUT', `/echo/${size}`, body);
      expect(response.status).toBe(200);
      expect(response.headers.etag).toBe('"abc"');
      expect((await readAll(response)).equals(body)).toBe(true);
    }
    expect(received.at(-2)!.body.length).toBe(70_000);
    expect(connections - before).toBe(1);
    target.close();
  });

  it('sends small bodies back to back on one connection without mixing them (its write buffer is reused)', async () => {
    const target = pool();
    const before = connections;
    const bodies = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1000 + i * 1500, i + 1));
    for (const body of bodies) {
      const response = await whole(target, 'PUT', `/echo/${body.length}`, body);
      expect(response.body.equals(body)).toBe(true);
    }
    // A burst on several connections at once: every body arrives as sent.
    const burst = await Promise.all(bodies.map((body) => whole(target, 'PUT', '/echo/burst', body)));
    burst.forEach((response, i) => expect(response.body.equals(bodies[i]!)).toBe(true));
    expect(received.filter((entry) => entry.url === '/echo/burst').length).toBeGreaterThanOrEqual(40);
    expect(connections - before).toBeLessThanOrEqual(41);
    target.close();
  });

  it('reads a whole answer (Content-Length, chunked, an error) and gives the connection back before resolving', async () => {
    const target = pool();
    await warm(target);
    const before = connections;
    const big = await whole(target, 'GET', '/big/300000');
    expect(big.status).toBe(200);
    expect(big.body.length).toBe(300_000);
    const chunked = await whole(target, 'GET', '/chunked');
    expect(chunked.headers['x-amz-meta-a']).toBe('one');
    expect(chunked.body.toString()).toBe('hello, chunked world');
    const error = await whole(target, 'GET', '/error');
    expect(error.status).toBe(503);
    expect(error.body.toString()).toContain('<Code>SlowDown</Code>');
    expect(connections - before).toBe(1);
    target.close();
  });

  it('stops reading a whole answer at its limit: a body that never ends is cut there, and says it was longer', async () => {
    const target = pool();
    const cut = await whole(target, 'GET', '/big/250000', undefined, 1000);
    expect(cut.body.length).toBe(1000);
    expect(cut.bodyLength).toBeGreaterThan(1000);
    expect((await whole(target, 'GET', '/big/10')).body.length).toBe(10);
    const endless = await whole(target, 'GET', '/endless', undefined, 200_000);
    expect(endless.body.length).toBe(200_000);
    expect(endless.bodyLength).toBeGreaterThan(200_000);
    // The server saw the connection go: it wrote about the limit and what the socket buffers held, not more.
    await endlessGone;
    expect(endlessBytes).toBeLessThan(64 * 1024 * 1024);
    target.close();
  });

  it('reuses a connection after a body large enough to pause the socket', async () => {
    const target = pool();
    await warm(target);
    const before = connections;
    for (let i = 0; i < 3; i += 1) {
      const response = await request(target, 'GET', '/big/200000');
      expect((await readAll(response)).length).toBe(200_000);
    }
    expect(connections - before).toBe(1);
    target.close();
  });

  it('opens a connection per request in flight, up to its connections', async () => {
    const target = pool();
    const before = connections;
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => request(target, 'GET', `/big/${1000 + i}`).then(readAll)));
    expect(answers.map((answer) => answer.length)).toEqual([1000, 1001, 1002, 1003, 1004]);
    expect(connections - before).toBe(5);
    target.close();
    const two = pool({ connections: 2 });
    const beforeTwo = connections;
    await Promise.all(Array.from({ length: 6 }, () => request(two, 'GET', '/big/10').then(readAll)));
    expect(connections - beforeTwo).toBe(2);
    two.close();
  });

  it('decodes a chunked body', async () => {
    const target = pool();
    const response = await request(target, 'GET', '/chunked');
    expect(response.headers['x-amz-meta-a']).toBe('one');
    expect((await readAll(response)).toString()).toBe('hello, chunked world');
    // and the connection is still good
    expect((await readAll(await request(target, 'GET', '/big/5'))).length).toBe(5);
    target.close();
  });

  it('does not reuse a connection the server says it closes', async () => {
    const target = pool();
    const before = connections;
    expect((await readAll(await request(target, 'GET', '/close'))).toString()).toBe('ok');
    expect((await readAll(await request(target, 'GET', '/close'))).toString()).toBe('ok');
    expect(connections - before).toBe(2);
    target.close();
  });

  it('hands an error answer back with its status and body', async () => {
    const target = pool();
    const response = await request(target, 'GET', '/error');
    expect(response.status).toBe(503);
    expect((await readAll(response)).toString()).toContain('<Code>SlowDown</Code>');
    target.close();
  });

  it('sends the request again on a new connection when a kept-alive one was closed by the server as it went out', async () => {
    // Each connection answers one request and closes when the next arrives, without a word: the race
    // of a server closing an idle connection just as the client reuses it.
    let closedOnRequest = 0;
    const raw = net.createServer((socket) => {
      let answered = false;
      socket.on('data', () => {
        if (answered) {
          closedOnRequest += 1;
          socket.destroy();
          return;
        }
        answered = true;
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=60\r\n\r\nok');
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawOrigin = new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`);
    const target = pool();
    const answers: string[] = [];
    for (let i = 0; i < 4; i += 1) answers.push((await readAll(await target.request(at(rawOrigin, 'GET', `/k${i}`)))).toString());
    expect(answers).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(closedOnRequest).toBeGreaterThanOrEqual(1);
    // A new connection lost before its answer is not sent again here: that is the retry policy's.
    const cut = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => cut.listen(0, '127.0.0.1', resolve));
    const cutOrigin = new URL(`http://127.0.0.1:${(cut.address() as AddressInfo).port}`);
    let cutConnections = 0;
    cut.on('connection', () => (cutConnections += 1));
    await expect(target.request(at(cutOrigin, 'GET', '/k'))).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(cutConnections).toBe(1);
    target.close();
    await Promise.all([new Promise((resolve) => raw.close(resolve)), new Promise((resolve) => cut.close(resolve))]);
  });

  it('sends the request again when a kept-alive connection is reset as the request arrives, before any answer', async () => {
    // The same race, the server's side closing with a reset (ECONNRESET as the client reads).
    let resetOnRequest = 0;
    const raw = net.createServer((socket) => {
      let answered = false;
      socket.on('error', () => undefined);
      socket.on('data', () => {
        if (answered) {
          resetOnRequest += 1;
          socket.resetAndDestroy();
          return;
        }
        answered = true;
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=60\r\n\r\nok');
      });
    });
    const rawOrigin = await listening(raw);
    // One connection at a time: each request after the first goes out on a kept-alive one.
    const target = pool({ connections: 1 });
    const answers: string[] = [];
    for (let i = 0; i < 4; i += 1) answers.push((await target.requestWhole(at(rawOrigin, 'GET', `/k${i}`), 1024)).body.toString());
    expect(answers).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(resetOnRequest).toBeGreaterThanOrEqual(1);
    target.close();
    await new Promise((resolve) => raw.close(resolve));
  });

  it('does not send again a request whose connection broke in the head of its answer, new or kept alive: the server had it', async () => {
    // The server began to answer, so the request reached it: its loss is the retry policy's (counted,
    // logged, after a wait), never a silent resend here. A kept-alive connection's byte count holds
    // its earlier answers too; the part of this answer must not pass for them.
    let cutAnswers = 0;
    const { server: raw, connections } = wholeOrElse((socket, text) => {
      if (!/^(GET|PUT) \/cut/.test(text)) return;
      cutAnswers += 1;
      socket.end('HTTP/1.1 500 Internal Se');
    });
    const rawOrigin = await listening(raw);
    const fresh = pool();
    const onNew = await fresh.requestWhole(at(rawOrigin, 'GET', '/cut'), 1024).catch((error: unknown) => error);
    expect(onNew).toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(classifyError(onNew)).toBe('transient');
    expect([cutAnswers, connections()]).toEqual([1, 1]);
    fresh.close();
    // One connection at a time, so that the request after an answer goes out on the kept-alive connection.
    const kept = pool({ connections: 1 });
    expect((await kept.requestWhole(at(rawOrigin, 'GET', '/whole'), 1024)).body.toString()).toBe('ok');
    const onKept = await kept.requestWhole(at(rawOrigin, 'PUT', '/cut', Buffer.from('a body')), 1024).catch((error: unknown) => error);
    expect(onKept).toMatchObject({ code: 'UND_ERR_SOCKET' });
    // Sent once, on the kept-alive connection.
    expect([cutAnswers, connections()]).toEqual([2, 2]);
    kept.close();
    await new Promise((resolve) => raw.close(resolve));
  });

  it('takes an answer that comes while the body is still being sent as the result, on a new or a kept-alive connection', async () => {
    // A server that refuses an upload from its headers (S3 and MinIO do, for wrong credentials) answers
    // at once and closes without waiting for the body: the answer is the result, sent once, neither a
    // connection error nor a kept-alive connection lost.
    const refusal = '<Error><Code>InvalidAccessKeyId</Code><Message>no such key</Message></Error>';
    let refused = 0;
    const { server: raw, connections } = wholeOrElse((socket, text) => {
      if (!text.startsWith('PUT ')) return;
      refused += 1;
      // The rest of the body is read and dropped, as a server lets the client read its answer.
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: ${refusal.length}\r\nconnection: close\r\n\r\n${refusal}`);
    });
    const rawOrigin = await listening(raw);
    // Far more than the connection's buffers hold: the client is still writing when the answer comes.
    const body = Buffer.alloc(32 * 1024 * 1024, 1);
    const fresh = pool();
    const onNew = await fresh.requestWhole(at(rawOrigin, 'PUT', '/new', body), 1024);
    expect([onNew.status, onNew.body.toString()]).toEqual([403, refusal]);
    expect([refused, connections()]).toEqual([1, 1]);
    fresh.close();
    // One connection at a time, so that the request after an answer goes out on the kept-alive connection.
    const kept = pool({ connections: 1 });
    expect((await kept.requestWhole(at(rawOrigin, 'GET', '/whole'), 1024)).body.toString()).toBe('ok');
    const onKept = await kept.requestWhole(at(rawOrigin, 'PUT', '/kept', body), 1024);
    expect([onKept.status, onKept.body.toString()]).toEqual([403, refusal]);
    expect([refused, connections()]).toEqual([2, 2]);
    kept.close();
    await new Promise((resolve) => raw.close(resolve));
  });

  it('an endpoint that never answered: one error naming it; once it has answered, a stall is transient; an abort is the caller\'s reason', async () => {
    // Limits of a second and more: the answers that must come in time come from this process's own server, even on a loaded machine.
    const target = pool({ firstAnswerTimeoutMs: 1500, stallTimeoutMs: 1000 });
    const unanswered = await request(target, 'GET', '/hang').catch((error: unknown) => error);
    expect(unanswered).toMatchObject({ code: 'EndpointUnanswered', message: `no answer from ${origin.origin} within 1.5 s` });
    expect(classifyError(unanswered)).toBe('permanent');
    expect((await readAll(await request(target, 'GET', '/big/3'))).length).toBe(3);
    const stalled = await request(target, 'GET', '/hang').catch((error: unknown) => error);
    expect(stalled).toMatchObject({ code: 'RequestStalled', message: `${origin.origin} sent and received nothing for 1 s` });
    expect(classifyError(stalled)).toBe('transient');
    const controller = new AbortController();
    const pending = request(target, 'GET', '/hang', undefined, controller.signal);
    const reason = new Error('stop');
    setImmediate(() => controller.abort(reason));
    await expect(pending).rejects.toBe(reason);
    target.close();
  });

  it('the no-answer limits count idle time: a body still being sent is not a stall', async () => {
    // A slow uplink: the endpoint takes in 1 MiB every 50 ms, so a 40 MiB body takes about two
    // seconds to send — longer than either limit — but nothing is ever idle for as long as one.
    const sockets: net.Socket[] = [];
    const slow = net.createServer((socket) => {
      sockets.push(socket);
      let got = 0;
      let head = '';
      let length = -1;
      let taken = 0;
      socket.on('data', (chunk: Buffer) => {
        if (length < 0) {
          head += chunk.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          length = Number(/content-length: (\d+)/i.exec(head)![1]);
          got = head.length - end - 4;
        } else got += chunk.length;
        taken += chunk.length;
        if (got >= length) socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else if (taken >= 1024 * 1024) socket.pause();
      });
      const tick = setInterval(() => {
        taken = 0;
        socket.resume();
      }, 50);
      socket.on('close', () => clearInterval(tick));
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowOrigin = new URL(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`);
    const target = pool({ firstAnswerTimeoutMs: 1000, stallTimeoutMs: 1000 });
    const body = Buffer.alloc(40 * 1024 * 1024, 1);
    expect((await readAll(await target.request(at(slowOrigin, 'PUT', '/first', body)))).toString()).toBe('ok');
    expect((await readAll(await target.request(at(slowOrigin, 'PUT', '/later', body)))).toString()).toBe('ok');
    target.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => slow.close(resolve));
  });

  it('the no-answer limits count idle time: an endpoint that never reads the body is a stall, named', async () => {
    const deafSockets: net.Socket[] = [];
    const deaf = net.createServer((socket) => void deafSockets.push(socket.pause()));
    await new Promise<void>((resolve) => deaf.listen(0, '127.0.0.1', resolve));
    const deafOrigin = new URL(`http://127.0.0.1:${(deaf.address() as AddressInfo).port}`);
    const fresh = pool({ firstAnswerTimeoutMs: 250, stallTimeoutMs: 250 });
    await expect(fresh.request(at(deafOrigin, 'PUT', '/big', Buffer.alloc(64 * 1024 * 1024)))).rejects.toMatchObject({ code: 'EndpointUnanswered', message: `no answer from ${deafOrigin.origin} within 0.25 s` });
    fresh.close();
    for (const socket of deafSockets) socket.destroy();
    await new Promise((resolve) => deaf.close(resolve));
    // Once it has answered, a body that stops moving half way is a transient stall naming the endpoint.
    const target = pool({ firstAnswerTimeoutMs: 1000, stallTimeoutMs: 1000 });
    await warm(target);
    const stuck = new Readable({ read() {} });
    stuck.push(Buffer.alloc(1024));
    const stalled = await target.request({ ...at(origin, 'PUT', '/echo/stuck'), headers: { 'content-length': '4096' }, body: stuck }).catch((error: unknown) => error);
    expect(stalled).toMatchObject({ message: expect.stringContaining(origin.origin) });
    expect(classifyError(stalled)).toBe('transient');
    target.close();
  });

  it('a proxy that accepts and never answers CONNECT: the request ends within the first-answer limit, naming the proxy', async () => {
    const silentSockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void silentSockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const proxy = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const saved = process.env.HTTPS_PROXY;
    process.env.HTTPS_PROXY = proxy;
    try {
      const target = pool({ firstAnswerTimeoutMs: 300, timeoutMs: 60_000 });
      const failed = await target.request(at(new URL('https://127.0.0.1:9'), 'GET', '/k')).catch((error: unknown) => error);
      expect(failed).toMatchObject({ code: 'ProxyUnanswered', message: `no answer from the proxy ${proxy} within 0.3 s` });
      expect(classifyError(failed)).toBe('permanent');
      target.close();
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
      for (const socket of silentSockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a proxy that refuses (407) or is down: one error naming the proxy, without its password, that ends the run', async () => {
    const refusing = net.createServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n')));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const port = (refusing.address() as AddressInfo).port;
    const saved = process.env.HTTPS_PROXY;
    try {
      process.env.HTTPS_PROXY = `http://user:secret@127.0.0.1:${port}`;
      const target = pool();
      const refused = await target.request(at(new URL('https://127.0.0.1:9'), 'GET', '/k')).catch((error: unknown) => error);
      target.close();
      expect(refused).toMatchObject({ code: 'ProxyRefused', message: `the proxy http://127.0.0.1:${port} refused the request (HTTP 407: check the proxy credentials in HTTPS_PROXY)` });
      expect(isFatalForRun(refused)).toBe(true);
      await new Promise((resolve) => refusing.close(resolve));
      // Now nothing listens there.
      const down = pool();
      const unreachable = await down.request(at(new URL('https://127.0.0.1:9'), 'GET', '/k')).catch((error: unknown) => error);
      down.close();
      expect(unreachable).toMatchObject({ code: 'ProxyUnreachable', message: `cannot connect to the proxy http://127.0.0.1:${port}: ECONNREFUSED` });
      expect(isFatalForRun(unreachable)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
    }
  });

  it('HTTP_PROXY alone does not carry https requests (as curl and the AWS CLI)', async () => {
    const saved = { http: process.env.HTTP_PROXY, https: process.env.HTTPS_PROXY };
    try {
      delete process.env.HTTPS_PROXY;
      process.env.HTTP_PROXY = 'http://127.0.0.1:9';
      const target = pool();
      // Sent direct, https:// to the plain server of this file says so; through the (absent) proxy it could not connect.
      await expect(target.request(at(new URL(`https://127.0.0.1:${origin.port}`), 'GET', '/big/1'))).rejects.toMatchObject({ code: 'PlainHttpEndpoint' });
      await expect(target.request(at(origin, 'GET', '/big/1'))).rejects.toMatchObject({ code: 'ProxyUnreachable' });
      target.close();
    } finally {
      for (const [name, value] of [['HTTP_PROXY', saved.http], ['HTTPS_PROXY', saved.https]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('no request lasts longer than its time limit (--timeout), its body included', async () => {
    const target = pool({ timeoutMs: 1500, stallTimeoutMs: 60_000 });
    // Before the endpoint has answered once, a --timeout shorter than the first-answer limit is that limit.
    await expect(request(target, 'GET', '/hang')).rejects.toMatchObject({ code: 'EndpointUnanswered', message: `no answer from ${origin.origin} within the --timeout of 1.5 s` });
    expect((await readAll(await request(target, 'GET', '/big/3'))).length).toBe(3);
    const late = await request(target, 'GET', '/hang').catch((error: unknown) => error);
    expect(late).toMatchObject({ code: 'RequestTimeout', message: expect.stringContaining('--timeout of 1.5 s') });
    expect(classifyError(late)).toBe('transient');
    // The body of an answer counts as well: one that never ends is stopped at the limit (read and let go, not held).
    const endless = await request(target, 'GET', '/endless');
    const readAndLetGo = async () => {
      for await (const chunk of endless.body) void chunk;
    };
    await expect(readAndLetGo()).rejects.toMatchObject({ code: 'RequestTimeout', message: `no complete answer from ${origin.origin} within the --timeout of 1.5 s` });
    target.close();
  });

  it('fails a body cut short with a connection error, and refuses a connection that answers garbage', async () => {
    const raw = net.createServer((socket) => {
      socket.once('data', (data) => {
        if (data.toString().startsWith('GET /cut')) socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this');
        else socket.end('SSH-2.0-nope\r\n\r\n');
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawOrigin = new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`);
    const target = pool();
    const response = await target.request(at(rawOrigin, 'GET', '/cut'));
    const cut = await readAll(response).catch((error: unknown) => error);
    expect(cut).toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(classifyError(cut)).toBe('transient');
    const garbage = await target.request(at(rawOrigin, 'GET', '/other')).catch((error: unknown) => error);
    expect(garbage).toMatchObject({ name: 'HTTPParserError' });
    expect(classifyError(garbage)).toBe('transient');
    target.close();
    await new Promise((resolve) => raw.close(resolve));
  });
});

describe('Transport against a hand-written server', () => {
  it('reads a head split across reads, a body in pieces, and a body that ends with the connection', async () => {
    const body = Buffer.alloc(150_000, 'x');
    for (let i = 0; i < body.length; i += 997) body[i] = 65 + (i % 26);
    const raw = net.createServer((socket) => {
      socket.on('data', async (data) => {
        const pause = () => new Promise((resolve) => setTimeout(resolve, 15));
        if (data.toString().startsWith('GET /split')) {
          // The head in three writes, the body in two, each after a pause: several reads each.
          socket.write('HTTP/1.1 200 OK\r\nEtag: "a');
          await pause();
          socket.write(`bc"\r\nContent-Length: ${body.length}\r`);
          await pause();
          socket.write(Buffer.concat([Buffer.from('\n\r\n'), body.subarray(0, 70_000)]));
          await pause();
          socket.write(body.subarray(70_000));
        } else {
          socket.write('HTTP/1.0 200 OK\r\n\r\n');
          await pause();
          socket.end(body);
        }
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawOrigin = new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`);
    const target = pool();
    const split = await target.request(at(rawOrigin, 'GET', '/split'));
    expect(split.headers.etag).toBe('"abc"');
    expect((await readAll(split)).equals(body)).toBe(true);
    const read = await target.requestWhole(at(rawOrigin, 'GET', '/split'), 1024 * 1024);
    expect(read.body.equals(body)).toBe(true);
    const untilClose = await target.request(at(rawOrigin, 'GET', '/until-close'));
    expect((await readAll(untilClose)).equals(body)).toBe(true);
    target.close();
    await new Promise((resolve) => raw.close(resolve));
  });
});

describe('request headers', () => {
  it('refuses header values that would split the request, before anything is sent', async () => {
    const target = pool();
    const before = received.length;
    await expect(target.request({ ...at(origin, 'PUT', '/echo/x'), headers: { host: origin.host, 'x-amz-meta-a': 'x\r\nInjected: 1' } })).rejects.toMatchObject({ code: 'UND_ERR_INVALID_ARG' });
    await expect(target.request({ ...at(origin, 'PUT', '/echo/x'), headers: { host: origin.host, 'bad name': 'x' } })).rejects.toMatchObject({ code: 'UND_ERR_INVALID_ARG' });
    expect(received.length).toBe(before);
    target.close();
  });
});

describe('Transport over TLS', () => {
  it('speaks HTTPS, checks the certificate against the CA it is given, refuses one it cannot trust, and says when the endpoint speaks plain http', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'datalake-tls-'));
    try {
      // A throw-away certificate for localhost, made for this test only.
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
        '-keyout', join(directory, 'key.pem'), '-out', join(directory, 'cert.pem')], { stdio: 'ignore' });
      expect(made.status).toBe(0);
      const cert = readFileSync(join(directory, 'cert.pem'));
      const secure = https.createServer({ key: readFileSync(join(directory, 'key.pem')), cert }, (request, response) => {
        response.writeHead(200, { 'content-length': 6 });
        response.end(`${request.method} ok`.slice(0, 6));
      });
      await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
      const secureOrigin = new URL(`https://localhost:${(secure.address() as AddressInfo).port}`);
      const trusted = pool({ ca: cert.toString() });
      for (let i = 0; i < 2; i += 1) {
        const response = await trusted.request(at(secureOrigin, 'PUT', '/k', Buffer.from('data')));
        expect(response.status).toBe(200);
        expect((await readAll(response)).toString()).toBe('PUT ok');
      }
      trusted.close();
      const untrusted = pool();
      const refused = await untrusted.request(at(secureOrigin, 'GET', '/k')).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'UntrustedCertificate', message: expect.stringMatching(new RegExp(`^the certificate of ${secureOrigin.origin} is not trusted: .*self-signed`)) });
      expect(classifyError(refused)).toBe('permanent');
      untrusted.close();
      // A trusted certificate for another name: the hint is about the name, not AWS_CA_BUNDLE.
      const otherName = pool({ ca: cert.toString() });
      const mismatch = await otherName.request(at(new URL(`https://127.0.0.1:${secureOrigin.port}`), 'GET', '/k')).catch((error: unknown) => error);
      otherName.close();
      expect(mismatch).toMatchObject({ code: 'UntrustedCertificate', hint: expect.stringContaining('does not name this host') });
      // https:// to the plain node:http server of this file.
      const plainAsTls = new URL(`https://127.0.0.1:${origin.port}`);
      await expect(pool().request(at(plainAsTls, 'GET', '/big/1'))).rejects.toMatchObject({
        code: 'PlainHttpEndpoint',
        message: `the endpoint speaks plain http: use ${origin.origin}`,
      });
      secure.closeAllConnections();
      await new Promise((resolve) => secure.close(resolve));
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
