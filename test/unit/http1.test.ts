import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http1Pool, parseHead, serializeHead, type HttpResponse } from '../../src/core/http1.js';

/** A plain node:http server whose answers each test picks by path; it counts the connections it accepts. */
let server: http.Server;
let origin: URL;
let connections = 0;
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

const pool = () => new Http1Pool(origin, { idleTimeoutMs: 2_000, connectTimeoutMs: 2_000 });
const request = (target: Http1Pool, method: 'GET' | 'PUT', path: string, body?: Buffer, signal?: AbortSignal) =>
  target.request({ method, path, headers: { host: origin.host }, body, signal });

async function readAll(response: HttpResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('Http1Pool', () => {
  it('sends a body and reads a Content-Length answer, reusing one connection for requests in turn', async () => {
    const target = pool();
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
      const response = await target.requestWhole({ method: 'PUT', path: `/echo/${body.length}`, headers: { host: origin.host }, body });
      expect(response.body.equals(body)).toBe(true);
    }
    // A burst on several connections at once: every body arrives as sent.
    const burst = await Promise.all(bodies.map((body) => target.requestWhole({ method: 'PUT', path: '/echo/burst', headers: { host: origin.host }, body })));
    burst.forEach((response, i) => expect(response.body.equals(bodies[i]!)).toBe(true));
    expect(received.filter((entry) => entry.url === '/echo/burst').length).toBeGreaterThanOrEqual(40);
    expect(connections - before).toBeLessThanOrEqual(41);
    target.close();
  });

  it('reads a whole answer (Content-Length, chunked, an error) and gives the connection back before resolving', async () => {
    const target = pool();
    const before = connections;
    const big = await target.requestWhole({ method: 'GET', path: '/big/300000', headers: { host: origin.host } });
    expect(big.status).toBe(200);
    expect(big.body.length).toBe(300_000);
    const chunked = await target.requestWhole({ method: 'GET', path: '/chunked', headers: { host: origin.host } });
    expect(chunked.headers['x-amz-meta-a']).toBe('one');
    expect(chunked.body.toString()).toBe('hello, chunked world');
    const error = await target.requestWhole({ method: 'GET', path: '/error', headers: { host: origin.host } });
    expect(error.status).toBe(503);
    expect(error.body.toString()).toContain('<Code>SlowDown</Code>');
    expect(connections - before).toBe(1);
    target.close();
  });

  it('keeps at most wholeBodyLimit bytes of a whole answer, and the connection stays usable', async () => {
    const target = new Http1Pool(origin, { idleTimeoutMs: 2_000, connectTimeoutMs: 2_000, wholeBodyLimit: 1000 });
    const before = connections;
    const cut = await target.requestWhole({ method: 'GET', path: '/big/250000', headers: { host: origin.host } });
    expect(cut.body.length).toBe(1000);
    const next = await target.requestWhole({ method: 'GET', path: '/big/10', headers: { host: origin.host } });
    expect(next.body.length).toBe(10);
    expect(connections - before).toBe(1);
    target.close();
  });

  it('reuses a connection after a body large enough to pause the socket', async () => {
    const target = pool();
    const before = connections;
    for (let i = 0; i < 3; i += 1) {
      const response = await request(target, 'GET', '/big/200000');
      expect((await readAll(response)).length).toBe(200_000);
    }
    expect(connections - before).toBe(1);
    target.close();
  });

  it('opens a connection per request in flight', async () => {
    const target = pool();
    const before = connections;
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => request(target, 'GET', `/big/${1000 + i}`).then(readAll)));
    expect(answers.map((answer) => answer.length)).toEqual([1000, 1001, 1002, 1003, 1004]);
    expect(connections - before).toBe(5);
    target.close();
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

  it('sends the request again on a new connection when a kept-alive one was closed by the server', async () => {
    const target = pool();
    expect((await readAll(await request(target, 'GET', '/big/10'))).length).toBe(10);
    // The server drops every idle connection; the pool has not noticed yet when the next request goes.
    server.closeIdleConnections();
    const response = await request(target, 'GET', '/big/11');
    expect((await readAll(response)).length).toBe(11);
    target.close();
  });

  it('fails with ETIMEDOUT when the server does not answer, and with an AbortError when aborted', async () => {
    const target = new Http1Pool(origin, { idleTimeoutMs: 200, connectTimeoutMs: 2_000 });
    await expect(request(target, 'GET', '/hang')).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const pending = request(target, 'GET', '/hang', undefined, controller.signal);
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    // One signal on several requests in flight, after others on it finished: each is aborted.
    const shared = new AbortController();
    expect((await request(target, 'GET', '/big/3', undefined, shared.signal)).status).toBe(200);
    const both = [request(target, 'GET', '/hang', undefined, shared.signal), request(target, 'GET', '/hang', undefined, shared.signal)];
    setTimeout(() => shared.abort(new Error('stop both')), 20);
    for (const each of both) await expect(each).rejects.toMatchObject({ name: 'AbortError' });
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
    const target = new Http1Pool(rawOrigin, { idleTimeoutMs: 2_000, connectTimeoutMs: 2_000 });
    const response = await target.request({ method: 'GET', path: '/cut', headers: { host: rawOrigin.host } });
    await expect(readAll(response)).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(target.request({ method: 'GET', path: '/other', headers: { host: rawOrigin.host } })).rejects.toThrow(/malformed HTTP answer/);
    await new Promise((resolve) => raw.close(resolve));
  });
});

