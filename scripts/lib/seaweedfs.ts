/**
 * SeaweedFS, an S3 server of another lineage than MinIO and moto, for the integration tests: built
 * from source at a pinned version through the Go module proxy, started as one `weed server -s3`
 * (master, volume server, filer and S3 gateway in one process) on loopback ports with a throw-away
 * data directory, and keys given in an S3 config file so requests are signed with SigV4 as anywhere.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { cacheDirectory, freePort } from './minio.js';

export const SEAWEEDFS_MODULE = 'github.com/seaweedfs/seaweedfs';
/**
 * SeaweedFS 4.53 (what `weed version` says at this commit). Its release tags (`4.53`) are not semver,
 * so the module proxy serves its commits as pseudo-versions; this is the proxy's latest on 2026-12-02.
 */
export const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';

export const SEAWEEDFS_ACCESS_KEY = 'datalake-dev';
export const SEAWEEDFS_SECRET_KEY = 'datalake-dev-secret';

export function seaweedfsBinary(): string {
  return process.env.DATALAKE_WEED_BIN ?? join(cacheDirectory(), `seaweedfs-${SEAWEEDFS_VERSION.slice(-12)}`, 'weed');
}

/**
 * Builds `weed` once per version into the user's cache. Its go.mod has a replace directive, which
 * `go install module@version` refuses; so the module is fetched from the proxy with `go mod download`
 * and built as the main module, where the replace applies, exactly as its own Makefile builds it.
 */
export function installSeaweedfs(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  const binary = seaweedfsBinary();
  if (existsSync(binary)) return binary;
  mkdirSync(join(binary, '..'), { recursive: true });
  log(`building SeaweedFS ${SEAWEEDFS_VERSION} with go build (first run only; a few minutes)…`);
  const env = { ...process.env, CGO_ENABLED: '0' };
  const download = spawnSync('go', ['mod', 'download', '-json', `${SEAWEEDFS_MODULE}@${SEAWEEDFS_VERSION}`], { env, encoding: 'utf8' });
  if (download.error) throw new Error(`cannot run go: ${download.error.message} (install Go 1.26.6 or newer)`);
  const source = download.status === 0 ? (JSON.parse(download.stdout) as { Dir?: string }).Dir : undefined;
  if (!source) throw new Error(`go mod download ${SEAWEEDFS_MODULE}@${SEAWEEDFS_VERSION} failed: ${download.stderr.trim() || download.stdout.trim()}`);
  const build = spawnSync('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', binary, './weed'], { cwd: source, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0 || !existsSync(binary)) throw new Error(`go build of ${SEAWEEDFS_MODULE}/weed@${SEAWEEDFS_VERSION} failed (exit ${build.status})`);
  log(`SeaweedFS built: ${binary}`);
  return binary;
}

export interface RunningSeaweedfs {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts `weed server -s3` on loopback with every port chosen free, and waits until a PUT succeeds. */
export async function startSeaweedfs(options: { logFile?: string } = {}): Promise<RunningSeaweedfs> {
  const binary = installSeaweedfs();
  const dataDirectory = mkdtempSync(join(tmpdir(), 'datalake-seaweedfs-'));
  const config = join(dataDirectory, 's3.json');
  writeFileSync(
    config,
    JSON.stringify({
      identities: [{ name: 'datalake', credentials: [{ accessKey: SEAWEEDFS_ACCESS_KEY, secretKey: SEAWEEDFS_SECRET_KEY }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }],
    }),
  );
  const data = join(dataDirectory, 'data');
  mkdirSync(data);
  // Every listener on its own free port: the gRPC ports default to HTTP port + 10000, which may be taken.
  const port = async () => String(await freePort());
  const s3Port = await port();
  const args = [
    'server',
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-dir=${data}`,
    '-filer',
    '-s3',
    `-s3.config=${config}`,
    `-master.port=${await port()}`,
    `-master.port.grpc=${await port()}`,
    `-volume.port=${await port()}`,
    `-volume.port.grpc=${await port()}`,
    `-filer.port=${await port()}`,
    `-filer.port.grpc=${await port()}`,
    `-filer.localSocket=${join(dataDirectory, 'filer.sock')}`,
    `-s3.port=${s3Port}`,
    `-s3.port.grpc=${await port()}`,
    `-s3.localSocket=${join(dataDirectory, 's3.sock')}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-master.telemetry=false',
    // Each bucket is a collection with volumes of its own: small volumes, as many as the disk allows.
    '-master.volumeSizeLimitMB=256',
    '-volume.max=0',
    // Stop at once on SIGTERM: the volume server otherwise keeps serving 10 s for its peers (it has none).
    '-volume.preStopSeconds=0',
  ];
  const output = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(binary, args, {
    cwd: dataDirectory,
    // A fresh key-encryption key each start, so SSE-S3 (and a bucket's default encryption) works; the data is thrown away anyway.
    env: { ...process.env, WEED_S3_SSE_KEK: randomBytes(32).toString('hex') },
    stdio: ['ignore', output, output],
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      // It lingers ~10 s after SIGTERM, finishing background loops; its data is thrown away, so it need not.
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dataDirectory, { recursive: true, force: true });
  };
  try {
    await untilWritable(endpoint, () => exited);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, stop };
}

/** Ready means a bucket can be made and written: the S3 gateway answers before a volume server has joined. */
async function untilWritable(endpoint: string, exited: () => boolean): Promise<void> {
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: SEAWEEDFS_ACCESS_KEY, secretAccessKey: SEAWEEDFS_SECRET_KEY } });
  const bucket = 'datalake-ready-probe';
  const deadline = Date.now() + 120_000;
  try {
    for (;;) {
      if (exited()) throw new Error('weed server exited before answering');
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: { name?: string }) => {
          if (error.name !== 'BucketAlreadyOwnedByYou' && error.name !== 'BucketAlreadyExists') throw error;
        });
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'probe', Body: 'probe' }));
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'probe' }));
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        return;
      } catch {
        // not ready yet
      }
      if (Date.now() > deadline) throw new Error(`SeaweedFS did not accept a write on ${endpoint} within 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    client.destroy();
  }
}
