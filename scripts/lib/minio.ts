/**
 * A real MinIO for the demo, the tests and the benchmark: built from source with `go install` at a
 * pinned version (MinIO's own recommended way), started on loopback with a throw-away data directory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const MINIO_MODULE = 'github.com/minio/minio';
/** MinIO publishes no semver tags; this is the module proxy's latest version on 2026-11-24. */
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

export const DEV_ACCESS_KEY = 'minioadmin';
export const DEV_SECRET_KEY = 'minioadmin';

export function cacheDirectory(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'datalake-dev');
}

export function minioBinary(): string {
  return process.env.DATALAKE_MINIO_BIN ?? join(cacheDirectory(), `minio-${MINIO_VERSION.slice(-12)}`, 'minio');
}

/** Builds MinIO once per version into the user's cache (a few minutes on 2 cores, then reused). */
export function installMinio(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  const binary = minioBinary();
  if (existsSync(binary)) return binary;
  const goBin = join(binary, '..');
  mkdirSync(goBin, { recursive: true });
  log(`building MinIO ${MINIO_VERSION} with go install (first run only; a few minutes)…`);
  const result = spawnSync('go', ['install', `${MINIO_MODULE}@${MINIO_VERSION}`], {
    env: { ...process.env, GOBIN: goBin, CGO_ENABLED: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.error) throw new Error(`cannot run go: ${result.error.message} (install Go 1.24 or newer)`);
  if (result.status !== 0 || !existsSync(binary)) throw new Error(`go install ${MINIO_MODULE}@${MINIO_VERSION} failed (exit ${result.status})`);
  log(`MinIO built: ${binary}`);
  return binary;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function isAnswering(endpoint: string, ca?: string): Promise<boolean> {
  if (ca !== undefined) return isAnsweringOverTls(endpoint, ca);
  try {
    const response = await fetch(`${endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** fetch cannot be given a CA of its own; node:https can. */
async function isAnsweringOverTls(endpoint: string, ca: string): Promise<boolean> {
  const { request } = await import('node:https');
  return new Promise((resolve) => {
    const probe = request(`${endpoint}/minio/health/ready`, { ca, timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    probe.on('timeout', () => probe.destroy());
    probe.on('error', () => resolve(false));
    probe.end();
  });
}

/** What a TLS MinIO needs: a directory holding `public.crt` and `private.key`, and the CA that signed them (PEM). */
export interface MinioTls {
  certsDirectory: string;
  caPem: string;
}

export interface RunningMinio {
  endpoint: string;
  dataDirectory: string;
  process: ChildProcess | undefined;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts MinIO on 127.0.0.1:port with a fresh data directory, and waits until it answers.
 * `detached` leaves it running after this process exits (for `npm run minio:start`).
 */
export async function startMinio(
  options: {
    port?: number;
    detached?: boolean;
    logFile?: string;
    /** Serve HTTPS with this certificate; the endpoint is then https://127.0.0.1:port. */
    tls?: MinioTls;
    /** MINIO_DOMAIN: a request to `bucket.<domain>:port` addresses the bucket virtual-hosted style. */
    domain?: string;
    /** MINIO_SITE_REGION: requests signed for another region are refused, as AWS refuses them. */
    region?: string;
  } = {},
): Promise<RunningMinio> {
  const binary = installMinio();
  const port = options.port ?? (await freePort());
  const consolePort = await freePort();
  const endpoint = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const dataDirectory = mkdtempSync(join(tmpdir(), 'datalake-minio-'));
  const output = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(binary, ['server', '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, ...(options.tls ? ['--certs-dir', options.tls.certsDirectory] : []), dataDirectory], {
    env: {
      ...process.env,
      MINIO_ROOT_USER: DEV_ACCESS_KEY,
      MINIO_ROOT_PASSWORD: DEV_SECRET_KEY,
      // A fresh random key each start: SSE-S3 works, and the data directory is thrown away anyway.
      MINIO_KMS_SECRET_KEY: `datalake-dev-key:${randomBytes(32).toString('base64')}`,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_API_REQUESTS_MAX: '10000',
      ...(options.domain ? { MINIO_DOMAIN: options.domain } : {}),
      ...(options.region ? { MINIO_SITE_REGION: options.region } : {}),
    },
    stdio: ['ignore', output, output],
    detached: options.detached === true,
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (!(await isAnswering(endpoint, options.tls?.caPem))) {
    if (exited) throw new Error(`MinIO exited before answering on ${endpoint}${options.logFile ? ` (see ${options.logFile})` : ''}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`MinIO did not answer on ${endpoint} within 60 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (options.detached) child.unref();
  return {
    endpoint,
    dataDirectory,
    process: child,
    pid: child.pid,
    async stop() {
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dataDirectory, { recursive: true, force: true });
    },
  };
}
