import { crc32 as zlibCrc32 } from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { expect, inject } from 'vitest';

export const BIN = fileURLToPath(new URL('../../bin/datalake', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** The environment a user would have: the endpoint and credentials of the test server, nothing else of ours. */
export function s3Env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const s3 = inject('s3');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  env.AWS_REGION = s3.region;
  if (s3.endpoint) env.AWS_ENDPOINT_URL = s3.endpoint;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs `bin/datalake` as a user would, with stdin closed unless `input` is given. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: Buffer | string; cwd?: string } = {}): Promise<CliResult> {
  return runCommand(process.execPath, [BIN, ...args], options);
}

/**
 * Runs `bin/datalake` unable to read what permission bits forbid. Root reads a mode-000 folder anyway
 * (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so as root the CLI runs with those two capabilities
 * dropped: still uid 0, owner of the tree and of its state, but held to the permission bits.
 */
export function runCliHeldToPermissions(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  if (process.getuid?.() !== 0) return runCli(args, options);
  const dropped = '-dac_override,-dac_read_search';
  return runCommand('setpriv', ['--bounding-set', dropped, '--inh-caps', dropped, '--', process.execPath, BIN, ...args], options);
}

/** Runs a command (the CLI, or the CLI through another program), its stdout and stderr collected. */
export function runCommand(command: string, argv: string[], options: { env?: NodeJS.ProcessEnv; input?: Buffer | string; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env: options.env ?? s3Env(), cwd: options.cwd ?? tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(stdout);
      resolve({ code, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), stdoutBytes });
    });
    child.stdin.on('error', () => undefined);
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A plain SDK client for the test's own checks: an independent reader of what datalake wrote. */
export function testClient(): S3Client {
  const s3 = inject('s3');
  return new S3Client({
    region: s3.region,
    ...(s3.endpoint ? { endpoint: s3.endpoint, forcePathStyle: true } : {}),
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function createTestBucket(client: S3Client, label: string): Promise<string> {
  const bucket = `dl-test-${label}-${randomBytes(4).toString('hex')}`.toLowerCase().slice(0, 63);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/**
 * The keys under a prefix, exactly: asked URL-encoded (as the AWS CLI asks), since XML 1.0 cannot carry
 * some characters a key may hold (ESC, BEL), which servers otherwise send as U+FFFD or as bytes no XML
 * reader takes. The SDK leaves the decoding to its caller.
 */
export async function listKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, EncodingType: 'url' }));
    const decode = (key: string) => (page.EncodingType === 'url' ? decodeURIComponent(key.replace(/\+/g, ' ')) : key);
    keys.push(...(page.Contents ?? []).map((item) => decode(item.Key ?? '')));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Whether a DeleteObjects body (XML 1.0) can carry the key: ESC, BEL and the like it cannot. */
function xmlCarries(key: string): boolean {
  return !/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u.test(key);
}

export async function emptyAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const keys = await listKeys(client, bucket);
    if (keys.length === 0) break;
    const batched = keys.filter(xmlCarries);
    for (let i = 0; i < batched.length; i += 1000) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batched.slice(i, i + 1000).map((Key) => ({ Key })) } }));
    }
    for (const key of keys.filter((key) => !xmlCarries(key))) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
  try {
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'BucketNotEmpty') throw error;
    // What a listing of current keys does not show: versions, delete markers, incomplete uploads.
    await removeVersionsAndUploads(client, bucket);
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  }
}

async function removeVersionsAndUploads(client: S3Client, bucket: string): Promise<void> {
  const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, EncodingType: 'url' }));
  const decode = (key: string) => (versions.EncodingType === 'url' ? decodeURIComponent(key.replace(/\+/g, ' ')) : key);
  const all = [...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])].map((item) => ({ Key: decode(item.Key ?? ''), VersionId: item.VersionId }));
  const batched = all.filter((item) => xmlCarries(item.Key));
  if (batched.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batched } }));
  for (const item of all.filter((item) => !xmlCarries(item.Key))) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: item.Key, VersionId: item.VersionId }));
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, EncodingType: 'url' }));
  const decodeUpload = (key: string) => (uploads.EncodingType === 'url' ? decodeURIComponent(key.replace(/\+/g, ' ')) : key);
  for (const upload of uploads.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: decodeUpload(upload.Key ?? ''), UploadId: upload.UploadId }));
}

