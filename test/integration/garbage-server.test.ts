/**
 * A server that answers garbage — a body shorter than its Content-Length, bytes that are not HTTP, a
 * web page instead of an S3 answer, a connection closed in the middle of the headers. Whatever it
 * does, every command ends with exit 1 and one line on stderr (no stack trace, no unhandled 'error'
 * event), and leaves nothing at its target: no file, no temporary file, no lock.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, s3Env, tempDirectory } from '../support/harness.js';

type Garbage = 'short body' | 'binary junk' | 'html page' | 'closed mid-head';

const work = tempDirectory('garbage');
let server: net.Server;
let endpoint: string;
let mode: Garbage = 'short body';

const HTML = '<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>';

/** Reads one request's head, then answers the way the current mode says and closes. */
function answer(socket: net.Socket): void {
  let head = '';
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    if (head.includes('\r\n\r\n')) return; // a request body: ignored
    head += chunk.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    const method = head.slice(0, head.indexOf(' '));
    switch (mode) {
      case 'short body':
        socket.end(`HTTP/1.1 200 OK\r\nETag: "0123456789abcdef0123456789abcdef"\r\nContent-Length: 100000\r\n\r\n${method === 'HEAD' ? '' : 'only this much'}`);
        break;
      case 'binary junk':
        socket.end(randomBytes(3000));
        break;
      case 'html page':
        socket.end(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${HTML.length}\r\nConnection: close\r\n\r\n${method === 'HEAD' ? '' : HTML}`);
        break;
      case 'closed mid-head':
        socket.end('HTTP/1.1 200 OK\r\nContent-Le');
        break;
    }
  });
}

beforeAll(async () => {
  server = net.createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  mkdirSync(join(work.path, 'tree'), { recursive: true });
  writeFileSync(join(work.path, 'tree', 'a.txt'), 'hello');
  writeFileSync(join(work.path, 'upload.bin'), randomBytes(70_000));
  utimesSync(join(work.path, 'tree', 'a.txt'), new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  work.remove();
});

const env = (label: string) =>
  s3Env({
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'garbage',
    AWS_SECRET_ACCESS_KEY: 'garbage',
    DATALAKE_STATE_DIR: join(work.path, label, 'state'),
    DATALAKE_CACHE_DIR: join(work.path, label, 'cache'),
  });

/** A directory holds nothing the run left behind. */
function emptyOrAbsent(directory: string): void {
  if (!existsSync(directory)) return;
  expect(readdirSync(directory)).toEqual([]);
}

function failedCleanly(result: { code: number | null; stderr: string }): void {
  expect(result.stderr).not.toMatch(/\n\s+at |Unhandled|'error' event|node:internal/);
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
}

const modes: Garbage[] = ['short body', 'binary junk', 'html page', 'closed mid-head'];
describe.each(modes)('a server that answers with %s', (garbage) => {
  const label = garbage.replace(/ /g, '-');

  it('get: exit 1, one line, nothing at the target', async () => {
    mode = garbage;
    const directory = join(work.path, label, 'get');
    const result = await runCli(['get', 's3://lake/data/x.bin', join(directory, 'x.bin'), '--retries', '1'], { env: env(label) });
    failedCleanly(result);
    emptyOrAbsent(directory);
  });

  it('put: exit 1, one line', async () => {
    mode = garbage;
    const result = await runCli(['put', join(work.path, 'upload.bin'), 's3://lake/data/upload.bin', '--retries', '1'], { env: env(label) });
    failedCleanly(result);
  });

  it('sync up: exit 1, one line', async () => {
    mode = garbage;
    const result = await runCli(['sync', join(work.path, 'tree'), 's3://lake/tree/', '--retries', '1'], { env: env(label) });
    failedCleanly(result);
  });

  it('ls: exit 1, one line', async () => {
    mode = garbage;
    const result = await runCli(['ls', 's3://lake/data/', '--retries', '1'], { env: env(label) });
    failedCleanly(result);
  });

  // The commands below go through the AWS SDK, whose XML reader takes a web page for an empty answer.
  it.each([
    ['cp', ['cp', 's3://lake/data/a.bin', 's3://lake/data/b.bin']],
    ['mv', ['mv', 's3://lake/data/a.bin', 's3://lake/data/b.bin']],
    ['stat', ['stat', 's3://lake/data/a.bin']],
    ['uploads ls', ['uploads', 'ls', 's3://lake/data/']],
    ['init', ['init', '--bucket', 'lake']],
    ['ls of the buckets', ['ls']],
  ])('%s: exit 1, one line, nothing reported done', async (_name, args) => {
    mode = garbage;
    const result = await runCli([...args, '--retries', '1'], { env: env(label) });
    failedCleanly(result);
    expect(result.stdout).toBe('');
  });

  it('sync down: exit 1, one line, nothing in the destination', async () => {
    mode = garbage;
    const directory = join(work.path, label, 'down');
    const result = await runCli(['sync', 's3://lake/tree/', directory, '--retries', '1'], { env: env(label) });
    failedCleanly(result);
    emptyOrAbsent(directory);
  });
});

describe('local trouble raises no unhandled error either', () => {
it('sync --manifest into a folder that does not exist: exit 2, one line, before any transfer', async () => {
  const result = await runCli(['sync', join(work.path, 'tree'), 's3://lake/tree/', '--manifest', join(work.path, 'no', 'such', 'folder', 'm.jsonl')], { env: env('manifest') });
  expect(result.stderr).not.toMatch(/\n\s+at |Unhandled|'error' event|node:internal/);
  expect(result.stderr).toMatch(/manifest/);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.code).toBe(2);
});
});