describe('Http1Pool against a hand-written server', () => {
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
    const target = new Http1Pool(rawOrigin, { idleTimeoutMs: 2_000, connectTimeoutMs: 2_000 });
    const split = await target.request({ method: 'GET', path: '/split', headers: { host: rawOrigin.host } });
    expect(split.headers.etag).toBe('"abc"');
    expect((await readAll(split)).equals(body)).toBe(true);
    const whole = await target.requestWhole({ method: 'GET', path: '/split', headers: { host: rawOrigin.host } });
    expect(whole.body.equals(body)).toBe(true);
    const untilClose = await target.request({ method: 'GET', path: '/until-close', headers: { host: rawOrigin.host } });
    expect((await readAll(untilClose)).equals(body)).toBe(true);
    target.close();
    await new Promise((resolve) => raw.close(resolve));
  });
});

describe('serializeHead and parseHead', () => {
  it('refuses header values that would split the request', () => {
    expect(() => serializeHead({ method: 'PUT', path: '/k', headers: { host: 'h', 'x-amz-meta-a': 'x\r\nInjected: 1' } })).toThrow(TypeError);
    expect(() => serializeHead({ method: 'PUT', path: '/k', headers: { host: 'h', 'bad name': 'x' } })).toThrow(TypeError);
    expect(serializeHead({ method: 'GET', path: '/k', headers: { host: 'h' } })).toBe('GET /k HTTP/1.1\r\nhost: h\r\n\r\n');
  });

  it('skips an interim 100 answer, joins repeated headers, and knows the body framing', () => {
    const text = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\n\r\nhello';
    const parsed = parseHead(Buffer.from(text, 'latin1'), 'GET')!;
    expect(parsed.status).toBe(200);
    expect(parsed.headers['x-a']).toBe('1, 2');
    expect(parsed.framing).toEqual({ kind: 'length', remaining: 5 });
    expect(text.slice(parsed.headLength)).toBe('hello');
    expect(parseHead(Buffer.from('HTTP/1.1 200 OK\r\nContent-Le'), 'GET')).toBeUndefined();
    expect(parseHead(Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), 'GET')!.framing).toEqual({ kind: 'until-close' });
    expect(parseHead(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n'), 'HEAD')!.framing).toEqual({ kind: 'none' });
  });
});

describe('Http1Pool over TLS', () => {
  it('speaks HTTPS, checks the certificate against the CA it is given, and refuses one it cannot trust', async () => {
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
      const trusted = new Http1Pool(secureOrigin, { idleTimeoutMs: 2_000, connectTimeoutMs: 2_000, ca: cert });
      for (let i = 0; i < 2; i += 1) {
        const response = await trusted.request({ method: 'PUT', path: '/k', headers: { host: secureOrigin.host }, body: Buffer.from('data') });
        expect(response.status).toBe(200);
        expect((await readAll(response)).toString()).toBe('PUT ok');
      }
      trusted.close();
      const untrusted = new Http1Pool(secureOrigin, { idleTimeoutMs: 2_000, connectTimeoutMs: 2_000 });
      await expect(untrusted.request({ method: 'GET', path: '/k', headers: { host: secureOrigin.host } })).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/) });
      secure.closeAllConnections();
      await new Promise((resolve) => secure.close(resolve));
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