export function tempDirectory(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `datalake-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function writeRandomFile(path: string, size: number): Buffer {
  const data = randomBytes(size);
  writeFileSync(path, data);
  return data;
}

export function lastJson<T = Record<string, unknown>>(result: CliResult): T {
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as T;
}

/** A record of a `--log-file`: pino's fields, and whatever the record carries. */
export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** pino's levels: error and fatal, the records of failures. */
export const LOG_ERROR = 50;
export const LOG_FATAL = 60;

/** The records of a `--log-file`, every line parsed as JSON (a line that is not one fails the test). */
export function logRecords(path: string): LogRecord[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines.pop() !== '') throw new Error(`${path} does not end with a line break`);
  return lines.map((line) => JSON.parse(line) as LogRecord);
}

/**
 * A run that failed as a whole (a missing bucket, refused credentials): one line on stderr, exit 1,
 * `--json`'s `failed` empty (or 0) beside its `error`, and in the log no failed item or transfer at level
 * error, only one record of the run's failure at level fatal, saying what stderr's line says.
 */
export function expectRunFailedAsAWhole(result: CliResult, log: string, line: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const stderr = result.stderr.trim();
  expect(stderr.split('\n')).toHaveLength(1);
  expect(stderr).toMatch(line);
  // `failed` is a list (put, get) or a count (sync): empty or 0.
  const document = JSON.parse(result.stdout) as { failed?: unknown[] | number; error?: { message: string } };
  expect(typeof document.failed === 'number' ? document.failed : (document.failed ?? []).length).toBe(0);
  expect(`datalake: error: ${document.error?.message}`).toBe(stderr);
  const failures = logRecords(log).filter((record) => record.level >= LOG_ERROR);
  expect(failures).toEqual([expect.objectContaining({ level: LOG_FATAL, msg: 'run failed', exitCode: 1, error: document.error?.message })]);
}

/** A client for moto's S3 server: the second implementation, to read back what MinIO does not store. */
export function motoClient(): S3Client {
  const moto = inject('moto');
  return new S3Client({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
}

export function motoEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const moto = inject('moto');
  return s3Env({ AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', ...extra });
}

/** Runs curl as a user would; returns the HTTP status and the body. */
export function curl(args: string[]): { status: number; body: Buffer } {
  const result = spawnSync('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', ...args], { maxBuffer: 1 << 30 });
  const output = result.stdout as Buffer;
  const split = output.lastIndexOf(0x0a);
  return { status: Number(output.subarray(split + 1).toString()), body: output.subarray(0, split) };
}

/** Starts `bin/datalake` and hands back the child, for tests that kill it mid-way. */
export function startCli(args: string[], env: NodeJS.ProcessEnv): { child: ReturnType<typeof spawn>; done: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd: tmpdir(), stdio: ['ignore', 'ignore', 'ignore'] });
  return { child, done: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
}

/** A run of `bin/datalake` watched as it goes, for tests that signal or kill it at a proven moment. */
export interface WatchedRun {
  child: ReturnType<typeof spawn>;
  done: Promise<number | null>;
  /** What it has written on stderr so far. */
  stderr(): string;
  ended(): boolean;
}

/** Starts `bin/datalake` with its stderr read as it comes; `before` wraps the command (a program that runs it). */
export function startWatchedCli(args: string[], env: NodeJS.ProcessEnv, before: string[] = []): WatchedRun {
  const argv = [...before, process.execPath, BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env, cwd: tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let ended = false;
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      ended = true;
      resolve(code);
    }),
  );
  return { child, done, stderr: () => stderr, ended: () => ended };
}

/**
 * Waits until `gate` of the fault proxy holds a request of `run`; a run that ends first fails the
 * test at once (its stderr shown) instead of leaving the wait to time out.
 */
export async function waitUntilHeld(run: WatchedRun, proxy: { held(gate: string): number }, gate: string, what: string): Promise<void> {
  await waitFor(() => proxy.held(gate) >= 1 || run.ended(), what);
  if (proxy.held(gate) < 1) throw new Error(`the run ended before ${what}: ${run.stderr()}`);
}

export async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A CRC32 as S3 shows it (base64 of its four bytes, big-endian), computed independently of datalake. */
export function crc32Base64(data: Uint8Array): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(zlibCrc32(data));
  return bytes.toString('base64');
}

/** Replaces `folder` by a symbolic link to `elsewhere`, the real folder kept aside as `folder.real`. */
export function swapForLink(folder: string, elsewhere: string): void {
  renameSync(folder, `${folder}.real`);
  symlinkSync(elsewhere, folder);
}
